#include "eye/runner/runner.hpp"
#include "eye/tasks/migrate.hpp"
#include "eye/tasks/monitor.hpp"

namespace eye {

// The one command table: `eye list`, --help, the small executables, the crontab, the Kubernetes
// manifests and the docs are all read off it. Adding a task is one row plus its file.
const std::vector<Command>& commands() {
    using Database = CommandTraits::Database;
    static const std::vector<Command> k_commands = {
        {"system:monitor", "eye-monitor", "monitor", "health checks; --fix repairs what is stuck",
         "Checks the database, the AI service, Ollama, the queue, stuck images and jobs, the "
         "workers, the schedule and the disk. Exits 0 (ok), 1 (warning), 2 (critical) or 3 "
         "(unknown) by the worst check, as Nagios and Icinga expect.",
         "*/5 * * * *", "--fix", CommandTraits{Database::optional, false, true, true, true},
         make_task<tasks::MonitorOptions>(tasks::add_monitor_options, tasks::run_monitor)},
        {"db:migrate", "", "db:migrate", "create or upgrade the database schema (idempotent)",
         "Creates schema eye and its tables, and media_files when the database has none "
         "(standalone use). An existing Avinash-EYE media_files keeps its columns and rows; "
         "eye only adds its own indexes to it.",
         "", "", CommandTraits{Database::required, false, false, true, true},
         make_task<tasks::MigrateOptions>(tasks::add_migrate_options, tasks::run_migrate)},
    };
    return k_commands;
}

}  // namespace eye
