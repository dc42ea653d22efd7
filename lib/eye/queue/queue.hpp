#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eye/db/session.hpp"

// The analysis queue in eye.jobs (design §5). Claiming is one statement with FOR UPDATE SKIP
// LOCKED; at most one queued or running job exists per image and kind; every change that races
// with a worker is a single guarded statement whose WHERE re-checks status and age.
namespace eye::queue {

// The channel enqueue NOTIFYs, so idle workers wake at once.
constexpr const char* k_channel = "eye_jobs";

struct StuckJobs {
    std::int64_t stale = 0;      // running jobs whose heartbeat is older than the cutoff
    std::int64_t exhausted = 0;  // of those, jobs a rescue would fail for good
};

// Counts running jobs whose heartbeat is older than `heartbeat_cutoff`.
StuckJobs count_stale_jobs(db::Transaction& tx, TimePoint heartbeat_cutoff);

struct Rescue {
    std::int64_t requeued = 0;  // back in the queue, image back to the status it had before
    std::int64_t failed = 0;    // lost their worker too often: moved to eye.failed_jobs
};

// Puts running jobs whose heartbeat is older than `heartbeat_cutoff` back in the queue, in one
// statement. A worker that died is rarely the image's fault (an outage, a restart, a node
// drained), so a job on its last attempt gets that attempt back; only a job that has lost its
// worker twice before and is out of attempts moves to eye.failed_jobs. A job whose worker sent
// a heartbeat or finished meanwhile is left alone. Images return to the status they had before
// the claim; an image that fails here keeps a good earlier analysis (status completed) and is
// marked failed otherwise.
Rescue rescue_stale_jobs(db::Transaction& tx, TimePoint now, TimePoint heartbeat_cutoff);

struct Enqueued {
    std::int64_t queued = 0;          // new jobs
    std::int64_t already_queued = 0;  // images that had a queued or running job already
};

struct EnqueueOptions {
    std::string reason;  // why: "import", "reanalyze:oldest", "retry", ...
    int priority = 100;  // lower runs first
    int max_attempts = 3;
};

// Queues one analysis job per image in one statement, skipping images that have one queued or
// running, and wakes idle workers (NOTIFY).
Enqueued enqueue(db::Transaction& tx, const std::vector<std::int64_t>& media_ids,
                 const EnqueueOptions& options, TimePoint now);

// A job a worker claimed, with what it needs of its image. The analyzers analyze images only:
// `media_missing` is set when the row was deleted (soft or hard) after the job was queued, or
// is of another media type (`other_media_type`: a video queued by hand), which is then left
// untouched.
struct ClaimedJob {
    std::int64_t id = 0;
    std::int64_t media_id = 0;
    std::string kind;
    int attempts = 0;  // including this one
    int max_attempts = 0;
    std::string previous_status;  // the image's status before this claim
    std::string file_path;
    std::string mime_type;
    bool media_missing = false;
    std::string other_media_type;
};

// The images of `jobs`: those whose row is there and is an image.
std::vector<std::int64_t> image_ids(const std::vector<ClaimedJob>& jobs);

// Claims up to `limit` due jobs in one statement (FOR UPDATE SKIP LOCKED, by priority, due time,
// id): each becomes running with a fresh heartbeat and one more attempt, allowed `max_attempts`
// in all (the worker's --tries), and its image becomes 'processing' with processing_started_at
// and processing_attempts + 1. A row that is not an image is not touched.
std::vector<ClaimedJob> claim(db::Transaction& tx, const std::string& worker_id, int limit,
                              TimePoint now, int max_attempts);

// Refreshes the heartbeat of the worker's running jobs; returns the ids it still holds (a job
// missing from the answer was rescued from this worker and must not be written).
std::vector<std::int64_t> heartbeat(db::Transaction& tx, const std::string& worker_id,
                                    const std::vector<std::int64_t>& job_ids, TimePoint now);

// Marks the job completed if this worker still holds it; false means it was taken away (the
// caller must then roll back everything it wrote for the job).
bool complete(db::Transaction& tx, const ClaimedJob& job, const std::string& worker_id,
              TimePoint now);

enum class FailureKind { temporary, permanent };

// A failed attempt, told twice: in full for the operator (eye.jobs.last_error,
// eye.failed_jobs.error, eye.media_state.last_error), and without the internals (absolute paths,
// service addresses) for media_files.processing_error, which the application shows its users.
struct Failure {
    FailureKind kind = FailureKind::temporary;
    std::string error;
    std::string shown;
};

struct FailOutcome {
    bool held = false;     // false: the job was no longer this worker's; nothing was changed
    bool retried = false;  // back in the queue, due after the backoff
    bool gave_up = false;  // moved to eye.failed_jobs
};

// Records a failed attempt. A temporary failure with attempts left goes back to the queue, due
// after `backoff`, and the image returns to its previous status. Otherwise the job moves to
// eye.failed_jobs, the image becomes 'failed' with the shown error (but keeps 'completed' and
// its results when an earlier analysis was good), and eye.media_state counts the failure.
FailOutcome fail(db::Transaction& tx, const ClaimedJob& job, const std::string& worker_id,
                 const Failure& failure, Milliseconds backoff, TimePoint now);

// Gives jobs back to the queue untried (a worker stopping): the attempt is not counted and the
// images return to their previous status. Returns how many were released.
std::int64_t release(db::Transaction& tx, const std::vector<std::int64_t>& job_ids,
                     const std::string& worker_id, TimePoint now);

// The job a worker claimed for an image that no longer exists, or for a row that is not an
// image: completed without analysis, the reason in last_error.
void drop_missing(db::Transaction& tx, const ClaimedJob& job, const std::string& worker_id,
                  TimePoint now);

}  // namespace eye::queue
