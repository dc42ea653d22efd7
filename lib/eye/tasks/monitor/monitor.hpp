#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "eye/runner/command.hpp"
#include "eye/tasks/monitor/report.hpp"

// eye-monitor (system:monitor): the health checks of design §2, and with --fix the repairs of
// stuck images, stuck jobs and missing Ollama models. Exit 0, 1, 2 or 3 by the worst check.
namespace eye::tasks {

struct MonitorOptions {
    bool fix = false;
    std::string format = "text";  // text | json | nagios
    Milliseconds stuck_after{10 * 60'000};
    Milliseconds heartbeat_timeout{2 * 60'000};
    Milliseconds max_db_latency{500};
    Milliseconds pull_timeout{30 * 60'000};
    long long max_pending = 100;
    long long critical_pending = 1000;
    long long max_failed = 10;
    long long critical_failed = 100;
    long long critical_stuck = 10;
    std::uint64_t min_free = 1024ull * 1024 * 1024;
    std::uint64_t critical_free = 100ull * 1024 * 1024;
};

void add_monitor_options(CLI::App& app, Config& config, MonitorOptions& options);
// The checks (and with options.fix, the repairs) without printing anything: eye serve shows them.
monitor::Report run_monitor_checks(Context& context, const MonitorOptions& options);
Outcome run_monitor(Context& context, const MonitorOptions& options);
// Only a repairing run (--fix, however it was given) takes the monitor's lock.
bool monitor_takes_lock(const MonitorOptions& options);
// A run whose checks did not run still prints its --format's line or document: UNKNOWN for
// Nagios (exit 3), "unknown" or "skipped" in JSON.
std::optional<ExitCode> report_monitor_not_run(std::ostream& out, const MonitorOptions& options,
                                               const NotRun& why);

}  // namespace eye::tasks
