#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

// Reading an image's bytes for an analysis.
namespace eye::analyzers {

// The whole file at `path`, at most `max_bytes`. Throws AnalysisError: permanent for a file
// that is missing, unreadable, not a regular file ("cannot read '/media/a.jpg': No such file or
// directory") or larger than the limit ("image file is too large: 112525 bytes, the limit is
// 1000 bytes", refused before it is read); temporary for errors a retry may cure (EIO, ESTALE,
// EMFILE, ENOMEM, ...). A file that shrinks while it is read gives what was there, which
// decoding then calls truncated.
std::string read_media_file(const std::filesystem::path& path, std::uint64_t max_bytes);

}  // namespace eye::analyzers
