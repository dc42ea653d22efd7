#include "eye/tasks/monitor/disk_check.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sys/statvfs.h>

#include <fmt/format.h>

namespace eye::tasks::monitor {

Check check_disk(const Config& config, const MonitorOptions& options) {
    namespace fs = std::filesystem;
    fs::path where = config.state_dir;
    std::string note;
    std::error_code error;
    while (!where.empty() && !fs::exists(where, error) && where != where.parent_path()) {
        where = where.parent_path();
    }
    if (where != config.state_dir) {
        note = fmt::format(" (EYE_STATE_DIR '{}' does not exist yet)", config.state_dir.string());
    }
    struct statvfs info {};
    if (where.empty() || statvfs(where.c_str(), &info) != 0) {
        return make_check("disk", Status::unknown,
                          fmt::format("cannot measure free space at '{}': {}", where.string(),
                                      std::strerror(errno)));
    }
    auto free = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
    auto total = static_cast<std::uint64_t>(info.f_blocks) * info.f_frsize;
    Check check{"disk"};
    check.metrics.push_back(perf_floor("disk_free_bytes", static_cast<std::int64_t>(free),
                                       static_cast<double>(options.min_free),
                                       static_cast<double>(options.critical_free)));
    check.metrics.push_back(number("disk_total_bytes", static_cast<std::int64_t>(total)));
    double percent =
        total == 0 ? 0.0 : 100.0 * static_cast<double>(free) / static_cast<double>(total);
    check.message = fmt::format("{} free at '{}' ({:.0f}%){}", format_size(free), where.string(),
                                percent, note);
    if (free < options.critical_free) {
        check.status = Status::critical;
    } else if (free < options.min_free) {
        check.status = Status::warning;
    }
    if (check.status != Status::ok) {
        check.message += fmt::format(
            "; below {}; hint: free space or move EYE_STATE_DIR",
            format_size(free < options.critical_free ? options.critical_free : options.min_free));
    }
    return check;
}
}  // namespace eye::tasks::monitor
