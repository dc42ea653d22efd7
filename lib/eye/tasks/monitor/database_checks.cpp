#include "eye/tasks/monitor/database_checks.hpp"

#include <chrono>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "eye/db/schema.hpp"
#include "eye/log/log.hpp"
#include "eye/queue/laravel_bridge.hpp"
#include "eye/queue/queue.hpp"

namespace eye::tasks::monitor {
namespace {

using Clock = std::chrono::steady_clock;

// Seconds read from the database, rounded for a message: "3m", not "180033ms".
Milliseconds whole_seconds(double seconds) {
    return Milliseconds(std::llround(seconds) * 1000);
}

std::int64_t to_ms(Clock::duration elapsed) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
}

const db::Statement k_queue_counts{
    "monitor.queue_counts",
    "SELECT count(*) FILTER (WHERE status = 'queued'), "
    "       count(*) FILTER (WHERE status = 'queued' AND available_at <= $1::timestamptz), "
    "       count(*) FILTER (WHERE status = 'running'), "
    "       extract(epoch from $1::timestamptz - min(available_at) "
    "                FILTER (WHERE status = 'queued' AND available_at <= $1::timestamptz)), "
    "       (SELECT count(*) FROM eye.failed_jobs) "
    "FROM eye.jobs WHERE status IN ('queued', 'running')"};

// Laravel's queue tables live beside media_files; eye's own eye.jobs must never be mistaken for
// them, which an unqualified name could do for a database user named "eye" ("$user" schema).
const db::Statement k_laravel_tables{
    "monitor.laravel_tables",
    "SELECT n.nspname, "
    "       to_regclass(quote_ident(n.nspname) || '.jobs') IS NOT NULL, "
    "       to_regclass(quote_ident(n.nspname) || '.failed_jobs') IS NOT NULL "
    "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.oid = to_regclass('media_files') AND n.nspname <> 'eye'"};

// An image is stuck when it has been 'processing' longer than --stuck-after (by
// processing_started_at, or updated_at when that is NULL) and no job with a recent heartbeat is
// working on it: a slow model is not a dead worker. Only images: videos, documents and audio are
// the application's own work, and an image analysis job would only fail them. media_files holds
// timestamps without time zone in the session's zone, hence the casts of the cutoffs to timestamp.
const db::Statement k_count_stuck_media{
    "monitor.count_stuck_media",
    "SELECT count(*), min(coalesce(m.processing_started_at, m.updated_at)) "
    "FROM media_files m "
    "WHERE m.processing_status = 'processing' AND m.deleted_at IS NULL "
    "  AND m.media_type = 'image' "
    "  AND coalesce(m.processing_started_at, m.updated_at) < $1::timestamptz::timestamp "
    "  AND NOT EXISTS (SELECT 1 FROM eye.jobs j WHERE j.media_id = m.id "
    "                  AND j.status = 'running' AND j.heartbeat_at >= $2::timestamptz)"};

// Images 'processing' since a time more than 5 minutes ahead of the database's now: written in
// another zone than EYE_DB_TIMEZONE says. They cannot be judged stuck until that time passes.
const db::Statement k_count_future_media{
    "monitor.count_future_media",
    "SELECT count(*), "
    "       extract(epoch from max(coalesce(m.processing_started_at, m.updated_at)) - "
    "                          $1::timestamptz::timestamp) "
    "FROM media_files m "
    "WHERE m.processing_status = 'processing' AND m.deleted_at IS NULL "
    "  AND m.media_type = 'image' "
    "  AND coalesce(m.processing_started_at, m.updated_at) > "
    "      ($1::timestamptz + interval '5 minutes')::timestamp"};

// One guarded UPDATE: its WHERE re-checks status and age on the row it locks, so an image a
// worker finished or claimed meanwhile is left alone. The reset images get one analysis job each
// (none where one is queued already) and idle workers are woken.
const db::Statement k_reset_stuck_media{"monitor.reset_stuck_media",
                                        R"sql(
WITH reset AS (
    UPDATE media_files m
    SET processing_status = 'pending',
        processing_error = 'Reset by monitor: stuck in processing',
        updated_at = $3::timestamptz::timestamp
    WHERE m.processing_status = 'processing' AND m.deleted_at IS NULL
      AND m.media_type = 'image'
      AND coalesce(m.processing_started_at, m.updated_at) < $1::timestamptz::timestamp
      AND NOT EXISTS (SELECT 1 FROM eye.jobs j WHERE j.media_id = m.id
                      AND j.status = 'running' AND j.heartbeat_at >= $2::timestamptz)
    RETURNING m.id, m.processing_completed_at IS NOT NULL AS analyzed_before
), queued AS (
    INSERT INTO eye.jobs (media_id, kind, reason, previous_status, available_at, created_at)
    SELECT id, 'analyze', 'monitor: reset stuck image',
           CASE WHEN analyzed_before THEN 'completed' ELSE 'pending' END, $3::timestamptz,
           $3::timestamptz
    FROM reset
    ON CONFLICT (media_id, kind) WHERE status IN ('queued', 'running') DO NOTHING
    RETURNING id
), wake AS (
    SELECT pg_notify($4, '') FROM (SELECT 1 FROM queued LIMIT 1) any_queued
)
SELECT (SELECT count(*) FROM reset), (SELECT count(*) FROM queued), (SELECT count(*) FROM wake)
)sql"};

const db::Statement k_worker_counts{
    "monitor.worker_counts",
    "SELECT count(*) FILTER (WHERE heartbeat_at >= $1::timestamptz), "
    "       count(*) FILTER (WHERE heartbeat_at < $1::timestamptz), "
    "       extract(epoch from $2::timestamptz - max(heartbeat_at)) "
    "FROM eye.workers WHERE status = 'running'"};

}  // namespace

