#pragma once

#include <string>

#include "eye/runner/command.hpp"

// schedule:list: every task of the schedule with its expression, its command, when it is next
// due (read on the schedule's time zone) and how its last run went, from eye.runs. A run counts
// for a task when it was of that task with at least the task's arguments, so a manual
// `eye-monitor` does not pass for the scheduled `eye-monitor --fix`.
namespace eye::tasks {

struct ScheduleListOptions {
    std::string format = "text";  // text | json
};

void add_schedule_list_options(CLI::App& app, Config& config, ScheduleListOptions& options);
Outcome run_schedule_list(Context& context, const ScheduleListOptions& options);

}  // namespace eye::tasks
