#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "eye/analyzers/analyzer.hpp"

// Reading an image's bytes for an analysis.
namespace eye::analyzers {

// The whole file at `path`, at most `max_bytes`. Throws AnalysisError: permanent for a file
// that is missing, unreadable, not a regular file ("cannot read '/media/a.jpg': No such file or
// directory") or larger than the limit ("image file is too large: 112525 bytes, the limit is
// 1000 bytes", refused before it is read); temporary for errors a retry may cure (EIO, ESTALE,
// EMFILE, ENOMEM, ...). A file that shrinks while it is read gives what was there, which
// decoding then calls truncated.
std::string read_media_file(const std::filesystem::path& path, std::uint64_t max_bytes);

// The image of `item`, opened beneath its media root with the kernel's help (read_file_beneath):
// a ".." or a symbolic link anywhere in file_path that leads outside the root is refused for
// good ("file_path 'a/../link/x.png' leads outside EYE_MEDIA_ROOT"), as is a FIFO or a device,
// without waiting on it. Otherwise as read_media_file.
std::string read_media_file(const MediaItem& item, std::uint64_t max_bytes);

}  // namespace eye::analyzers
