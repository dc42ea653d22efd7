#include "eye/tasks/worker/worker_counts.hpp"

#include <fmt/format.h>

#include "eye/json/json.hpp"
#include "eye/log/log.hpp"

namespace eye::tasks {

Outcome worker_outcome(const WorkerCounts& counts, const std::string& worker,
                       const std::string& reason) {
    Outcome result;
    json::Writer w;
    w.begin_object();
    w.field("worker", worker);
    w.field("stopped_because", reason);
    w.field("claimed", counts.claimed);
    w.field("completed", counts.completed);
    w.field("retried", counts.retried);
    w.field("failed", counts.failed);
    w.field("released", counts.released);
    w.field("lost", counts.lost);
    w.field("missing_images", counts.missing);
    w.field("not_images", counts.not_images);
    w.end_object();
    result.summary_json = w.take();
    result.note = fmt::format("{}: {} completed, {} failed, {} retried, {} released", reason,
                              counts.completed, counts.failed, counts.retried, counts.released);
    result.metrics = {
        {"jobs_claimed", static_cast<double>(counts.claimed), "Jobs the last run claimed."},
        {"jobs_completed", static_cast<double>(counts.completed), "Jobs the last run completed."},
        {"jobs_failed", static_cast<double>(counts.failed),
         "Jobs the last run gave up on (failed for good)."},
        {"jobs_retried", static_cast<double>(counts.retried),
         "Jobs the last run put back for a later attempt."}};
    return result;
}

void apply_stop_cause(Outcome& outcome, const StopCause& cause) {
    auto stopped = [&](const std::string& why, const char* hint, ExitCode exit) {
        log::error("{}; hint: {}", why, hint);
        outcome.exit = exit;
        outcome.status = RunStatus::failed;
    };
    if (!cause.unavailable.empty()) {
        stopped(cause.unavailable,
                "start the service or check its URL; the jobs in hand went back to the queue "
                "untried",
                ExitCode::unavailable);
    } else if (!cause.media_gone.empty()) {
        stopped(cause.media_gone,
                "check that EYE_MEDIA_ROOT is mounted; the jobs in hand went back to the queue "
                "untried",
                ExitCode::io_error);
    } else if (!cause.stuck.empty()) {
        stopped(cause.stuck,
                "a restarted worker starts with fresh threads; look at the jobs' images and the "
                "analyzer's service",
                ExitCode::temp_fail);
    }
}

std::string stopping_notice(const char* signal, std::size_t in_hand, Milliseconds grace) {
    return fmt::format(
        "stopping on {}: finishing {} {}, up to --grace {}; Ctrl-C (or SIGTERM) again to give "
        "{} back now",
        signal, in_hand, in_hand == 1 ? "job" : "jobs", format_duration(grace),
        in_hand == 1 ? "it" : "them");
}

}  // namespace eye::tasks
