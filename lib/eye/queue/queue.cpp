#include "eye/queue/queue.hpp"

#include <map>
#include <mutex>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace eye::queue {
namespace {

const db::Statement k_count_stale{
    "queue.count_stale",
    "SELECT count(*), count(*) FILTER (WHERE attempts >= max_attempts AND rescues >= $2) "
    "FROM eye.jobs WHERE status = 'running' AND heartbeat_at < $1::timestamptz"};

// A job whose worker died goes back to the queue. On its last attempt it is given that attempt
// back (a database outage or a restart is not the image's fault), unless it has lost its worker
// this many times already: an image that kills every worker that tries it must fail for good.
constexpr int k_rescues_before_failing = 2;

// $1: heartbeat cutoff, $2: now, $3: the channel to NOTIFY, $4: k_rescues_before_failing
const db::Statement k_rescue_stale{"queue.rescue_stale",
                                   R"sql(
WITH stale AS (
    SELECT id FROM eye.jobs
    WHERE status = 'running' AND heartbeat_at < $1::timestamptz
    FOR UPDATE SKIP LOCKED
), requeued AS (
    UPDATE eye.jobs j
    SET status = 'queued', available_at = $2::timestamptz, worker_id = NULL, started_at = NULL,
        heartbeat_at = NULL, rescues = j.rescues + 1,
        attempts = least(j.attempts, j.max_attempts - 1),
        last_error = 'the worker stopped sending heartbeats; job returned to the queue'
    FROM stale
    WHERE j.id = stale.id AND j.status = 'running' AND j.heartbeat_at < $1::timestamptz
      AND (j.attempts < j.max_attempts OR j.rescues < $4)
    RETURNING j.media_id, j.previous_status
), exhausted AS (
    DELETE FROM eye.jobs j
    USING stale
    WHERE j.id = stale.id AND j.status = 'running' AND j.heartbeat_at < $1::timestamptz
      AND j.attempts >= j.max_attempts AND j.rescues >= $4
    RETURNING j.*
), failed AS (
    INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, reason, error, worker_id,
                                 created_at, failed_at)
    SELECT id, kind, media_id, attempts, reason,
           'the worker stopped sending heartbeats during the last attempt, again', worker_id,
           created_at, $2::timestamptz
    FROM exhausted
    RETURNING media_id
), media_requeued AS (
    UPDATE media_files m
    SET processing_status = coalesce(r.previous_status, 'pending'),
        updated_at = $2::timestamptz::timestamp
    FROM requeued r
    WHERE m.id = r.media_id AND m.processing_status = 'processing'
      AND m.deleted_at IS NULL
    RETURNING m.id
), media_failed AS (
    UPDATE media_files m
    SET processing_status = CASE WHEN e.previous_status = 'completed' THEN 'completed'
                                 ELSE 'failed' END,
        processing_error = CASE WHEN e.previous_status = 'completed' THEN m.processing_error
                                ELSE 'Analysis failed: the worker stopped sending heartbeats' END,
        updated_at = $2::timestamptz::timestamp
    FROM exhausted e
    WHERE m.id = e.media_id AND m.processing_status = 'processing'
      AND m.deleted_at IS NULL
    RETURNING m.id
), state AS (
    INSERT INTO eye.media_state AS s (media_id, status, failed_at, consecutive_failures,
                                      last_error, updated_at)
    SELECT media_id, 'failed', $2::timestamptz, 1,
           'the worker stopped sending heartbeats during the last attempt, again',
           $2::timestamptz
    FROM exhausted
    ON CONFLICT (media_id) DO UPDATE
    SET status = 'failed', failed_at = excluded.failed_at,
        consecutive_failures = s.consecutive_failures + 1, last_error = excluded.last_error,
        updated_at = excluded.updated_at
    RETURNING media_id
), wake AS (
    SELECT pg_notify($3, '') FROM (SELECT 1 FROM requeued LIMIT 1) any_requeued
)
SELECT (SELECT count(*) FROM requeued), (SELECT count(*) FROM failed),
       (SELECT count(*) FROM media_requeued), (SELECT count(*) FROM media_failed),
       (SELECT count(*) FROM state), (SELECT count(*) FROM wake)
)sql"};

