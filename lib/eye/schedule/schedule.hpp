#pragma once

#include <string>
#include <vector>

// Which task runs when: the one schedule table that the crontab, the Kubernetes CronJobs, the
// systemd timers, `schedule:list`, `schedule:work` and the monitor's schedule check all read.
namespace eye::schedule {

struct ScheduledTask {
    std::string name;        // unique in the table: "monitor"; deployment files call it eye-<name>
    std::string task;        // the task it runs, as eye.runs and the lock name it: "monitor"
    std::string program;     // the executable that runs it: "eye-monitor"
    std::string expression;  // 5-field cron expression: "*/5 * * * *"
    std::vector<std::string> args;  // what the schedule passes: {"--fix"}
};

// The seed schedule of design section 2, in the order it is listed.
const std::vector<ScheduledTask>& seed_schedule();

}  // namespace eye::schedule
