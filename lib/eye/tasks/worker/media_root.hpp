#pragma once

#include <filesystem>
#include <optional>
#include <string>

// The media root as the worker sees it: a folder that must be there before any image is read,
// and that can vanish mid-run (a network mount dropped), when missing files say nothing about
// the images themselves.
namespace eye::tasks {

// Why `root` cannot be the media root: it does not exist or is not a directory, or, when files
// were expected in it (`expect_files`), it is empty (an unmounted mount point); nullopt when it
// looks like a library. An empty root is fine before the first import.
std::optional<std::string> media_root_problem(const std::filesystem::path& root, bool expect_files);

// Counts images whose file is missing in a row. A few in a row, or any once the media root
// itself looks gone, mean the files went away, not the images: the worker stops (74) and gives
// the job back instead of failing the library image by image.
class MissingFiles {
public:
    static constexpr int k_in_a_row = 5;

    explicit MissingFiles(std::filesystem::path root) : m_root(std::move(root)) {}

    // After a permanent failure of the image at `file_path`: the reason to stop the worker, or
    // nullopt (the file is there, or a missing file is this image's own problem).
    std::optional<std::string> failed(const std::string& file_path);
    void succeeded() { m_in_a_row = 0; }

private:
    std::filesystem::path m_root;
    int m_in_a_row = 0;
};

}  // namespace eye::tasks