Check check_database(Context& context, const MonitorOptions& options, DatabaseState& state) {
    if (context.db == nullptr) {
        state.reason = "the database is unavailable";
        return make_check("database", Status::critical, context.connect_error);
    }
    Check check{"database"};
    auto started = Clock::now();
    db::SchemaStatus schema;
    {
        db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
        tx.run_sql("the latency probe", "SELECT 1");
        auto latency = Clock::now() - started;
        check.metrics.push_back(perf("latency_ms", to_ms(latency),
                                     static_cast<double>(options.max_db_latency.count()),
                                     std::nullopt));
        schema = db::read_schema_status(tx);
        if (latency > options.max_db_latency) {
            check.status = Status::warning;
        }
    }
    std::int64_t latency_ms = std::get<std::int64_t>(check.metrics.back().value);
    check.metrics.push_back(number("schema_version", schema.version));
    check.metrics.push_back(number("schema_version_expected", db::k_schema_version));
    std::string where = context.db->description();
    if (!schema.eye_schema || schema.version == 0) {
        state.reason = "the eye schema is missing";
        check.status = Status::critical;
        check.message = fmt::format(
            "connected to {} in {} ms, but it has no eye schema; hint: "
            "run 'eye db:migrate'",
            where, latency_ms);
        return check;
    }
    if (!schema.media_files) {
        state.reason = "media_files is missing";
        check.status = Status::critical;
        check.message = fmt::format(
            "connected to {}, but it has no media_files table; hint: "
            "run 'eye db:migrate' or point EYE_DATABASE_URL at the "
            "Avinash-EYE database",
            where);
        return check;
    }
    if (schema.version < db::k_schema_version) {
        state.reason = "the eye schema is outdated";
        check.status = Status::critical;
        check.message = fmt::format(
            "schema version {} is older than this eye's {}; hint: run "
            "'eye db:migrate'",
            schema.version, db::k_schema_version);
        return check;
    }
    state.usable = true;
    if (schema.version > db::k_schema_version) {
        check.status = Status::warning;
        check.message = fmt::format(
            "schema version {} is newer than this eye's {}; hint: "
            "upgrade eye",
            schema.version, db::k_schema_version);
        return check;
    }
    check.message = fmt::format("connected to {} in {} ms; schema version {} is current", where,
                                latency_ms, schema.version);
    if (check.status == Status::warning) {
        check.message += fmt::format(" (slower than {})", format_duration(options.max_db_latency));
    }
    return check;
}

