#pragma once

#include <iosfwd>
#include <string>

#include "eye/tasks/monitor/report.hpp"

// The monitor's three outputs: a text table, JSON (design section 2) and a Nagios/Icinga line.
namespace eye::tasks::monitor {

// {"status", "checks": [{"name", "status", "message", "metrics": {}}], "fixes": [{"name",
// "count", ...}]}
std::string report_json(const Report& report, Status overall);

// "EYE WARNING - <messages of the worst checks> | stuck=3;1;10 pending=12;100;1000 ..."
std::string nagios_line(const Report& report, Status overall);

// One row per check, then the repairs and the overall status.
void print_table(std::ostream& out, const Report& report, Status overall);

// The output of a run whose checks did not run, in `format`: a configuration error ("unknown")
// or a run skipped for the lock ("skipped"). Nagios reads it as UNKNOWN either way: a check that
// did not run is never OK. Text prints a status line for a skip only; an error is on stderr.
void print_not_run(std::ostream& out, const std::string& format, Status status,
                   const std::string& reason);

}  // namespace eye::tasks::monitor