const db::Statement k_enqueue{"queue.enqueue",
                              R"sql(
WITH wanted AS (
    SELECT DISTINCT unnest($1::bigint[]) AS media_id
), inserted AS (
    INSERT INTO eye.jobs (media_id, kind, reason, priority, max_attempts, available_at, created_at)
    SELECT media_id, 'analyze', $2, $3::int, $4::int, $5::timestamptz, $5::timestamptz FROM wanted
    ON CONFLICT (media_id, kind) WHERE status IN ('queued', 'running') DO NOTHING
    RETURNING id
), wake AS (
    SELECT pg_notify($6, '') FROM (SELECT 1 FROM inserted LIMIT 1) any_inserted
)
SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM wanted), (SELECT count(*) FROM wake)
)sql"};

// The claim, with its batch size written into the text: with LIMIT as a parameter PostgreSQL's
// cached plan assumes a tenth of the queue and hashes whole tables, so every call is planned
// afresh. One prepared statement per batch size keeps a plan that walks jobs_claim.
// $1 worker, $2 now, $3 attempts allowed. previous_status is the image's status to return to
// if this attempt does not finish: an image that was completed once (processing_completed_at
// is set) and is pending or processing again has a good earlier analysis, so a failure must
// give it back 'completed', never 'failed'.
constexpr const char* k_claim_template = R"sql(
WITH picked AS (
    SELECT id FROM eye.jobs
    WHERE status = 'queued' AND available_at <= $2::timestamptz
    ORDER BY priority, available_at, id
    LIMIT {limit}
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE eye.jobs j
    SET status = 'running', attempts = j.attempts + 1, max_attempts = $3::int,
        started_at = $2::timestamptz, heartbeat_at = $2::timestamptz, worker_id = $1,
        previous_status = coalesce((
            SELECT CASE WHEN m.processing_status IN ('pending', 'processing')
                             AND m.processing_completed_at IS NOT NULL THEN 'completed'
                        WHEN m.processing_status = 'processing' THEN 'pending'
                        ELSE m.processing_status END
            FROM media_files m WHERE m.id = j.media_id), 'pending')
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.id, j.media_id, j.kind, j.attempts, j.max_attempts, j.previous_status
), media AS (
    UPDATE media_files m
    SET processing_status = 'processing', processing_started_at = $2::timestamptz::timestamp,
        processing_attempts = coalesce(m.processing_attempts, 0) + 1,
        updated_at = $2::timestamptz::timestamp
    FROM claimed c
    WHERE m.id = c.media_id AND m.deleted_at IS NULL AND m.media_type = 'image'
    RETURNING m.id, m.file_path, m.mime_type
)
SELECT c.id, c.media_id, c.kind, c.attempts, c.max_attempts, c.previous_status,
       media.file_path, media.mime_type, media.id IS NULL,
       CASE WHEN media.id IS NULL THEN (SELECT o.media_type FROM media_files o
                                        WHERE o.id = c.media_id AND o.deleted_at IS NULL) END
FROM claimed c LEFT JOIN media ON media.id = c.media_id
ORDER BY c.id
)sql";

// The claim statement for batches of `limit`, built and kept once per size.
db::Statement claim_statement(int limit) {
    static std::mutex mutex;
    static std::map<int, std::pair<std::string, std::string>> built;  // name, sql
    std::lock_guard lock(mutex);
    auto [it, inserted] = built.try_emplace(limit);
    if (inserted) {
        it->second.first = fmt::format("queue.claim.{}", limit);
        it->second.second = fmt::format(fmt::runtime(k_claim_template), fmt::arg("limit", limit));
    }
    return {it->second.first.c_str(), it->second.second.c_str()};
}

const db::Statement k_heartbeat{
    "queue.heartbeat",
    "UPDATE eye.jobs SET heartbeat_at = $3::timestamptz "
    "WHERE id = ANY($2::bigint[]) AND status = 'running' AND worker_id = $1 "
    "RETURNING id"};

const db::Statement k_complete{
    "queue.complete",
    "UPDATE eye.jobs SET status = 'completed', finished_at = $3::timestamptz, "
    "       heartbeat_at = $3::timestamptz, last_error = NULL "
    "WHERE id = $1 AND status = 'running' AND worker_id = $2"};