Check check_queue(db::Session& session, TimePoint now, const MonitorOptions& options,
                  QueueFigures& figures) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    auto row = tx.one(k_queue_counts, now);
    figures.queued = row[0].as<std::int64_t>();
    figures.ready = row[1].as<std::int64_t>();
    std::int64_t running = row[2].as<std::int64_t>();
    double oldest = row[3].is_null() ? 0.0 : row[3].as<double>();
    figures.oldest_ready_seconds = oldest;
    std::int64_t failed = row[4].as<std::int64_t>();

    Check check{"queue"};
    check.metrics.push_back(perf("pending", figures.queued,
                                 static_cast<double>(options.max_pending),
                                 static_cast<double>(options.critical_pending)));
    check.metrics.push_back(perf("running", running, std::nullopt, std::nullopt));
    check.metrics.push_back(perf("failed", failed, static_cast<double>(options.max_failed),
                                 static_cast<double>(options.critical_failed)));
    check.metrics.push_back(real("oldest_queued_seconds", oldest));
    check.message =
        fmt::format("{} queued, {} running, {} failed", figures.queued, running, failed);
    if (oldest > 0) {
        check.message +=
            fmt::format("; oldest waiting {}",
                        format_duration(Milliseconds(static_cast<std::int64_t>(oldest) * 1000)));
    }

    std::vector<std::string> laravel;
    if (auto tables = tx.at_most_one(k_laravel_tables)) {
        std::string schema = session.connection().quote_name((*tables)[0].as<std::string>());
        const std::pair<int, const char*> k_tables[] = {{1, "jobs"}, {2, "failed_jobs"}};
        for (auto [column, table] : k_tables) {
            if (!(*tables)[column].as<bool>()) {
                continue;
            }
            auto count = tx.run_sql(fmt::format("counting Laravel's {}", table),
                                    fmt::format("SELECT count(*) FROM {}.{}", schema, table))[0][0]
                             .as<std::int64_t>();
            check.metrics.push_back(number(fmt::format("laravel_{}", table), count));
            laravel.push_back(fmt::format("{} in {}", count, table));
        }
        if ((*tables)[1].as<bool>()) {
            // uploads nobody took for 10 minutes: no PHP worker and no eye-worker
            // --laravel-queue for their queue, or rows the bridge leaves (it logs why)
            auto waiting = tx.run_sql("counting Laravel's waiting uploads",
                                      fmt::format("SELECT count(*) FROM {}.jobs WHERE reserved_at "
                                                  "IS NULL AND available_at <= extract(epoch "
                                                  "FROM now())::bigint - 600 AND strpos(payload, "
                                                  "{}) > 0",
                                                  schema,
                                                  session.connection().quote(std::string(
                                                      queue::k_image_job_marker))))[0][0]
                               .as<std::int64_t>();
            check.metrics.push_back(number("laravel_uploads_waiting", waiting));
            if (waiting > 0) {
                laravel.push_back(fmt::format("{} upload job(s) waiting over 10 min", waiting));
            }
        }
    }
    if (!laravel.empty()) {
        check.message += fmt::format("; Laravel: {}", fmt::join(laravel, ", "));
    }

    std::vector<std::string> problems;
    if (figures.queued > options.critical_pending || failed > options.critical_failed) {
        check.status = Status::critical;
    } else if (figures.queued > options.max_pending || failed > options.max_failed) {
        check.status = Status::warning;
    }
    if (figures.queued > options.max_pending) {
        problems.push_back(fmt::format("more than {} queued", options.max_pending));
    }
    if (failed > options.max_failed) {
        problems.push_back(
            fmt::format("more than {} failed; hint: see 'eye queue:failed'", options.max_failed));
    }
    if (!problems.empty()) {
        check.message += fmt::format(" ({})", fmt::join(problems, "; "));
    }
    return check;
}

