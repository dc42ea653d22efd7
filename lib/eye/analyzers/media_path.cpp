#include "eye/analyzers/media_path.hpp"

#include <regex>

#include <fmt/format.h>

#include "eye/analyzers/analyzer.hpp"

namespace eye::analyzers {
namespace fs = std::filesystem;

namespace {

bool is_inside(const fs::path& root, const fs::path& path) {
    auto root_end = root.end();
    auto it = path.begin();
    for (auto part = root.begin(); part != root_end; ++part, ++it) {
        if (part->empty() && std::next(part) == root_end) {
            break;  // a trailing separator of the root
        }
        if (it == path.end() || *it != *part) {
            return false;
        }
    }
    return true;
}

}  // namespace

fs::path resolve_media_path(const fs::path& root, std::string_view file_path) {
    fs::path relative(file_path);
    if (file_path.empty() || relative.is_absolute()) {
        throw AnalysisError(AnalysisError::Kind::permanent,
                            fmt::format("file_path '{}' is not relative to EYE_MEDIA_ROOT",
                                        std::string(file_path)));
    }
    // no ".." at all, wherever it would lead: what it passes through may be a link, which only
    // the kernel can judge (read_media_file opens beneath the root), and the AI service, which
    // reads the file itself, must not be handed it either
    for (const auto& part : relative) {
        if (part == "..") {
            throw AnalysisError(
                AnalysisError::Kind::permanent,
                fmt::format("file_path '{}' leads outside EYE_MEDIA_ROOT", std::string(file_path)));
        }
    }
    std::error_code error;
    fs::path base = fs::weakly_canonical(root, error);
    fs::path full = fs::weakly_canonical(root / relative, error);
    if (error || !is_inside(base, full)) {
        throw AnalysisError(
            AnalysisError::Kind::permanent,
            fmt::format("file_path '{}' leads outside EYE_MEDIA_ROOT", std::string(file_path)));
    }
    return full;
}

std::string message_for_users(std::string message, const fs::path& media_root,
                              std::string_view shared_prefix) {
    auto strip = [&message](std::string prefix) {
        if (prefix.empty() || prefix == "/") {
            return;
        }
        if (prefix.back() != '/') {
            prefix += '/';
        }
        for (auto at = message.find(prefix); at != std::string::npos;
             at = message.find(prefix, at)) {
            message.erase(at, prefix.size());
        }
    };
    std::error_code error;
    strip(fs::weakly_canonical(media_root, error).string());
    strip(media_root.string());
    strip(std::string(shared_prefix));
    static const std::regex k_origin(R"(https?://[^/\s'"]+)", std::regex::icase);
    return std::regex_replace(message, k_origin, "");
}

std::optional<std::string> relative_to_root(const fs::path& root, const fs::path& file) {
    std::error_code error;
    fs::path base = fs::weakly_canonical(root, error);
    fs::path full = fs::weakly_canonical(file, error);
    if (error || !is_inside(base, full) || full == base) {
        return std::nullopt;
    }
    return full.lexically_relative(base).generic_string();
}

}  // namespace eye::analyzers
