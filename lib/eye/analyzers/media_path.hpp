#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

// Where an image lives: media_files.file_path is relative to EYE_MEDIA_ROOT, and no path may
// lead outside it, however it is spelt ("..", an absolute path, a symbolic link).
namespace eye::analyzers {

// The absolute path of `file_path` under `root`. Throws a permanent AnalysisError when it is
// absolute or escapes the root once ".." and symbolic links are resolved.
std::filesystem::path resolve_media_path(const std::filesystem::path& root,
                                         std::string_view file_path);

// `message` without what is internal to this installation, for media_files.processing_error,
// which the application shows its users: a path under `media_root`, or under the AI service's
// `shared_prefix`, becomes relative to it ("images/a.jpg"), and a URL keeps only its path
// ("POST http://python-ai:8000/analyze-image" becomes "POST /analyze-image").
std::string message_for_users(std::string message, const std::filesystem::path& media_root,
                              std::string_view shared_prefix);

// `file` relative to `root` (both resolved), or nullopt when it lies outside.
std::optional<std::string> relative_to_root(const std::filesystem::path& root,
                                            const std::filesystem::path& file);

}  // namespace eye::analyzers
