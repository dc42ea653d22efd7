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
        outside,      // the path leads outside the root it must stay beneath
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

// read_file for `relative` beneath the directory `root`, with the kernel's help: openat2 with
// RESOLVE_BENEATH, so no ".." and no symbolic link anywhere in the path can lead outside `root`
// (a link that stays inside is followed); where the kernel has no openat2, each component is
// opened in turn with O_NOFOLLOW and any ".." or link is refused. The file is opened
// non-blocking and checked with fstat on the open descriptor, so a FIFO or a device is refused
// without waiting on it. An absolute `relative` is refused (Kind::outside).
tl::expected<std::string, ReadError> read_file_beneath(const std::filesystem::path& root,
                                                       std::string_view relative,
                                                       std::uint64_t max_bytes);

namespace detail {
// read_file_beneath as it works where the kernel has no openat2 (before Linux 5.6): every link
// is refused, even one that stays inside. For tests; use read_file_beneath.
tl::expected<std::string, ReadError> read_file_beneath_walking(const std::filesystem::path& root,
                                                               std::string_view relative,
                                                               std::uint64_t max_bytes);
}  // namespace detail

// Writes `content` to `path` so that a reader sees the old file or the new one, never half of
// one: a temporary file beside it with an unpredictable name, created exclusively (O_EXCL, so
// never through a link someone left there), fsynced, renamed over `path`, and the directory
// fsynced. Nothing is left behind on failure. The error is a one-line reason with the errno of
// the call that failed ("No space left on device").
tl::expected<void, std::string> write_file_atomically(const std::filesystem::path& path,
                                                      std::string_view content, int mode = 0644);

// write_file_atomically for content that is written in pieces (an export of a million rows):
// the pieces go, buffered, to a temporary file beside `path` ("<path>.tmp.XXXXXX"); commit()
// makes it appear under `path` complete, or not at all. An AtomicFile destroyed before commit()
// (an error, an exception, a stop) removes its temporary file; a process killed outright leaves
// it under its temporary name, never under `path`. Errors are one-line reasons with the errno
// of the call that failed.
class AtomicFile {
public:
    static tl::expected<AtomicFile, std::string> create(const std::filesystem::path& path,
                                                        int mode = 0644);
    AtomicFile(AtomicFile&& other) noexcept;
    AtomicFile& operator=(AtomicFile&&) = delete;
    AtomicFile(const AtomicFile&) = delete;
    AtomicFile& operator=(const AtomicFile&) = delete;
    ~AtomicFile();

    tl::expected<void, std::string> write(std::string_view bytes);
    // Writes what is buffered, fsyncs, renames the file to its name and fsyncs the directory.
    tl::expected<void, std::string> commit();

    const std::filesystem::path& path() const { return m_path; }
    const std::filesystem::path& temporary_path() const { return m_temporary; }
    std::uint64_t size() const { return m_size; }

private:
    AtomicFile(std::filesystem::path path, std::filesystem::path temporary, int fd);
    tl::expected<void, std::string> flush();

    std::filesystem::path m_path;
    std::filesystem::path m_temporary;
    int m_fd = -1;
    std::string m_buffer;
    std::uint64_t m_size = 0;
    bool m_committed = false;
};

}  // namespace eye
