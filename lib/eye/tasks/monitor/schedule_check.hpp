#pragma once

#include <string>

#include "eye/db/session.hpp"
#include "eye/tasks/monitor/report.hpp"

namespace eye::tasks::monitor {

// Every scheduled task but `self_task` (the monitor does not judge itself) that has run here must
// have succeeded within twice its longest gap between runs; a task never run is not judged.
Check check_schedule(db::Session& session, TimePoint now, const std::string& self_task);

}  // namespace eye::tasks::monitor