// $1 job, $2 worker, $3 error, $4 due time of the retry, $5 now, $6 the error users are shown
const db::Statement k_retry{"queue.retry",
                            R"sql(
WITH job AS (
    UPDATE eye.jobs
    SET status = 'queued', available_at = $4::timestamptz, worker_id = NULL, started_at = NULL,
        heartbeat_at = NULL, last_error = $3
    WHERE id = $1 AND status = 'running' AND worker_id = $2
    RETURNING media_id, previous_status
), media AS (
    UPDATE media_files m
    SET processing_status = job.previous_status,
        processing_error = CASE WHEN job.previous_status = 'completed' THEN m.processing_error
                                ELSE $6 END,
        updated_at = $5::timestamptz::timestamp
    FROM job
    WHERE m.id = job.media_id AND m.processing_status = 'processing'
      AND m.deleted_at IS NULL
    RETURNING m.id
)
SELECT (SELECT count(*) FROM job), (SELECT count(*) FROM media)
)sql"};

// $1 job, $2 worker, $3 error, $4 now, $5 the error users are shown
const db::Statement k_give_up{"queue.give_up",
                              R"sql(
WITH job AS (
    DELETE FROM eye.jobs
    WHERE id = $1 AND status = 'running' AND worker_id = $2
    RETURNING *
), failed AS (
    INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, reason, error, worker_id,
                                 created_at, failed_at)
    SELECT id, kind, media_id, attempts, reason, $3, worker_id, created_at, $4::timestamptz
    FROM job
    RETURNING media_id
), media AS (
    UPDATE media_files m
    SET processing_status = CASE WHEN job.previous_status = 'completed' THEN 'completed'
                                 ELSE 'failed' END,
        processing_error = CASE WHEN job.previous_status = 'completed' THEN m.processing_error
                                ELSE $5 END,
        updated_at = $4::timestamptz::timestamp
    FROM job
    WHERE m.id = job.media_id AND m.processing_status = 'processing'
      AND m.deleted_at IS NULL
    RETURNING m.id
), state AS (
    INSERT INTO eye.media_state AS s (media_id, status, failed_at, consecutive_failures,
                                      last_error, updated_at)
    SELECT media_id, 'failed', $4::timestamptz, 1, $3, $4::timestamptz FROM job
    ON CONFLICT (media_id) DO UPDATE
    SET status = 'failed', failed_at = excluded.failed_at,
        consecutive_failures = s.consecutive_failures + 1, last_error = excluded.last_error,
        updated_at = excluded.updated_at
    RETURNING media_id
)
SELECT (SELECT count(*) FROM failed), (SELECT count(*) FROM media), (SELECT count(*) FROM state)
)sql"};

const db::Statement k_release{"queue.release",
                              R"sql(
WITH job AS (
    UPDATE eye.jobs
    SET status = 'queued', available_at = $3::timestamptz, worker_id = NULL, started_at = NULL,
        heartbeat_at = NULL, attempts = greatest(attempts - 1, 0)
    WHERE id = ANY($1::bigint[]) AND status = 'running' AND worker_id = $2
    RETURNING media_id, previous_status
), media AS (
    UPDATE media_files m
    SET processing_status = job.previous_status, updated_at = $3::timestamptz::timestamp
    FROM job
    WHERE m.id = job.media_id AND m.processing_status = 'processing'
      AND m.deleted_at IS NULL
    RETURNING m.id
), wake AS (
    SELECT pg_notify($4, '') FROM (SELECT 1 FROM job LIMIT 1) any_released
)
SELECT (SELECT count(*) FROM job), (SELECT count(*) FROM media), (SELECT count(*) FROM wake)
)sql"};

const db::Statement k_drop_missing{
    "queue.drop_missing",
    "UPDATE eye.jobs SET status = 'completed', finished_at = $3::timestamptz, last_error = $4 "
    "WHERE id = $1 AND status = 'running' AND worker_id = $2"};

}  // namespace

