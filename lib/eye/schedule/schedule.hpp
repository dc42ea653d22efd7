#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "eye/core/units.hpp"
#include "eye/schedule/cron.hpp"

// Which task runs when: the one schedule table that the crontab, the Kubernetes CronJobs, the
// systemd timers, the compose file, `schedule:list`, `schedule:work` and the monitor's schedule
// check all read.
namespace eye::schedule {

struct ScheduledTask {
    std::string name;        // unique in the table: "monitor"; deployment files call it eye-<name>
    std::string task;        // the task it runs, as eye.runs and the lock name it: "monitor"
    std::string program;     // the executable that runs it: "eye-monitor"
    std::string expression;  // 5-field cron expression; empty for a task kept running (the worker)
    std::vector<std::string> args;  // what the schedule passes: {"--fix"}
    std::string summary;            // one line for comments and descriptions
    // How long one run may take before a deployment gives up on it (Kubernetes
    // activeDeadlineSeconds, systemd TimeoutStartSec), how late it may still start
    // (startingDeadlineSeconds), and how far to spread its start (systemd RandomizedDelaySec)
    // so that many hosts do not all start at once.
    Milliseconds deadline{0};
    Milliseconds start_window{0};
    Milliseconds spread{0};

    bool long_running() const { return expression.empty(); }
    // "eye-monitor --fix"
    std::string command_line() const;
};

// The seed schedule of design section 2, in its order, then the worker: monitor, export, train,
// reanalyze, reanalyze-failed (the failed analyses retried hourly), cleanup, worker.
const std::vector<ScheduledTask>& seed_schedule();

// A schedule read from a file, one task per line, in the format schedule:export --format=table
// prints: NAME EXPRESSION PROGRAM [ARGS...], where EXPRESSION is five fields or one macro
// (@hourly) and "@always" marks a task kept running; blank lines and lines starting with '#'
// are skipped. Deadlines come from the seed task of the same program (or one hour). The error
// names the line and what is wrong with it.
tl::expected<std::vector<ScheduledTask>, std::string> read_schedule(std::string_view text);
tl::expected<std::vector<ScheduledTask>, std::string> load_schedule(
    const std::filesystem::path& file);

// Which runs in eye.runs belong to `entry`, as a JSON array for `args @> $1::jsonb`: "[]" (every
// run of its task) when no other entry runs the same task, else the arguments of `entry` that
// the others of its task do not share ("--priority=failed"), so that the hourly retry of failed
// analyses and the six-hourly re-analysis are told apart.
std::string run_args_filter(const std::vector<ScheduledTask>& tasks, const ScheduledTask& entry);

// The table in read_schedule()'s format, with a header comment.
std::string schedule_table(const std::vector<ScheduledTask>& tasks);

// Makes `name` ("Europe/Berlin", "UTC") the process's local time zone (TZ and tzset), which
// schedules are read on. Refuses a name the system has no zone file for, since the C library
// would silently take it for UTC. The error is one line.
tl::expected<void, std::string> use_time_zone(const std::string& name);

// The zone schedules are read on now: $TZ without a leading ':', else the system's zone as
// /etc/localtime names it ("Etc/UTC").
std::string time_zone_name();

}  // namespace eye::schedule
