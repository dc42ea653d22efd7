#include <fmt/format.h>

#include "eye/schedule/export.hpp"

namespace eye::schedule {

std::vector<ExportedFile> export_crontab(const std::vector<ScheduledTask>& tasks,
                                         const ExportOptions& options) {
    std::string out = fmt::format(
        "# eye's schedule for cron. Install it as /etc/cron.d/eye (owned by root, mode 644).\n"
        "# Written by `eye schedule:export --format=crontab`: change the schedule there, not "
        "here.\n"
        "# The programs read their settings (database URL, AI service, ...) from\n"
        "# /etc/eye/eye.conf, so no secret is written here; cron reads the times on the\n"
        "# system's time zone. A run's log lines go to syslog (journalctl -t eye-<task>); its\n"
        "# report is in eye.runs (eye schedule:list). Tasks kept running (eye-worker) are not\n"
        "# cron's: run them under systemd (crontab/systemd/) or another supervisor.\n"
        "SHELL=/bin/sh\n"
        "PATH={}:/usr/bin:/bin\n",
        options.bindir);
    for (const auto& task : tasks) {
        if (task.long_running()) {
            continue;
        }
        out += fmt::format("\n# {}: {}\n{} {} {}/{} 2>&1 >/dev/null | logger -t {}\n", task.name,
                           task.summary, task.expression, options.user, options.bindir,
                           task.command_line(), task.program);
    }
    return {{"eye.crontab", out}};
}

}  // namespace eye::schedule
