#pragma once

#include <string>

#include "eye/runner/command.hpp"

// eye-cleanup (queue:prune-failed): prunes history so every other query stays fast on a large
// library. Every cutoff is measured back from the run's one "now" (Context::now):
//
// - eye.failed_jobs whose failed_at is older than --hours (Laravel's unit and default meaning);
// - Laravel's own failed_jobs, where the application has one (found in media_files' schema, never
//   eye's), with queue:prune-failed's rule: failed_at, a timestamp without time zone in the
//   session's time zone (EYE_DB_TIMEZONE), older than --hours;
// - finished eye.jobs rows (status 'completed') whose finished_at is older than --keep-completed;
// - eye.runs started more than --keep-runs-days ago, except runs still 'running' and the newest
//   run of each task, so schedule:list and the monitor still see a task that stopped running;
// - eye.workers rows whose last sign of life (heartbeat_at, and stopped_at for a stopped worker)
//   is older than --keep-workers: stopped workers that long ago, and workers silent that long,
//   which are dead.
//
// Rows go in batches of at most --batch-size, each batch its own short transaction (a guarded
// DELETE whose WHERE re-checks the age), so no lock is held for long. A failure or a stop between
// batches leaves nothing half-done: the batches already committed stay deleted, the rest stays
// in place, and the next run carries on where this one ended. On SIGTERM/SIGINT the batch in hand
// is finished, the summary is printed and the run exits 75 (EX_TEMPFAIL: retry later), because the
// prune did not finish and a retry completes it. A database lost mid-run also exits 75; the
// batch in flight then may or may not have committed, and the report counts only the batches the
// server confirmed.
//
// --dry-run counts the rows each rule would delete (with the same predicates) and deletes
// nothing. The report (text, or --format=json) gives per table the rows deleted (or that would
// be), the cutoff, the batches, the seconds, the rows per second and the longest batch:
//   {"dry_run", "complete", "tables": [{"table", "cutoff", "deleted", "batches", "seconds",
//    "rows_per_second", "longest_batch_seconds"}], "skipped": [{"table", "reason"}], "deleted"}
// In a dry run "batches" is the number of batches the deletion would take.
namespace eye::tasks {

struct CleanupOptions {
    long long hours = 168;  // eye.failed_jobs and Laravel's failed_jobs, as queue:prune-failed
    long long keep_runs_days = 90;
    Milliseconds keep_completed{7LL * 24 * 3600 * 1000};
    Milliseconds keep_workers{7LL * 24 * 3600 * 1000};
    long long batch_size = 10'000;
    std::string format = "text";  // text | json
};

void add_cleanup_options(CLI::App& app, Config& config, CleanupOptions& options);
Outcome run_cleanup(Context& context, const CleanupOptions& options);

}  // namespace eye::tasks
