#include "eye/tasks/schedule/table.hpp"

#include "eye/core/error.hpp"

namespace eye::tasks {

std::vector<schedule::ScheduledTask> active_schedule(const Config& config) {
    if (config.schedule_file.empty()) {
        return schedule::seed_schedule();
    }
    auto tasks = schedule::load_schedule(config.schedule_file);
    if (!tasks) {
        throw ConfigError(tasks.error(),
                          "fix the file, or unset EYE_SCHEDULE to use eye's own schedule");
    }
    return std::move(*tasks);
}

}  // namespace eye::tasks
