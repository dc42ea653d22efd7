#pragma once

#include "eye/runner/command.hpp"

// schedule:work: the foreground scheduler for a container. It runs each task of the schedule as
// a child process when it is due (read on the schedule's time zone), never two runs of one task
// at once: a run still going when the next is due is skipped and logged. Missed times are not
// caught up. With --workers N it also keeps N eye-worker children running, restarting one that
// ends (after a pause that grows while they keep ending quickly). SIGTERM or SIGINT is passed on
// to every child; it exits once they are done, or kills what is left after --grace. Every start,
// skip and end is one log line, with the exit code and the duration.
namespace eye::tasks {

struct ScheduleWorkOptions {
    long long workers = 0;
    Milliseconds grace{45'000};  // after SIGTERM, how long the children may take
};

void add_schedule_work_options(CLI::App& app, Config& config, ScheduleWorkOptions& options);
Outcome run_schedule_work(Context& context, const ScheduleWorkOptions& options);

}  // namespace eye::tasks
