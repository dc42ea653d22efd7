#pragma once

#include <vector>

#include "eye/config/config.hpp"
#include "eye/schedule/schedule.hpp"

namespace eye::tasks {

// The schedule a run reads: the file --schedule (EYE_SCHEDULE) names, else eye's own table.
// Throws ConfigError for a file that cannot be read or parsed.
std::vector<schedule::ScheduledTask> active_schedule(const Config& config);

}  // namespace eye::tasks
