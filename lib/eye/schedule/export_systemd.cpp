#include <bitset>
#include <chrono>

#include <fmt/format.h>

#include "eye/schedule/export.hpp"

namespace eye::schedule {
namespace {

constexpr const char* k_weekdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

// The values set in `bits` from `low` to `high` in OnCalendar's notation: "*" for all, a
// repetition "00/5" where the values step evenly from the first to the end, else a comma list
// of values and ranges ("1,15", "1..5").
template <std::size_t N>
std::string calendar_values(const std::bitset<N>& bits, int low, int high, int width) {
    std::vector<int> values;
    for (int v = low; v <= high; ++v) {
        if (bits[static_cast<std::size_t>(v)]) {
            values.push_back(v);
        }
    }
    if (static_cast<int>(values.size()) == high - low + 1) {
        return "*";
    }
    auto number = [width](int v) { return fmt::format("{:0{}}", v, width); };
    if (values.size() > 2) {
        int step = values[1] - values[0];
        bool even = step > 1;
        for (std::size_t i = 1; i < values.size() && even; ++i) {
            even = values[i] - values[i - 1] == step;
        }
        // a repetition runs on to the end of the field, so it must reach as far as it can
        if (even && values.back() + step > high) {
            return fmt::format("{}/{}", number(values.front()), step);
        }
    }
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < values.size();) {
        std::size_t j = i;
        while (j + 1 < values.size() && values[j + 1] == values[j] + 1) {
            ++j;
        }
        if (j >= i + 2) {
            parts.push_back(number(values[i]) + ".." + number(values[j]));
        } else {
            for (std::size_t k = i; k <= j; ++k) {
                parts.push_back(number(values[k]));
            }
        }
        i = j + 1;
    }
    return fmt::format("{}", fmt::join(parts, ","));
}

std::string weekdays(const std::bitset<7>& days) {
    if (days.all()) {
        return "";
    }
    std::vector<std::string> names;
    for (int d = 0; d < 7; ++d) {
        if (days[static_cast<std::size_t>(d)]) {
            names.emplace_back(k_weekdays[d]);
        }
    }
    return fmt::format("{} ", fmt::join(names, ","));
}

long long seconds(Milliseconds value) {
    return std::chrono::duration_cast<std::chrono::seconds>(value).count();
}

// Runs as a user systemd makes up for the run, sees the file system read-only but for its state
// directory, and has no privileges to gain.
constexpr const char* k_hardening =
    "DynamicUser=yes\n"
    "User=eye\n"
    "Group=eye\n"
    "StateDirectory=eye\n"
    "ConfigurationDirectory=eye\n"
    "EnvironmentFile=-/etc/eye/eye.env\n"
    "Environment=EYE_STATE_DIR=/var/lib/eye\n"
    "ProtectSystem=strict\n"
    "ReadWritePaths=/var/lib/eye\n"
    "ProtectHome=read-only\n"
    "PrivateTmp=yes\n"
    "PrivateDevices=yes\n"
    "NoNewPrivileges=yes\n"
    "CapabilityBoundingSet=\n"
    "ProtectKernelTunables=yes\n"
    "ProtectKernelModules=yes\n"
    "ProtectKernelLogs=yes\n"
    "ProtectControlGroups=yes\n"
    "ProtectClock=yes\n"
    "ProtectHostname=yes\n"
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n"
    "RestrictNamespaces=yes\n"
    "RestrictRealtime=yes\n"
    "RestrictSUIDSGID=yes\n"
    "LockPersonality=yes\n"
    "MemoryDenyWriteExecute=yes\n"
    "SystemCallArchitectures=native\n"
    "UMask=0027\n";

constexpr const char* k_header =
    "# Written by `eye schedule:export --format=systemd`: change the schedule there, not here.\n"
    "# Settings come from /etc/eye/eye.conf (or EYE_* variables in /etc/eye/eye.env).\n";

}  // namespace

std::vector<std::string> systemd_calendar(const CronExpression& cron) {
    const auto& f = cron.fields();
    std::string time = fmt::format("{}:{}:00", calendar_values(f.hours, 0, 23, 2),
                                   calendar_values(f.minutes, 0, 59, 2));
    std::string months = calendar_values(f.months, 1, 12, 2);
    std::string days = calendar_values(f.days_of_month, 1, 31, 2);
    auto spec = [&](const std::string& dow, const std::string& dom) {
        return fmt::format("{}*-{}-{} {}", dow, months, dom, time);
    };
    if (f.either_day_field) {
        return {spec("", days), spec(weekdays(f.days_of_week), "*")};
    }
    return {spec(weekdays(f.days_of_week), days)};
}

std::vector<ExportedFile> export_systemd(const std::vector<ScheduledTask>& tasks,
                                         const ExportOptions& options) {
    std::vector<ExportedFile> files;
    for (const auto& task : tasks) {
        std::string unit = "eye-" + task.name;
        std::string service = fmt::format(
            "{}[Unit]\nDescription=eye: {} ({})\nWants=network-online.target\n"
            "After=network-online.target postgresql.service\n\n[Service]\n",
            k_header, task.summary, task.command_line());
        if (task.long_running()) {
            service += fmt::format(
                "Type=exec\nExecStart={}/{}\nRestart=always\nRestartSec=5s\n"
                "# the worker finishes or gives back its jobs within --grace (30s) of SIGTERM\n"
                "TimeoutStopSec=60s\n",
                options.bindir, task.command_line());
        } else {
            service += fmt::format("Type=oneshot\nExecStart={}/{}\nTimeoutStartSec={}s\n",
                                   options.bindir, task.command_line(), seconds(task.deadline));
        }
        service += k_hardening;
        if (task.long_running()) {
            service += "\n[Install]\nWantedBy=multi-user.target\n";
        }
        files.push_back({unit + ".service", service});
        if (task.long_running()) {
            continue;
        }
        auto cron = CronExpression::parse(task.expression);
        std::string timer =
            fmt::format("{}[Unit]\nDescription=eye: run {} on its schedule ({})\n\n[Timer]\n",
                        k_header, unit, task.expression);
        for (const auto& calendar : systemd_calendar(*cron)) {
            timer += fmt::format("OnCalendar={}\n", calendar);
        }
        // a run missed while the machine was off is not made up for: the next one comes soon
        timer += "Persistent=false\nAccuracySec=1s\n";
        if (task.spread.count() > 0) {
            timer += fmt::format("RandomizedDelaySec={}s\n", seconds(task.spread));
        }
        timer += "\n[Install]\nWantedBy=timers.target\n";
        files.push_back({unit + ".timer", timer});
    }
    // the status page: not a scheduled task, a service beside them
    files.push_back(
        {"eye-serve.service",
         fmt::format(
             "{}[Unit]\nDescription=eye: the status page, /metrics and /healthz (eye serve)\n"
             "Wants=network-online.target\n"
             "After=network-online.target postgresql.service\n\n[Service]\n"
             "# on 127.0.0.1:8090 (EYE_LISTEN); any other address needs EYE_SERVE_TOKEN "
             "in /etc/eye/eye.env\n"
             "Type=exec\nExecStart={}/eye serve\nRestart=always\nRestartSec=5s\n{}"
             "\n[Install]\nWantedBy=multi-user.target\n",
             k_header, options.bindir, k_hardening)});
    return files;
}

}  // namespace eye::schedule
