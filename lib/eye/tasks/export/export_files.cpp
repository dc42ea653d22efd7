#include "eye/tasks/export/export_files.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/log/log.hpp"

namespace eye::tasks {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view k_prefix = "eye-export-";
constexpr std::string_view k_manifest_suffix = ".manifest.json";
constexpr auto k_stale_temporary = std::chrono::hours(24);

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view text, std::string_view suffix) {
    return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

// "eye-export-20261202T010000Z-2" sorts by its time, then by its number (none is 1), so an
// export's place in the history does not depend on how '-' and '.' compare.
struct ExportKey {
    std::string stamp;
    long number = 1;

    static ExportKey of(std::string_view stem) {
        ExportKey key;
        stem.remove_prefix(k_prefix.size());
        auto dash = stem.find('-');
        key.stamp = std::string(stem.substr(0, dash));
        if (dash != std::string_view::npos) {
            key.number = std::strtol(std::string(stem.substr(dash + 1)).c_str(), nullptr, 10);
        }
        return key;
    }

    bool operator<(const ExportKey& other) const {
        return stamp != other.stamp ? stamp < other.stamp : number < other.number;
    }
};

std::string utc_stamp(TimePoint now) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[32];
    std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &utc);
    return buffer;
}

void remove_logged(const fs::path& path, const char* what) {
    std::error_code error;
    if (fs::remove(path, error); error) {
        log::warning("cannot remove {} '{}': {}", what, path.string(), error.message());
    }
}

}  // namespace

ExportNames export_names(const fs::path& dir, TimePoint now, bool avinash) {
    const std::string stamp = utc_stamp(now);
    // an export of the same second gets the next number, above any still there, so that the
    // newest is always the last in the history, even after older ones were pruned
    long number = 0;
    std::error_code error;
    for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
        const std::string name = it->path().filename().string();
        if (starts_with(name, k_prefix) && name.find(".tmp.") == std::string::npos) {
            const auto dot = name.find('.');
            ExportKey key = ExportKey::of(name.substr(0, dot));
            if (key.stamp == stamp) {
                number = std::max(number, key.number);
            }
        }
    }
    std::string stem = fmt::format("{}{}", k_prefix, stamp);
    if (number > 0) {
        stem += fmt::format("-{}", number + 1);
    }
    return {dir / (stem + (avinash ? ".json" : ".jsonl")),
            dir / (stem + std::string(k_manifest_suffix)),
            avinash ? dir / "images_metadata.json" : fs::path()};
}

void prepare_export_dir(const fs::path& dir) {
    std::error_code error;
    fs::create_directories(dir, error);
    if (error || !fs::is_directory(dir)) {
        throw IoError(fmt::format("cannot create the export folder '{}': {}", dir.string(),
                                  error ? error.message() : "not a directory"),
                      "give --output-dir (or EYE_STATE_DIR) a folder eye can write to");
    }
    const auto now = fs::file_time_type::clock::now();
    for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
        const std::string name = it->path().filename().string();
        const bool temporary =
            name.find(".tmp.") != std::string::npos &&
            (starts_with(name, k_prefix) || starts_with(name, "images_metadata"));
        std::error_code time_error;
        auto modified = it->last_write_time(time_error);
        if (temporary && !time_error && now - modified > k_stale_temporary) {
            remove_logged(it->path(), "the leftover of an interrupted export");
        }
    }
}

void prune_exports(const fs::path& dir, long long keep) {
    struct Entry {
        ExportKey key;
        fs::path path;
        bool manifest;
    };
    std::vector<Entry> entries;
    std::error_code error;
    for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
        const std::string name = it->path().filename().string();
        if (!starts_with(name, k_prefix) || name.find(".tmp.") != std::string::npos) {
            continue;
        }
        const bool manifest = ends_with(name, k_manifest_suffix);
        const auto stem = manifest ? name.substr(0, name.size() - k_manifest_suffix.size())
                                   : it->path().stem().string();
        entries.push_back({ExportKey::of(stem), it->path(), manifest});
    }
    std::vector<ExportKey> manifests;
    for (const auto& entry : entries) {
        if (entry.manifest) {
            manifests.push_back(entry.key);
        }
    }
    if (manifests.size() <= static_cast<std::size_t>(keep)) {
        return;
    }
    std::sort(manifests.begin(), manifests.end());
    // everything older than the oldest export kept goes, manifest first: a data file without
    // its manifest is no longer an export anyone would pick
    const ExportKey oldest_kept = manifests[manifests.size() - static_cast<std::size_t>(keep)];
    std::stable_partition(entries.begin(), entries.end(),
                          [](const Entry& entry) { return entry.manifest; });
    int removed = 0;
    for (const auto& entry : entries) {
        if (entry.key < oldest_kept) {
            remove_logged(entry.path, "an old export");
            removed += entry.manifest ? 1 : 0;
        }
    }
    log::info("removed {} old export(s), kept the newest {}", removed, keep);
}

}  // namespace eye::tasks
