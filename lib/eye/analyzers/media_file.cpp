#include "eye/analyzers/media_file.hpp"

#include <fmt/format.h>

#include "eye/analyzers/analyzer.hpp"
#include "eye/core/file.hpp"

namespace eye::analyzers {

namespace {

[[noreturn]] void throw_read_error(const ReadError& error, const std::string& shown,
                                   std::uint64_t max_bytes) {
    if (error.kind == ReadError::Kind::too_large) {
        throw AnalysisError(AnalysisError::Kind::permanent,
                            fmt::format("image file is too large: {}", error.reason(max_bytes)));
    }
    throw AnalysisError(
        error.transient() ? AnalysisError::Kind::temporary : AnalysisError::Kind::permanent,
        fmt::format("cannot read '{}': {}", shown, error.reason(max_bytes)));
}

}  // namespace

std::string read_media_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
    auto bytes = read_file(path, max_bytes);
    if (!bytes) {
        throw_read_error(bytes.error(), path.string(), max_bytes);
    }
    return std::move(*bytes);
}

std::string read_media_file(const MediaItem& item, std::uint64_t max_bytes) {
    auto bytes = read_file_beneath(item.media_root, item.file_path, max_bytes);
    if (!bytes) {
        if (bytes.error().kind == ReadError::Kind::outside) {
            throw AnalysisError(
                AnalysisError::Kind::permanent,
                fmt::format("file_path '{}' leads outside EYE_MEDIA_ROOT", item.file_path));
        }
        throw_read_error(bytes.error(), item.absolute_path.string(), max_bytes);
    }
    return std::move(*bytes);
}

}  // namespace eye::analyzers
