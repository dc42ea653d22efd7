#include "eye/analyzers/media_file.hpp"

#include <fmt/format.h>

#include "eye/analyzers/analyzer.hpp"
#include "eye/core/file.hpp"

namespace eye::analyzers {

std::string read_media_file(const std::filesystem::path& path, std::uint64_t max_bytes) {
    auto bytes = read_file(path, max_bytes);
    if (bytes) {
        return std::move(*bytes);
    }
    const ReadError& error = bytes.error();
    if (error.kind == ReadError::Kind::too_large) {
        throw AnalysisError(AnalysisError::Kind::permanent,
                            fmt::format("image file is too large: {}", error.reason(max_bytes)));
    }
    throw AnalysisError(
        error.transient() ? AnalysisError::Kind::temporary : AnalysisError::Kind::permanent,
        fmt::format("cannot read '{}': {}", path.string(), error.reason(max_bytes)));
}

}  // namespace eye::analyzers