namespace {

// A warning for images whose processing started "in the future"; the check's own finding
// stays when it is worse.
void add_future_media(db::Session& session, TimePoint now, Check& check) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    auto row = tx.one(k_count_future_media, now);
    std::int64_t future = row[0].as<std::int64_t>();
    check.metrics.push_back(number("future", future));
    if (future == 0) {
        return;
    }
    auto ahead = whole_seconds(row[1].as<double>());
    if (check.status == Status::ok) {
        check.status = Status::warning;
    }
    check.message += fmt::format(
        "; {} in processing since a time up to {} ahead of the database's clock, which cannot "
        "be judged stuck; hint: set EYE_DB_TIMEZONE to the zone the application writes "
        "media_files times in (Laravel's APP_TIMEZONE)",
        plural(future, "image", "images"), format_duration(ahead));
}

Check find_stuck_media(db::Session& session, TimePoint now, const MonitorOptions& options,
                       bool dry_run, Report& report) {
    TimePoint cutoff = minus(now, options.stuck_after);
    TimePoint heartbeat_cutoff = minus(now, options.heartbeat_timeout);
    Check check{"stuck_media"};
    std::string age = format_duration(options.stuck_after);

    if (options.fix && !dry_run) {
        // the reset finds the stuck images itself; counting them first would read them twice
        db::Transaction tx(session, db::Transaction::Mode::autocommit);
        auto row = tx.one(k_reset_stuck_media, cutoff, heartbeat_cutoff, now, queue::k_channel);
        std::int64_t reset = row[0].as<std::int64_t>();
        std::int64_t queued = row[1].as<std::int64_t>();
        check.metrics.push_back(
            perf("stuck", reset, 1.0, static_cast<double>(options.critical_stuck)));
        if (reset == 0) {
            check.message = fmt::format("no image in processing for over {}", age);
            return check;
        }
        Fix fix{"stuck_media"};
        fix.count = reset;
        fix.details.push_back(number("jobs_queued", queued));
        check.metrics.push_back(number("reset", reset));
        check.metrics.push_back(number("jobs_queued", queued));
        check.status = Status::warning;
        check.message = fmt::format("{} stuck {} reset ({} queued)", reset,
                                    reset == 1 ? "image" : "images", plural(queued, "job", "jobs"));
        log::info("reset {} stuck image(s) to pending and queued {} job(s)", reset, queued);
        report.fixes.push_back(fix);
        return check;
    }

    std::int64_t stuck = 0;
    {
        db::Transaction tx(session, db::Transaction::Mode::autocommit);
        stuck = tx.one(k_count_stuck_media, cutoff, heartbeat_cutoff)[0].as<std::int64_t>();
    }
    check.metrics.push_back(perf("stuck", stuck, 1.0, static_cast<double>(options.critical_stuck)));
    if (stuck == 0) {
        check.message = fmt::format("no image in processing for over {}", age);
        return check;
    }
    check.status = stuck >= options.critical_stuck ? Status::critical : Status::warning;
    check.message = fmt::format("{} in processing for over {} with no live job",
                                plural(stuck, "image", "images"), age);
    if (!options.fix) {
        check.message += "; hint: run with --fix to reset them";
        return check;
    }
    Fix fix{"stuck_media"};
    fix.count = stuck;
    fix.details.emplace_back("dry_run", true);
    fix.would = fmt::format("reset {} to pending and queue {}",
                            plural(stuck, "stuck image", "stuck images"),
                            stuck == 1 ? "its analysis" : "their analyses");
    check.message = fmt::format("{} stuck (would reset them)", plural(stuck, "image", "images"));
    report.fixes.push_back(fix);
    return check;
}

}  // namespace

Check check_stuck_media(db::Session& session, TimePoint now, const MonitorOptions& options,
                        bool dry_run, Report& report) {
    Check check = find_stuck_media(session, now, options, dry_run, report);
    add_future_media(session, now, check);
    return check;
}

