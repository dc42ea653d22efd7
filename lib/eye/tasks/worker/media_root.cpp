#include "eye/tasks/worker/media_root.hpp"

#include <fmt/format.h>

namespace eye::tasks {

std::optional<std::string> media_root_problem(const std::filesystem::path& root,
                                              bool expect_files) {
    std::error_code error;
    const auto status = std::filesystem::status(root, error);
    if (!std::filesystem::exists(status)) {
        return fmt::format("the media root '{}' does not exist", root.string());
    }
    if (!std::filesystem::is_directory(status)) {
        return fmt::format("the media root '{}' is not a directory", root.string());
    }
    if (expect_files && std::filesystem::is_empty(root, error) && !error) {
        return fmt::format("the media root '{}' is empty (not mounted?)", root.string());
    }
    return std::nullopt;
}

std::optional<std::string> MissingFiles::failed(const std::string& file_path) {
    std::error_code error;
    if (std::filesystem::symlink_status(m_root / file_path, error).type() !=
        std::filesystem::file_type::not_found) {
        m_in_a_row = 0;  // the file is there: its failure is its own
        return std::nullopt;
    }
    if (auto problem = media_root_problem(m_root, true)) {
        return *problem;
    }
    if (++m_in_a_row >= k_in_a_row) {
        return fmt::format("{} images in a row have no file under the media root '{}'", m_in_a_row,
                           m_root.string());
    }
    return std::nullopt;
}

}  // namespace eye::tasks
