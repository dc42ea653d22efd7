#include "eye/queue/queue.hpp"

namespace eye::queue {
namespace {

const db::Statement k_count_stale{
    "queue.count_stale",
    "SELECT count(*), count(*) FILTER (WHERE attempts >= max_attempts) "
    "FROM eye.jobs WHERE status = 'running' AND heartbeat_at < $1::timestamptz"};

// $1: heartbeat cutoff, $2: now
const db::Statement k_rescue_stale{"queue.rescue_stale",
                                   R"sql(
WITH stale AS (
    SELECT id FROM eye.jobs
    WHERE status = 'running' AND heartbeat_at < $1::timestamptz
    FOR UPDATE SKIP LOCKED
), requeued AS (
    UPDATE eye.jobs j
    SET status = 'queued', available_at = $2::timestamptz, worker_id = NULL, started_at = NULL,
        heartbeat_at = NULL,
        last_error = 'the worker stopped sending heartbeats; job returned to the queue'
    FROM stale
    WHERE j.id = stale.id AND j.status = 'running' AND j.heartbeat_at < $1::timestamptz
      AND j.attempts < j.max_attempts
    RETURNING j.media_id, j.previous_status
), exhausted AS (
    DELETE FROM eye.jobs j
    USING stale
    WHERE j.id = stale.id AND j.status = 'running' AND j.heartbeat_at < $1::timestamptz
      AND j.attempts >= j.max_attempts
    RETURNING j.*
), failed AS (
    INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, reason, error, worker_id,
                                 created_at, failed_at)
    SELECT id, kind, media_id, attempts, reason,
           'the worker stopped sending heartbeats during the last attempt', worker_id,
           created_at, $2::timestamptz
    FROM exhausted
    RETURNING media_id
), media_requeued AS (
    UPDATE media_files m
    SET processing_status = coalesce(r.previous_status, 'pending'),
        updated_at = $2::timestamptz::timestamp
    FROM requeued r
    WHERE m.id = r.media_id AND m.processing_status = 'processing'
    RETURNING m.id
), media_failed AS (
    UPDATE media_files m
    SET processing_status = CASE WHEN e.previous_status = 'completed' THEN 'completed'
                                 ELSE 'failed' END,
        processing_error = 'Analysis failed: the worker stopped sending heartbeats',
        updated_at = $2::timestamptz::timestamp
    FROM exhausted e
    WHERE m.id = e.media_id AND m.processing_status = 'processing'
    RETURNING m.id
), state AS (
    INSERT INTO eye.media_state AS s (media_id, status, failed_at, consecutive_failures,
                                      last_error, updated_at)
    SELECT media_id, 'failed', $2::timestamptz, 1,
           'the worker stopped sending heartbeats during the last attempt', $2::timestamptz
    FROM exhausted
    ON CONFLICT (media_id) DO UPDATE
    SET status = 'failed', failed_at = excluded.failed_at,
        consecutive_failures = s.consecutive_failures + 1, last_error = excluded.last_error,
        updated_at = excluded.updated_at
    RETURNING media_id
), wake AS (
    SELECT pg_notify('eye_jobs', '') FROM (SELECT 1 FROM requeued LIMIT 1) any_requeued
)
SELECT (SELECT count(*) FROM requeued), (SELECT count(*) FROM failed),
       (SELECT count(*) FROM media_requeued), (SELECT count(*) FROM media_failed),
       (SELECT count(*) FROM state), (SELECT count(*) FROM wake)
)sql"};

}  // namespace

StuckJobs count_stale_jobs(db::Transaction& tx, db::TimePoint heartbeat_cutoff) {
    auto row = tx.one(k_count_stale, heartbeat_cutoff);
    return {row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
}

Rescue rescue_stale_jobs(db::Transaction& tx, db::TimePoint now, db::TimePoint heartbeat_cutoff) {
    auto row = tx.one(k_rescue_stale, heartbeat_cutoff, now);
    return {row[0].as<std::int64_t>(), row[1].as<std::int64_t>()};
}

}  // namespace eye::queue
