#include "eye/tasks/monitor.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <ostream>
#include <sys/statvfs.h>
#include <variant>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/queue/queue.hpp"
#include "eye/runner/runner.hpp"
#include "eye/schedule/cron.hpp"
#include "eye/services/ai_service.hpp"
#include "eye/services/ollama.hpp"

namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;

enum class Status { ok, warning, critical, unknown, skipped };

std::string_view status_name(Status status) {
    switch (status) {
        case Status::ok:
            return "ok";
        case Status::warning:
            return "warning";
        case Status::critical:
            return "critical";
        case Status::unknown:
            return "unknown";
        case Status::skipped:
            return "skipped";
    }
    return "unknown";
}

// Nagios' order of gravity: critical beats unknown beats warning beats ok.
int gravity(Status status) {
    switch (status) {
        case Status::critical:
            return 3;
        case Status::unknown:
            return 2;
        case Status::warning:
            return 1;
        default:
            return 0;
    }
}

struct Metric {
    using Value = std::variant<std::int64_t, double, std::string, bool>;
    Metric(std::string metric_name, Value metric_value)
        : name(std::move(metric_name)), value(std::move(metric_value)) {}

    std::string name;
    Value value;
    // perfdata (integers) with thresholds, for --format=nagios
    bool perfdata = false;
    std::optional<double> warn;
    std::optional<double> crit;
};

Metric number(std::string name, std::int64_t value) {
    return {std::move(name), value};
}
Metric real(std::string name, double value) {
    return {std::move(name), value};
}
Metric text(std::string name, std::string value) {
    return {std::move(name), std::move(value)};
}
Metric perf(std::string name, std::int64_t value, std::optional<double> warn,
            std::optional<double> crit) {
    Metric metric(std::move(name), value);
    metric.perfdata = true;
    metric.warn = warn;
    metric.crit = crit;
    return metric;
}

struct Check {
    explicit Check(std::string check_name, Status check_status = Status::ok,
                   std::string check_message = {})
        : name(std::move(check_name)), status(check_status), message(std::move(check_message)) {}

    std::string name;
    Status status;
    std::string message;
    std::vector<Metric> metrics;
};

struct Fix {
    explicit Fix(std::string fix_name) : name(std::move(fix_name)) {}

    std::string name;
    std::int64_t count = 0;
    std::vector<Metric> details;
};

struct Report {
    std::vector<Check> checks;
    std::vector<Fix> fixes;
};

Check make_check(std::string name, Status status, std::string message) {
    return Check(std::move(name), status, std::move(message));
}

db::TimePoint minus(db::TimePoint at, Milliseconds amount) {
    return at - amount;
}

std::int64_t to_ms(Clock::duration elapsed) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
}

std::string plural(std::int64_t count, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", count, count == 1 ? one : many);
}

std::string format_iso(db::TimePoint at) {
    return schedule::format_iso8601(at, schedule::TimeZone::utc);
}

// ---------------------------------------------------------------------------------------------
// database

struct DatabaseState {
    bool usable = false;  // connected and the eye schema is current: the other checks can run
    std::string reason;   // why not, for the checks that then say unknown
};

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

// ---------------------------------------------------------------------------------------------
// the AI service

