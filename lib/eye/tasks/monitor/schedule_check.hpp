#pragma once

#include <string>
#include <vector>

#include "eye/db/session.hpp"
#include "eye/schedule/schedule.hpp"
#include "eye/tasks/monitor/report.hpp"

namespace eye::tasks::monitor {

// Every task of `schedule` but `self_task` (the monitor does not judge itself) and those kept
// running that has run here must have succeeded within twice its longest gap between runs; a
// task never run is not judged. A run counts when it was of the task with at least its
// arguments.
Check check_schedule(db::Session& session, TimePoint now,
                     const std::vector<schedule::ScheduledTask>& schedule,
                     const std::string& self_task);

}  // namespace eye::tasks::monitor
