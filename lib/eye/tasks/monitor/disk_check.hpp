#pragma once

#include "eye/config/config.hpp"
#include "eye/tasks/monitor/monitor.hpp"
#include "eye/tasks/monitor/report.hpp"

namespace eye::tasks::monitor {

// Free space where EYE_STATE_DIR is (or its nearest existing parent): warning below --min-free,
// critical below --critical-free, unknown when it cannot be measured.
Check check_disk(const Config& config, const MonitorOptions& options);

}  // namespace eye::tasks::monitor