Check check_stuck_jobs(db::Session& session, TimePoint now, const MonitorOptions& options,
                       bool dry_run, Report& report) {
    TimePoint heartbeat_cutoff = minus(now, options.heartbeat_timeout);
    queue::StuckJobs stale;
    {
        db::Transaction tx(session, db::Transaction::Mode::autocommit);
        stale = queue::count_stale_jobs(tx, heartbeat_cutoff);
    }
    Check check{"stuck_jobs"};
    check.metrics.push_back(perf("stuck_jobs", stale.stale, 1.0, std::nullopt));
    std::string age = format_duration(options.heartbeat_timeout);
    if (stale.stale == 0) {
        check.message = fmt::format("no running job without a heartbeat for {}", age);
        return check;
    }
    check.status = Status::warning;
    check.message =
        fmt::format("{} without a heartbeat for {} ({} of them would fail for good)",
                    plural(stale.stale, "running job", "running jobs"), age, stale.exhausted);
    if (!options.fix) {
        check.message += "; hint: run with --fix to requeue them";
        return check;
    }
    Fix fix{"stuck_jobs"};
    if (dry_run) {
        fix.count = stale.stale;
        fix.details.emplace_back("dry_run", true);
        fix.would = fmt::format("requeue {}", plural(stale.stale, "stuck job", "stuck jobs"));
        check.message += " (would requeue them)";
    } else {
        db::Transaction tx(session, db::Transaction::Mode::autocommit);
        auto rescued = queue::rescue_stale_jobs(tx, now, heartbeat_cutoff);
        fix.count = rescued.requeued + rescued.failed;
        fix.details.push_back(number("requeued", rescued.requeued));
        fix.details.push_back(number("failed", rescued.failed));
        check.message =
            fmt::format("{} stuck: {} requeued, {} moved to failed jobs",
                        plural(fix.count, "job", "jobs"), rescued.requeued, rescued.failed);
        log::info("rescued {} stuck job(s): {} requeued, {} failed", fix.count, rescued.requeued,
                  rescued.failed);
        if (fix.count == 0) {
            check.status = Status::ok;
        }
    }
    report.fixes.push_back(fix);
    return check;
}

Check check_workers(db::Session& session, TimePoint now, const MonitorOptions& options,
                    const QueueFigures& queue) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    auto row = tx.one(k_worker_counts, minus(now, options.heartbeat_timeout), now);
    std::int64_t live = row[0].as<std::int64_t>();
    std::int64_t silent = row[1].as<std::int64_t>();
    Check check{"workers"};
    check.metrics.push_back(perf("workers", live, std::nullopt, std::nullopt));
    check.metrics.push_back(number("workers_silent", silent));
    if (!row[2].is_null()) {
        check.metrics.push_back(real("last_heartbeat_seconds", row[2].as<double>()));
    }
    std::string age = format_duration(options.heartbeat_timeout);
    // a worker takes a job within seconds and heartbeats well inside --heartbeat-timeout: jobs
    // waiting longer than that with no live worker have nobody to run them. Jobs queued a moment
    // ago (an import, the monitor's own repairs) are no alarm yet.
    auto oldest = whole_seconds(queue.oldest_ready_seconds);
    if (live == 0 && queue.ready > 0 && oldest > options.heartbeat_timeout) {
        check.status = Status::critical;
        check.message = fmt::format(
            "{} waiting, the oldest for {}, and no worker has sent a heartbeat in {}; hint: "
            "start eye-worker or check its supervisor",
            plural(queue.ready, "job", "jobs"), format_duration(oldest), age);
        return check;
    }
    if (live == 0 && queue.ready > 0) {
        check.message =
            fmt::format("no worker running; {} waiting, the oldest for {} (critical after {})",
                        plural(queue.ready, "job", "jobs"), format_duration(oldest), age);
    } else if (live == 0) {
        check.message = "no worker running, and no job waiting";
    } else {
        check.message = fmt::format("{} alive", plural(live, "worker", "workers"));
    }
    if (silent > 0) {
        check.message += fmt::format("; {} silent for over {}", silent, age);
    }
    return check;
}
}  // namespace eye::tasks::monitor