Enqueued enqueue(db::Transaction& tx, const std::vector<std::int64_t>& media_ids,
                 const EnqueueOptions& options, TimePoint now) {
    if (media_ids.empty()) {
        return {};
    }
    auto row = tx.one(k_enqueue, media_ids, options.reason, options.priority, options.max_attempts,
                      now, k_channel);
    Enqueued result;
    result.queued = row[0].as<std::int64_t>();
    result.already_queued = row[1].as<std::int64_t>() - result.queued;
    return result;
}

std::vector<std::int64_t> image_ids(const std::vector<ClaimedJob>& jobs) {
    std::vector<std::int64_t> ids;
    for (const auto& job : jobs) {
        if (!job.media_missing) {
            ids.push_back(job.media_id);
        }
    }
    return ids;
}

std::vector<ClaimedJob> claim(db::Transaction& tx, const std::string& worker_id, int limit,
                              TimePoint now, int max_attempts) {
    std::vector<ClaimedJob> jobs;
    for (const auto& row : tx.many(claim_statement(limit), worker_id, now, max_attempts)) {
        ClaimedJob job;
        job.id = row[0].as<std::int64_t>();
        job.media_id = row[1].as<std::int64_t>();
        job.kind = row[2].as<std::string>();
        job.attempts = row[3].as<int>();
        job.max_attempts = row[4].as<int>();
        job.previous_status = row[5].as<std::string>();
        job.file_path = row[6].is_null() ? std::string() : row[6].as<std::string>();
        job.mime_type = row[7].is_null() ? std::string() : row[7].as<std::string>();
        job.media_missing = row[8].as<bool>();
        job.other_media_type = row[9].is_null() ? std::string() : row[9].as<std::string>();
        jobs.push_back(std::move(job));
    }
    return jobs;
}

std::vector<std::int64_t> heartbeat(db::Transaction& tx, const std::string& worker_id,
                                    const std::vector<std::int64_t>& job_ids, TimePoint now) {
    std::vector<std::int64_t> held;
    if (job_ids.empty()) {
        return held;
    }
    for (const auto& row : tx.many(k_heartbeat, worker_id, job_ids, now)) {
        held.push_back(row[0].as<std::int64_t>());
    }
    return held;
}

bool complete(db::Transaction& tx, const ClaimedJob& job, const std::string& worker_id,
              TimePoint now) {
    return tx.none(k_complete, job.id, worker_id, now) == 1;
}

FailOutcome fail(db::Transaction& tx, const ClaimedJob& job, const std::string& worker_id,
                 const Failure& failure, Milliseconds backoff, TimePoint now) {
    FailOutcome outcome;
    if (failure.kind == FailureKind::temporary && job.attempts < job.max_attempts) {
        auto row =
            tx.one(k_retry, job.id, worker_id, failure.error, now + backoff, now, failure.shown);
        outcome.held = row[0].as<std::int64_t>() == 1;
        outcome.retried = outcome.held;
        return outcome;
    }
    auto row = tx.one(k_give_up, job.id, worker_id, failure.error, now, failure.shown);
    outcome.held = row[0].as<std::int64_t>() == 1;
    outcome.gave_up = outcome.held;
    return outcome;
}

std::int64_t release(db::Transaction& tx, const std::vector<std::int64_t>& job_ids,
                     const std::string& worker_id, TimePoint now) {
    if (job_ids.empty()) {
        return 0;
    }
    return tx.one(k_release, job_ids, worker_id, now, k_channel)[0].as<std::int64_t>();
}

void drop_missing(db::Transaction& tx, const ClaimedJob& job, const std::string& worker_id,
                  TimePoint now) {
    tx.none(k_drop_missing, job.id, worker_id, now,
            job.other_media_type.empty()
                ? std::string("the image no longer exists")
                : fmt::format("media_type is '{}', not an image: nothing to analyze",
                              job.other_media_type));
}

StuckJobs count_stale_jobs(db::Transaction& tx, TimePoint heartbeat_cutoff) {
    auto row = tx.one(k_count_stale, heartbeat_cutoff, k_rescues_before_failing);
    return {row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
}

Rescue rescue_stale_jobs(db::Transaction& tx, TimePoint now, TimePoint heartbeat_cutoff) {
    auto row = tx.one(k_rescue_stale, heartbeat_cutoff, now, k_channel, k_rescues_before_failing);
    return {row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
}

}  // namespace eye::queue
