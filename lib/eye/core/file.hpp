#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

// Reading and writing whole files, the one way eye does it.
namespace eye {

// Why read_file gave up.
struct ReadError {
    enum class Kind {
        system,       // open, fstat or read failed: error_number says why
        not_regular,  // a directory, a device, a FIFO
        too_large,    // larger than the caller's limit: size says how large
    };
    Kind kind = Kind::system;
    int error_number = 0;
    std::uint64_t size = 0;

    // "No such file or directory", "not a regular file", "112525 bytes, the limit is 1000 bytes"
    std::string reason(std::uint64_t limit) const;
    // A retry later may succeed: out of descriptors or memory, an I/O error or a network mount
    // that timed out say nothing about the file itself.
    bool transient() const;
};

// The whole content of the regular file at `path`, refused before reading when it is larger
// than `max_bytes`. A file that shrinks while it is read gives what was there.
tl::expected<std::string, ReadError> read_file(const std::filesystem::path& path,
                                               std::uint64_t max_bytes);

// Writes `content` to `path` so that a reader sees the old file or the new one, never half of
// one: a temporary file beside it with an unpredictable name, created exclusively (O_EXCL, so
// never through a link someone left there), fsynced, renamed over `path`, and the directory
// fsynced. Nothing is left behind on failure. The error is a one-line reason with the errno of
// the call that failed ("No space left on device").
tl::expected<void, std::string> write_file_atomically(const std::filesystem::path& path,
                                                      std::string_view content, int mode = 0644);

}  // namespace eye
