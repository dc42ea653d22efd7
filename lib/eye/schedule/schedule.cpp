#include "eye/schedule/schedule.hpp"

namespace eye::schedule {

const std::vector<ScheduledTask>& seed_schedule() {
    static const std::vector<ScheduledTask> k_schedule = {
        {"monitor", "monitor", "eye-monitor", "*/5 * * * *", {"--fix"}},
        {"reanalyze",
         "reanalyze",
         "eye-reanalyze",
         "0 */6 * * *",
         {"--batch=25", "--priority=oldest"}},
        {"cleanup", "cleanup", "eye-cleanup", "0 3 * * 0", {"--hours=168"}},
    };
    return k_schedule;
}

}  // namespace eye::schedule
