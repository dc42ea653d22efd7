#include "eye/commands/commands.hpp"

#include <iostream>

#include <fmt/format.h>

#include "eye/runner/runner.hpp"
#include "eye/runner/umbrella.hpp"
#include "eye/schedule/schedule.hpp"
#include "eye/tasks/cleanup.hpp"
#include "eye/tasks/export/export.hpp"
#include "eye/tasks/import.hpp"
#include "eye/tasks/media_list.hpp"
#include "eye/tasks/media_show.hpp"
#include "eye/tasks/migrate.hpp"
#include "eye/tasks/monitor/monitor.hpp"
#include "eye/tasks/queue_failed.hpp"
#include "eye/tasks/queue_retry.hpp"
#include "eye/tasks/reanalyze.hpp"
#include "eye/tasks/schedule/export.hpp"
#include "eye/tasks/schedule/list.hpp"
#include "eye/tasks/schedule/work.hpp"
#include "eye/tasks/serve/serve.hpp"
#include "eye/tasks/train/train.hpp"
#include "eye/tasks/worker/worker.hpp"

namespace eye {

const std::vector<Command>& commands() {
    using Database = CommandTraits::Database;
    using Schema = CommandTraits::Schema;
    using Lock = CommandTraits::Lock;
    using Record = CommandTraits::Record;
    using DryRun = CommandTraits::DryRun;
    static const std::vector<Command> k_commands = {
        {"system:monitor",
         "eye-monitor",
         "monitor",
         "health checks; --fix repairs what is stuck",
         "Checks the database, the AI service, Ollama, the queue, stuck images and jobs, the "
         "workers, the schedule and the disk. Exits 0 (ok), 1 (warning), 2 (critical) or 3 "
         "(unknown) by the worst check, as Nagios and Icinga expect.",
         {Database::optional, Schema::any, Lock::per_task, Record::yes, DryRun::offered},
         make_task<tasks::MonitorOptions>({tasks::add_monitor_options, tasks::run_monitor, nullptr,
                                           tasks::monitor_takes_lock,
                                           tasks::report_monitor_not_run})},
        {"export:training-data",
         "eye-export",
         "export",
         "export the newest completed images as training data",
         "Writes the newest --limit completed images, with their embeddings, tags, descriptions "
         "and faces, as JSON Lines (or, with --format=avinash, the JSON array upstream's "
         "train_model.py reads, also as images_metadata.json) and a manifest beside it with "
         "the count and sha256. Each file appears under its name complete or not at all; the "
         "newest --keep exports are kept. An empty library is nothing to export (exit 0); a "
         "folder that cannot be written exits 74.",
         {Database::required, Schema::current, Lock::per_task, Record::yes, DryRun::offered},
         make_task<tasks::ExportOptions>({tasks::add_export_options, tasks::run_export})},
        {"ai:auto-train",
         "eye-train",
         "train",
         "train when enough new images arrived, --min-images=50, --force",
         "Trains when at least --min-images completed images were added since the last "
         "successful training (all count on the first run) and at least --min-total exist, or "
         "with --force: exports the newest --limit images, runs the trainer (EYE_TRAINER: "
         "builtin, http or command) within --timeout, and records the version in eye.models "
         "with its held-out precision and recall. A builtin version that does worse than the "
         "current one on the same held-out images is recorded but not made current. A failed "
         "training exits 1 and leaves the threshold clock where it was.",
         {Database::required, Schema::current, Lock::per_task, Record::yes, DryRun::offered},
         make_task<tasks::TrainOptions>({tasks::add_train_options, tasks::run_train})},
        {"queue:prune-failed",
         "eye-cleanup",
         "cleanup",
         "prune failed jobs older than --hours and other history",
         "Deletes eye.failed_jobs (and Laravel's failed_jobs, where it exists) older than "
         "--hours, completed queue jobs, old run records and dead worker records, in batches "
         "of --batch-size rows, each its own short transaction, so no lock is held for long. "
         "On SIGTERM it finishes the batch in hand and exits 75; the next run deletes the "
         "rest.",
         {Database::required, Schema::current, Lock::per_task, Record::yes, DryRun::offered},
         make_task<tasks::CleanupOptions>({tasks::add_cleanup_options, tasks::run_cleanup})},
        {"ai:auto-reanalyze",
         "eye-reanalyze",
         "reanalyze",
         "queue a batch of images for re-analysis, by a priority",
         "Picks --batch images by --priority among live rows of --media-type that have no "
         "queued or running job, and queues them in one statement behind new images. "
         "--dry-run lists them instead.",
         {Database::required, Schema::current, Lock::per_task, Record::yes, DryRun::offered},
         make_task<tasks::ReanalyzeOptions>({tasks::add_reanalyze_options, tasks::run_reanalyze})},
        {"queue:work",
         "eye-worker",
         "worker",
         "process analysis jobs from the queue",
         "Claims jobs from eye.jobs and analyzes their images with the configured analyzer "
         "(builtin, avinash or ollama), writing every result in one transaction per job. Stops "
         "after --max-jobs or --max-time (0 = no limit), or with --stop-when-empty; on SIGTERM "
         "it claims nothing more and finishes the jobs in hand within --grace, or gives them "
         "back. Run it under a supervisor that restarts it.",
         {Database::required, Schema::current, Lock::none, Record::yes, DryRun::no},
         make_task<tasks::WorkerOptions>(
             {tasks::add_worker_options, tasks::run_worker, tasks::validate_worker_options})},
        {"media:import",
         "",
         "media:import",
         "register image files and queue their analysis",
         "Registers image files (JPEG, PNG, WebP, GIF, HEIC, AVIF, TIFF, recognized by their "
         "content whatever their names; directories are searched recursively) under "
         "EYE_MEDIA_ROOT as media_files rows, with file_path relative to the root, and queues "
         "one analysis job for each. A file whose content is registered already is skipped.",
         {Database::required, Schema::current, Lock::per_task, Record::yes, DryRun::offered},
         make_task<tasks::ImportOptions>({tasks::add_import_options, tasks::run_import})},
        {"media:show",
         "",
         "media:show",
         "one image: its row, its analysis and its jobs, by id or path",
         "Shows one media_files row as eye sees it (every column the table has and the role may "
         "read; the embedding by its length), its analysis in eye.media_state (analyzer, model "
         "version, failures, predicted tags) and its jobs in eye.jobs and eye.failed_jobs, "
         "newest first. An argument of digits is an id (soft-deleted rows too); anything else "
         "is a path, matched against file_path as given and relative to EYE_MEDIA_ROOT, among "
         "live rows. No such image exits 1, as queue:retry does for an unknown id.",
         {Database::required, Schema::current, Lock::none, Record::no, DryRun::no},
         make_task<tasks::MediaShowOptions>(
             {tasks::add_media_show_options, tasks::run_media_show})},
        {"media:list",
         "",
         "media:list",
         "list images by --status, most recent first",
         "Lists live images with a --status (all by default), at most --limit, each on one line: "
         "id, status, analyzer and model version (eye.media_state), updated_at and file_path, "
         "and for a failed image its processing_error (cut short; whole with --format=json). "
         "Pending, completed and all are listed by id, newest first; failed by updated_at and "
         "processing by when their analysis started, most recent first: orders eye's indexes "
         "on media_files hold, so no list scans the table. Whether more exist is told by "
         "reading one row more, not by counting.",
         {Database::required, Schema::current, Lock::none, Record::no, DryRun::no},
         make_task<tasks::MediaListOptions>(
             {tasks::add_media_list_options, tasks::run_media_list})},
        {"queue:failed",
         "",
         "queue:failed",
         "list the jobs that failed for good",
         "",
         {Database::required, Schema::current, Lock::none, Record::no, DryRun::no},
         make_task<tasks::QueueFailedOptions>(
             {tasks::add_queue_failed_options, tasks::run_queue_failed})},
        {"queue:retry",
         "",
         "queue:retry",
         "put failed jobs back in the queue: ID... or all, or --media IMAGE_ID",
         "Takes the FAILED IDs 'eye queue:failed' lists (not the job ids the worker logs, not "
         "image ids), or 'all'; --media takes image ids and retries their failed jobs, or "
         "queues a new analysis for an image without one. An id that matches nothing exits 1, "
         "saying what the id is instead.",
         {Database::required, Schema::current, Lock::none, Record::yes, DryRun::offered},
         make_task<tasks::QueueRetryOptions>({tasks::add_queue_retry_options,
                                              tasks::run_queue_retry,
                                              tasks::validate_queue_retry})},
        {"schedule:list",
         "",
         "schedule:list",
         "the schedule: each task's next due time and how its last run went",
         "Lists every task of the schedule with its cron expression, its command, when it is "
         "next due (on the schedule's time zone) and its last run from eye.runs, and whether one "
         "is running now. Without a database it still lists the schedule, and exits 75.",
         {Database::optional, Schema::any, Lock::none, Record::no, DryRun::no},
         make_task<tasks::ScheduleListOptions>(
             {tasks::add_schedule_list_options, tasks::run_schedule_list})},
        {"schedule:work",
         "",
         "schedule:work",
         "run the schedule in the foreground (a container's entry point)",
         "Starts each task as a child process when it is due, never two runs of one task at "
         "once (a run still going when the next is due is skipped and logged), and catches up "
         "nothing it missed. --workers N also keeps N eye-worker processes running, restarted "
         "when they end. SIGTERM is passed on to the children; it exits once they are done.",
         {Database::none, Schema::any, Lock::none, Record::no, DryRun::no},
         make_task<tasks::ScheduleWorkOptions>(
             {tasks::add_schedule_work_options, tasks::run_schedule_work})},
        {"schedule:export",
         "",
         "schedule:export",
         "print the crontab, Kubernetes, systemd or compose files of the schedule",
         "Writes the deployment files from the schedule: an /etc/cron.d file, Kubernetes "
         "CronJobs and a worker Deployment, systemd services and timers, or a compose file for "
         "an Avinash-EYE stack. The files under crontab/ in eye's source are its output with "
         "the defaults.",
         {Database::none, Schema::any, Lock::none, Record::no, DryRun::no},
         make_task<tasks::ScheduleExportOptions>({tasks::add_schedule_export_options,
                                                  tasks::run_schedule_export,
                                                  tasks::validate_schedule_export_options})},
        {"serve",
         "",
         "serve",
         "a status page, /api/status, /metrics and /healthz over HTTP, --listen",
         "Serves one page with the monitor's checks (read-only: serve never repairs), the "
         "queue, the library by status, by analyzer and model version, how many images are "
         "missing an analysis or outdated (against the analyzer and model version the worker "
         "would use: --analyzer and the AI settings), the schedule with its last runs, the "
         "workers and the last 50 failed jobs; the same as JSON at /api/status, Prometheus "
         "metrics at /metrics and a probe at /healthz. Two read-only database sessions: one "
         "snapshot per --refresh however many clients, and the slow library counts in the "
         "background, at most once per --refresh. Off loopback every path but /healthz "
         "needs EYE_SERVE_TOKEN (Authorization: Bearer, or the login form's cookie); without "
         "one it refuses to start (78). Runs until SIGTERM.",
         {Database::none, Schema::any, Lock::none, Record::no, DryRun::no},
         make_task<tasks::ServeOptions>(
             {tasks::add_serve_options, tasks::run_serve, tasks::validate_serve})},
        {"db:migrate",
         "",
         "db:migrate",
         "create or upgrade the database schema (idempotent)",
         "Creates schema eye and its tables, and media_files when the database has none "
         "(standalone use). An existing Avinash-EYE media_files keeps its columns and rows; "
         "eye only adds its own indexes to it, built CONCURRENTLY so uploads go on meanwhile. "
         "An interrupted run leaves nothing half-made that the next run does not finish.",
         {Database::required, Schema::any, Lock::none, Record::yes, DryRun::offered},
         make_task<tasks::MigrateOptions>({tasks::add_migrate_options, tasks::run_migrate})},
    };
    return k_commands;
}

std::string commands_markdown() {
    std::string out =
        "# eye's commands\n\n"
        "Generated by `eye help --markdown` from the command table; a test fails when this file "
        "and the table disagree. Every executable and its `eye` name are the same program.\n\n"
        "| `eye` name | executable | what it does | seed schedule |\n|---|---|---|---|\n";
    for (const auto& command : commands()) {
        std::vector<std::string> schedule;
        for (const auto& entry : schedule::seed_schedule()) {
            if (entry.program == command.program && !command.program.empty()) {
                schedule.push_back(
                    fmt::format("`{}` {}", entry.expression, fmt::join(entry.args, " ")));
            }
        }
        out += fmt::format(
            "| `{}` | {} | {} | {} |\n", command.name,
            command.program.empty() ? "–" : "`" + command.program + "`", command.summary,
            schedule.empty() ? std::string("–") : fmt::format("{}", fmt::join(schedule, "; ")));
    }
    for (const auto& command : commands()) {
        out += fmt::format("\n## {}\n\n```\n{}```\n", command.name, command_help(command));
    }
    return out;
}

int main_program(std::string_view program, int argc, char** argv) {
    return run_program(commands(), program, argc, argv);
}

int main_umbrella(int argc, char** argv) {
    if (argc == 3 && std::string_view(argv[1]) == "help" &&
        std::string_view(argv[2]) == "--markdown") {
        std::cout << commands_markdown();
        return 0;
    }
    return run_umbrella(commands(), argc, argv);
}

}  // namespace eye