http::Timeouts service_timeouts(const Config& config) {
    return {std::min(config.http_timeout, Milliseconds(3'000)), config.http_timeout};
}

Check check_ai_service(const Config& config) {
    if (config.ai_url.empty()) {
        return make_check("ai_service", Status::skipped, "EYE_AI_URL is not set");
    }
    services::AiServiceClient client(config.ai_url, config.ai_token, service_timeouts(config));
    client.set_abort_check(stop::requested);
    auto health = client.health();
    if (!health) {
        Check check =
            make_check("ai_service", Status::critical,
                       health.error().message + "; hint: is the AI service running at EYE_AI_URL?");
        check.metrics.push_back(
            text("error", std::string(services::service_error_kind_name(health.error().kind))));
        return check;
    }
    Check check{"ai_service"};
    check.metrics.push_back(
        perf("latency_ms", health->latency.count(), std::nullopt, std::nullopt));
    check.metrics.push_back(text("service_status", health->status));
    check.metrics.emplace_back("models_loaded", health->models_loaded);
    check.metrics.push_back(text("device", health->device));
    if (health->ready()) {
        check.message = fmt::format("healthy, models loaded on {} ({} ms)",
                                    health->device.empty() ? "an unknown device" : health->device,
                                    health->latency.count());
    } else {
        check.status = Status::warning;
        check.message = fmt::format(
            "status '{}', models loaded: {}; the service is not ready "
            "to analyze yet",
            health->status, health->models_loaded ? "yes" : "no");
    }
    return check;
}

// ---------------------------------------------------------------------------------------------
// Ollama

std::vector<std::string> missing_models(const std::vector<std::string>& wanted,
                                        const std::vector<std::string>& installed) {
    std::vector<std::string> missing;
    for (const auto& model : wanted) {
        if (!services::has_model(installed, model)) {
            missing.push_back(services::normalize_model_name(model));
        }
    }
    return missing;
}

// Pulls one model, logging progress at most every few seconds.
services::ServiceResult<void> pull_model(services::OllamaClient& client, const std::string& model,
                                         Milliseconds timeout) {
    log::info("pulling Ollama model '{}' (at most {})", model, format_duration(timeout));
    auto last_log = Clock::now() - std::chrono::hours(1);
    std::string last_status;
    auto progress = [&](std::string_view status, std::int64_t completed, std::int64_t total) {
        bool changed = status != last_status;
        if (!changed && Clock::now() - last_log < std::chrono::seconds(5)) {
            return;
        }
        last_status = std::string(status);
        last_log = Clock::now();
        if (total > 0) {
            log::info("pulling '{}': {} {:.0f}% ({} of {})", model, status,
                      100.0 * static_cast<double>(completed) / static_cast<double>(total),
                      format_size(static_cast<std::uint64_t>(completed)),
                      format_size(static_cast<std::uint64_t>(total)));
        } else {
            log::info("pulling '{}': {}", model, status);
        }
    };
    return client.pull(model, progress, timeout);
}

Check check_ollama(const Config& config, const MonitorOptions& options, bool dry_run,
                   Report& report) {
    if (config.ollama_url.empty()) {
        return make_check("ollama", Status::skipped, "EYE_OLLAMA_URL is not set");
    }
    const std::string hint = "; hint: is Ollama running at EYE_OLLAMA_URL?";
    services::OllamaClient client(config.ollama_url, service_timeouts(config));
    client.set_abort_check(stop::requested);
    auto version = client.version();
    if (!version) {
        return make_check("ollama", Status::critical, version.error().message + hint);
    }
    auto installed = client.tags();
    if (!installed) {
        return make_check("ollama", Status::critical, installed.error().message + hint);
    }
    Check check{"ollama"};
    check.metrics.push_back(text("version", *version));
    check.metrics.push_back(
        number("models_installed", static_cast<std::int64_t>(installed->size())));
    auto missing = missing_models(config.ollama_models, *installed);

    if (!missing.empty() && options.fix) {
        Fix fix{"ollama_pull"};
        std::vector<std::string> pulled;
        std::vector<std::string> errors;
        for (const auto& model : missing) {
            if (stop::requested()) {
                errors.push_back(
                    fmt::format("{}: not pulled, stopping on {}", model, stop::signal_name()));
                continue;
            }
            if (dry_run) {
                log::info("would pull Ollama model '{}'", model);
                continue;
            }
            auto pulled_model = pull_model(client, model, options.pull_timeout);
            if (pulled_model) {
                pulled.push_back(model);
            } else {
                errors.push_back(pulled_model.error().message);
                log::warning("could not pull '{}': {}", model, pulled_model.error().message);
            }
        }
        fix.count = static_cast<std::int64_t>(pulled.size());
        fix.details.push_back(text("models", fmt::format("{}", fmt::join(pulled, ","))));
        if (!errors.empty()) {
            fix.details.push_back(text("errors", fmt::format("{}", fmt::join(errors, "; "))));
        }
        if (dry_run) {
            fix.details.emplace_back("dry_run", true);
        }
        report.fixes.push_back(fix);
        if (!pulled.empty()) {
            installed = client.tags();
            if (!installed) {
                return make_check("ollama", Status::critical, installed.error().message + hint);
            }
            missing = missing_models(config.ollama_models, *installed);
        }
        if (!errors.empty() && !missing.empty()) {
            check.status = Status::warning;
            check.message = fmt::format("missing {}; pull failed: {}", fmt::join(missing, ", "),
                                        fmt::join(errors, "; "));
            check.metrics.push_back(
                number("models_missing", static_cast<std::int64_t>(missing.size())));
            return check;
        }
    }
    check.metrics.push_back(number("models_missing", static_cast<std::int64_t>(missing.size())));
    if (!missing.empty()) {
        check.status = Status::warning;
        check.message = fmt::format(
            "version {}; missing {}; hint: run with --fix to pull, or "
            "'ollama pull' by hand",
            *version, fmt::join(missing, ", "));
    } else if (config.ollama_models.empty()) {
        check.message = fmt::format(
            "version {}, {} installed (EYE_OLLAMA_MODELS lists none "
            "to require)",
            *version, plural(static_cast<std::int64_t>(installed->size()), "model", "models"));
    } else {
        check.message = fmt::format("version {}; all {} present", *version,
                                    plural(static_cast<std::int64_t>(config.ollama_models.size()),
                                           "required model", "required models"));
        if (!report.fixes.empty() && report.fixes.back().name == "ollama_pull" &&
            report.fixes.back().count > 0) {
            check.status = Status::warning;
            check.message += fmt::format(" after pulling {}", report.fixes.back().count);
        }
    }
    return check;
}

// ---------------------------------------------------------------------------------------------
// the queue

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

struct QueueFigures {
    std::int64_t queued = 0;
    std::int64_t ready = 0;  // queued and due now
};

Check check_queue(db::Session& session, db::TimePoint now, const MonitorOptions& options,
                  QueueFigures& figures) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    auto row = tx.one(k_queue_counts, now);
    figures.queued = row[0].as<std::int64_t>();
    figures.ready = row[1].as<std::int64_t>();
    std::int64_t running = row[2].as<std::int64_t>();
    double oldest = row[3].is_null() ? 0.0 : row[3].as<double>();
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

// ---------------------------------------------------------------------------------------------
// stuck images and stuck jobs

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
    SELECT pg_notify('eye_jobs', '') FROM (SELECT 1 FROM queued LIMIT 1) any_queued
)
SELECT (SELECT count(*) FROM reset), (SELECT count(*) FROM queued), (SELECT count(*) FROM wake)
)sql"};

Check check_stuck_media(db::Session& session, db::TimePoint now, const MonitorOptions& options,
                        bool dry_run, Report& report) {
    db::TimePoint cutoff = minus(now, options.stuck_after);
    db::TimePoint heartbeat_cutoff = minus(now, options.heartbeat_timeout);
    Check check{"stuck_media"};
    std::string age = format_duration(options.stuck_after);

    if (options.fix && !dry_run) {
        // the reset finds the stuck images itself; counting them first would read them twice
        db::Transaction tx(session, db::Transaction::Mode::autocommit);
        auto row = tx.one(k_reset_stuck_media, cutoff, heartbeat_cutoff, now);
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
    check.message = fmt::format("{} stuck (would reset them)", plural(stuck, "image", "images"));
    report.fixes.push_back(fix);
    return check;
}

Check check_stuck_jobs(db::Session& session, db::TimePoint now, const MonitorOptions& options,
                       bool dry_run, Report& report) {
    db::TimePoint heartbeat_cutoff = minus(now, options.heartbeat_timeout);
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
        fmt::format("{} without a heartbeat for {} ({} with no attempts left)",
                    plural(stale.stale, "running job", "running jobs"), age, stale.exhausted);
    if (!options.fix) {
        check.message += "; hint: run with --fix to requeue them";
        return check;
    }
    Fix fix{"stuck_jobs"};
    if (dry_run) {
        fix.count = stale.stale;
        fix.details.emplace_back("dry_run", true);
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

// ---------------------------------------------------------------------------------------------
// workers

const db::Statement k_worker_counts{
    "monitor.worker_counts",
    "SELECT count(*) FILTER (WHERE heartbeat_at >= $1::timestamptz), "
    "       count(*) FILTER (WHERE heartbeat_at < $1::timestamptz), "
    "       extract(epoch from $2::timestamptz - max(heartbeat_at)) "
    "FROM eye.workers WHERE status = 'running'"};

Check check_workers(db::Session& session, db::TimePoint now, const MonitorOptions& options,
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
    if (live == 0 && queue.ready > 0) {
        check.status = Status::critical;
        check.message = fmt::format(
            "{} waiting and no worker has sent a heartbeat in {}; hint: "
            "start eye-worker or check its supervisor",
            plural(queue.ready, "job", "jobs"), age);
        return check;
    }
    if (live == 0) {
        check.message = "no worker running, and no job waiting";
    } else {
        check.message = fmt::format("{} alive", plural(live, "worker", "workers"));
    }
    if (silent > 0) {
        check.message += fmt::format("; {} silent for over {}", silent, age);
    }
    return check;
}

// ---------------------------------------------------------------------------------------------
// schedule

const db::Statement k_last_runs{
    "monitor.last_runs",
    "SELECT t.task, "
    "       (SELECT extract(epoch from max(r.started_at)) FROM eye.runs r "
    "         WHERE r.task = t.task AND r.status <> 'skipped'), "
    "       (SELECT extract(epoch from max(r.started_at)) FROM eye.runs r "
    "         WHERE r.task = t.task AND r.status IN ('ok', 'warning')) "
    "FROM unnest($1::text[]) AS t(task)"};

Check check_schedule(db::Session& session, db::TimePoint now, const std::string& self_task) {
    std::vector<std::string> tasks;
    std::vector<const Command*> scheduled;
    for (const auto& command : commands()) {
        // the monitor does not judge itself: it is running, and whoever runs it (cron, Nagios)
        // sees its gaps better than it can
        if (!command.schedule.empty() && command.task != self_task) {
            tasks.push_back(command.task);
            scheduled.push_back(&command);
        }
    }
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    auto rows = tx.many(k_last_runs, tasks);
    Check check{"schedule"};
    std::vector<std::string> late;
    std::int64_t seen = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Command& command = *scheduled[i];
        if (rows[i][1].is_null()) {
            continue;  // never run here: maybe not deployed, nothing to judge
        }
        ++seen;
        auto cron = schedule::CronExpression::parse(command.schedule);
        if (!cron) {
            continue;
        }
        auto period = cron->longest_gap(schedule::TimeZone::utc, now);
        auto allowed = std::chrono::duration_cast<db::TimePoint::duration>(2 * period);
        std::optional<db::TimePoint> success;
        if (!rows[i][2].is_null()) {
            success = db::from_epoch(rows[i][2].as<double>());
        }
        bool is_late = !success || now - *success > allowed;
        if (is_late) {
            late.push_back(
                fmt::format("{} has not succeeded {} (expected every {})", command.display_name(),
                            success ? "since " + format_iso(*success) : std::string("yet"),
                            format_duration(std::chrono::duration_cast<Milliseconds>(period))));
        }
    }
    check.metrics.push_back(
        perf("late_tasks", static_cast<std::int64_t>(late.size()), 1.0, std::nullopt));
    if (!late.empty()) {
        check.status = Status::warning;
        check.message = fmt::format("{}", fmt::join(late, "; "));
    } else if (seen == 0) {
        check.message = "no scheduled task has run yet";
    } else {
        check.message = fmt::format("{} on schedule", plural(seen, "task", "tasks"));
    }
    return check;
}

// ---------------------------------------------------------------------------------------------
// disk

Check check_disk(const Config& config, const MonitorOptions& options) {
    namespace fs = std::filesystem;
    fs::path where = config.state_dir;
    std::string note;
    std::error_code error;
    while (!where.empty() && !fs::exists(where, error) && where != where.parent_path()) {
        where = where.parent_path();
    }
    if (where != config.state_dir) {
        note = fmt::format(" (EYE_STATE_DIR '{}' does not exist yet)", config.state_dir.string());
    }
    struct statvfs info {};
    if (where.empty() || statvfs(where.c_str(), &info) != 0) {
        return make_check("disk", Status::unknown,
                          fmt::format("cannot measure free space at '{}': {}", where.string(),
                                      std::strerror(errno)));
    }
    auto free = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
    auto total = static_cast<std::uint64_t>(info.f_blocks) * info.f_frsize;
    Check check{"disk"};
    check.metrics.push_back(perf("disk_free_bytes", static_cast<std::int64_t>(free),
                                 static_cast<double>(options.min_free),
                                 static_cast<double>(options.critical_free)));
    check.metrics.push_back(number("disk_total_bytes", static_cast<std::int64_t>(total)));
    double percent =
        total == 0 ? 0.0 : 100.0 * static_cast<double>(free) / static_cast<double>(total);
    check.message = fmt::format("{} free at '{}' ({:.0f}%){}", format_size(free), where.string(),
                                percent, note);
    if (free < options.critical_free) {
        check.status = Status::critical;
    } else if (free < options.min_free) {
        check.status = Status::warning;
    }
    if (check.status != Status::ok) {
        check.message += fmt::format(
            "; below {}; hint: free space or move EYE_STATE_DIR",
            format_size(free < options.critical_free ? options.critical_free : options.min_free));
    }
    return check;
}

// ---------------------------------------------------------------------------------------------
// output

void write_metric_value(json::Writer& w, const Metric& metric) {
    std::visit([&w](const auto& value) { w.value(value); }, metric.value);
}

std::string report_json(const Report& report, Status overall) {
    json::Writer w;
    w.begin_object();
    w.field("status", status_name(overall));
    w.key("checks");
    w.begin_array();
    for (const auto& check : report.checks) {
        w.begin_object();
        w.field("name", check.name);
        w.field("status", status_name(check.status));
        w.field("message", check.message);
        w.key("metrics");
        w.begin_object();
        for (const auto& metric : check.metrics) {
            w.key(metric.name);
            write_metric_value(w, metric);
        }
        w.end_object();
        w.end_object();
    }
    w.end_array();
    w.key("fixes");
    w.begin_array();
    for (const auto& fix : report.fixes) {
        w.begin_object();
        w.field("name", fix.name);
        w.field("count", fix.count);
        for (const auto& detail : fix.details) {
            w.key(detail.name);
            write_metric_value(w, detail);
        }
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return w.take();
}

std::string upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

// The messages of the checks at the overall status, and how many others are not ok either.
std::string summary_line(const Report& report, Status overall) {
    std::vector<std::string> parts;
    int others = 0;
    for (const auto& check : report.checks) {
        if (check.status == overall && overall != Status::ok) {
            parts.push_back(check.name + ": " + check.message);
        } else if (gravity(check.status) > 0) {
            ++others;
        }
    }
    if (parts.empty()) {
        return "all checks ok";
    }
    std::string line = fmt::format("{}", fmt::join(parts, "; "));
    if (others > 0) {
        line += fmt::format(" (and {} more not ok)", others);
    }
    return line;
}

std::string nagios_line(const Report& report, Status overall) {
    std::string perfdata;
    for (const auto& check : report.checks) {
        for (const auto& metric : check.metrics) {
            if (!metric.perfdata) {
                continue;
            }
            auto value = std::get<std::int64_t>(metric.value);
            auto threshold = [](const std::optional<double>& limit) {
                return limit ? fmt::format("{}", *limit) : std::string();
            };
            std::string name = metric.name;
            if (name == "latency_ms") {
                name = check.name + "_latency_ms";
            }
            perfdata += fmt::format(" {}={};{};{}", name, value, threshold(metric.warn),
                                    threshold(metric.crit));
        }
    }
    std::string summary = summary_line(report, overall);
    for (auto& c : summary) {
        if (c == '|') {
            c = '/';  // '|' would start the perfdata
        }
    }
    return fmt::format("EYE {} - {} |{}", upper(status_name(overall)), summary, perfdata);
}

void print_table(std::ostream& out, const Report& report, Status overall) {
    out << fmt::format("{:<12} {:<9} {}\n", "CHECK", "STATUS", "MESSAGE");
    for (const auto& check : report.checks) {
        out << fmt::format("{:<12} {:<9} {}\n", check.name, status_name(check.status),
                           check.message);
    }
    for (const auto& fix : report.fixes) {
        std::string details;
        for (const auto& detail : fix.details) {
            std::string value =
                std::visit([](const auto& v) { return fmt::format("{}", v); }, detail.value);
            details += fmt::format(" {}={}", detail.name, value);
        }
        out << fmt::format("fixed: {} {}{}\n", fix.name, fix.count, details);
    }
    out << fmt::format("status: {}\n", upper(status_name(overall)));
}

ExitCode exit_code_for(Status status) {
    switch (status) {
        case Status::critical:
            return ExitCode::critical;
        case Status::unknown:
            return ExitCode::unknown;
        case Status::warning:
            return monitor_warning;
        default:
            return ExitCode::ok;
    }
}

}  // namespace

void add_monitor_options(CLI::App& app, Config& config, MonitorOptions& options) {
    add_settings(app, config, SettingGroup::ai);
    add_settings(app, config, SettingGroup::ollama);
    add_settings(app, config, SettingGroup::storage);
    options::add_switch(app, "--fix", options.fix,
                        "repair what can be repaired: reset stuck images, requeue stuck jobs, "
                        "pull missing Ollama models");
    options::add_choice(app, "--format", options.format,
                        "text table, JSON for scripts, or a Nagios/Icinga line",
                        {"text", "json", "nagios"});
    options::add_duration(app, "--stuck-after", options.stuck_after,
                          "an image 'processing' for longer than this with no live job is stuck",
                          Milliseconds(1000));
    options::add_duration(app, "--heartbeat-timeout", options.heartbeat_timeout,
                          "a running job or worker whose heartbeat is older is dead",
                          Milliseconds(1000));
    options::add_duration(app, "--max-db-latency", options.max_db_latency,
                          "warn when a database round trip takes longer");
    options::add_duration(app, "--pull-timeout", options.pull_timeout,
                          "give up pulling one Ollama model after this long", Milliseconds(1000));
    options::add_int(app, "--max-pending", options.max_pending, "warn above this many queued jobs",
                     0, 1'000'000'000);
    options::add_int(app, "--critical-pending", options.critical_pending,
                     "critical above this many queued jobs", 0, 1'000'000'000);
    options::add_int(app, "--max-failed", options.max_failed, "warn above this many failed jobs", 0,
                     1'000'000'000);
    options::add_int(app, "--critical-failed", options.critical_failed,
                     "critical above this many failed jobs", 0, 1'000'000'000);
    options::add_int(app, "--critical-stuck", options.critical_stuck,
                     "critical (rather than warning) from this many stuck images", 1,
                     1'000'000'000);
    options::add_size(app, "--min-free", options.min_free,
                      "warn when less disk space is free under EYE_STATE_DIR");
    options::add_size(app, "--critical-free", options.critical_free,
                      "critical when less disk space is free under EYE_STATE_DIR");
}

Outcome run_monitor(Context& context, const MonitorOptions& options) {
    Report report;
    DatabaseState database;
    try {
        report.checks.push_back(check_database(context, options, database));
    } catch (const Error& e) {
        database = {false, "the database check failed"};
        report.checks.push_back(make_check("database", Status::critical, e.what()));
    }
    report.checks.push_back(check_ai_service(context.config));
    report.checks.push_back(check_ollama(context.config, options, context.dry_run, report));

    if (database.usable) {
        db::Session& session = *context.db;
        // a check that cannot finish (a statement timeout, a lost connection, a missing
        // privilege) could not decide: unknown, and the other checks still run
        auto guarded = [](const char* name, auto&& check) {
            try {
                return check();
            } catch (const Error& e) {
                return make_check(name, Status::unknown,
                                  fmt::format("could not check: {}", e.what()));
            }
        };
        // repairs first, in the order that keeps them from overlapping: an image whose dead
        // job goes back to the queue is not also reset on its own; then the figures, so the
        // queue shows the jobs the repairs queued. The table keeps the design's order.
        Check stuck_jobs = guarded("stuck_jobs", [&] {
            return check_stuck_jobs(session, context.now, options, context.dry_run, report);
        });
        Check stuck_media = guarded("stuck_media", [&] {
            return check_stuck_media(session, context.now, options, context.dry_run, report);
        });
        QueueFigures queue;
        report.checks.push_back(
            guarded("queue", [&] { return check_queue(session, context.now, options, queue); }));
        report.checks.push_back(std::move(stuck_media));
        report.checks.push_back(std::move(stuck_jobs));
        report.checks.push_back(guarded(
            "workers", [&] { return check_workers(session, context.now, options, queue); }));
        report.checks.push_back(guarded(
            "schedule", [&] { return check_schedule(session, context.now, context.task); }));
    } else {
        for (const char* name : {"queue", "stuck_media", "stuck_jobs", "workers", "schedule"}) {
            report.checks.push_back(
                make_check(name, Status::unknown, "not checked: " + database.reason));
        }
    }
    report.checks.push_back(check_disk(context.config, options));

    Status overall = Status::ok;
    for (const auto& check : report.checks) {
        if (gravity(check.status) > gravity(overall)) {
            overall = check.status;
        }
    }

    // a critical finding is also an error in the log, where the operator reads first
    for (const auto& check : report.checks) {
        if (check.status == Status::critical) {
            log::error("{}: {}", check.name, check.message);
        }
    }

    Outcome outcome;
    outcome.summary_json = report_json(report, overall);
    if (options.format == "json") {
        context.out << outcome.summary_json << "\n";
    } else if (options.format == "nagios") {
        context.out << nagios_line(report, overall) << "\n";
    } else {
        print_table(context.out, report, overall);
    }
    context.out.flush();

    outcome.exit = exit_code_for(overall);
    outcome.status = overall == Status::ok        ? RunStatus::ok
                     : overall == Status::warning ? RunStatus::warning
                                                  : RunStatus::failed;
    outcome.note = std::string(status_name(overall));
    std::vector<std::string> worst;
    for (const auto& check : report.checks) {
        if (overall != Status::ok && check.status == overall) {
            worst.push_back(check.name);
        }
    }
    if (!worst.empty()) {
        outcome.note += fmt::format(": {}", fmt::join(worst, ", "));
    }
    for (const auto& check : report.checks) {
        outcome.metrics.emplace_back(check.name + "_status", gravity(check.status));
        for (const auto& metric : check.metrics) {
            if (metric.perfdata) {
                outcome.metrics.emplace_back(
                    metric.name == "latency_ms" ? check.name + "_latency_ms" : metric.name,
                    static_cast<double>(std::get<std::int64_t>(metric.value)));
            }
        }
    }
    for (const auto& fix : report.fixes) {
        outcome.metrics.emplace_back("fixed_" + fix.name, static_cast<double>(fix.count));
    }
    return outcome;
}

}  // namespace eye::tasks
