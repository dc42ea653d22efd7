#include "eye/tasks/cleanup.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <ostream>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/core/time.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"

namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;

constexpr auto k_progress_every = std::chrono::seconds(5);
constexpr long long k_max_hours = 100LL * 366 * 24;
constexpr long long k_max_days = 100LL * 366;

// How eye's own tables are pruned. Every rule takes $1 = the cutoff, $2 = the batch size and
// $3 = where the previous batch ended (NULL for the first), and returns the rows it deleted and
// where it ended. The inner SELECT walks the rule's index from there rather than from the oldest
// row: the rows behind it are gone, but their index entries stay until VACUUM, and stepping over
// them again in every batch makes the prune quadratic. ANY(ARRAY(...)) makes the DELETE probe the
// primary key for the batch's ids: written as IN (SELECT ...), PostgreSQL plans a hash join over
// a scan of the whole table, once per batch. The outer WHERE repeats the rule, so a row that
// changed since the SELECT looked (a worker that sent a heartbeat meanwhile) stays.
const db::Statement k_delete_failed_jobs{"cleanup.delete_failed_jobs", R"sql(
WITH gone AS (
    DELETE FROM eye.failed_jobs
    WHERE id = ANY(ARRAY(
            SELECT id FROM eye.failed_jobs
            WHERE failed_at >= coalesce($3::timestamptz, '-infinity')
              AND failed_at < $1::timestamptz
            ORDER BY failed_at LIMIT $2))
      AND failed_at < $1::timestamptz
    RETURNING failed_at
)
SELECT count(*), max(failed_at)::text FROM gone
)sql"};
const db::Statement k_count_failed_jobs{
    "cleanup.count_failed_jobs",
    "SELECT count(*) FROM eye.failed_jobs WHERE failed_at < $1::timestamptz"};

const db::Statement k_delete_completed_jobs{"cleanup.delete_completed_jobs", R"sql(
WITH gone AS (
    DELETE FROM eye.jobs
    WHERE id = ANY(ARRAY(
            SELECT id FROM eye.jobs
            WHERE status = 'completed'
              AND finished_at >= coalesce($3::timestamptz, '-infinity')
              AND finished_at < $1::timestamptz
            ORDER BY finished_at LIMIT $2))
      AND status = 'completed' AND finished_at < $1::timestamptz
    RETURNING finished_at
)
SELECT count(*), max(finished_at)::text FROM gone
)sql"};
const db::Statement k_count_completed_jobs{
    "cleanup.count_completed_jobs",
    "SELECT count(*) FROM eye.jobs WHERE status = 'completed' AND finished_at < $1::timestamptz"};

// The newest run of each task stays however old it is: without it a task that stopped running
// would look to schedule:list and the monitor as if it had never been deployed.
const db::Statement k_delete_runs{"cleanup.delete_runs", R"sql(
WITH gone AS (
    DELETE FROM eye.runs r
    WHERE r.id = ANY(ARRAY(
            SELECT o.id FROM eye.runs o
            WHERE o.started_at >= coalesce($3::timestamptz, '-infinity')
              AND o.started_at < $1::timestamptz AND o.status <> 'running'
              AND EXISTS (SELECT 1 FROM eye.runs n
                          WHERE n.task = o.task AND n.started_at > o.started_at)
            ORDER BY o.started_at LIMIT $2))
      AND r.started_at < $1::timestamptz AND r.status <> 'running'
    RETURNING r.started_at
)
SELECT count(*), max(started_at)::text FROM gone
)sql"};
const db::Statement k_count_runs{"cleanup.count_runs", R"sql(
SELECT count(*) FROM eye.runs o
WHERE o.started_at < $1::timestamptz AND o.status <> 'running'
  AND EXISTS (SELECT 1 FROM eye.runs n WHERE n.task = o.task AND n.started_at > o.started_at)
)sql"};

// A worker's last sign of life is its heartbeat, or its stop for a stopped one.
const db::Statement k_delete_workers{"cleanup.delete_workers", R"sql(
WITH gone AS (
    DELETE FROM eye.workers
    WHERE id = ANY(ARRAY(
            SELECT id FROM eye.workers
            WHERE heartbeat_at >= coalesce($3::timestamptz, '-infinity')
              AND heartbeat_at < $1::timestamptz
              AND (stopped_at IS NULL OR stopped_at < $1::timestamptz)
            ORDER BY heartbeat_at LIMIT $2))
      AND heartbeat_at < $1::timestamptz AND (stopped_at IS NULL OR stopped_at < $1::timestamptz)
    RETURNING heartbeat_at
)
SELECT count(*), max(heartbeat_at)::text FROM gone
)sql"};
const db::Statement k_count_workers{"cleanup.count_workers", R"sql(
SELECT count(*) FROM eye.workers
WHERE heartbeat_at < $1::timestamptz AND (stopped_at IS NULL OR stopped_at < $1::timestamptz)
)sql"};

// Laravel's failed_jobs in the schema of media_files (never eye's), with whether it has the
// columns the prune needs: an integer primary key 'id' and 'failed_at'.
const db::Statement k_laravel_failed_jobs{"cleanup.laravel_failed_jobs", R"sql(
SELECT n.nspname,
       coalesce(bool_or(a.attname = 'id' AND a.atttypid IN ('int2'::regtype, 'int4'::regtype,
                                                             'int8'::regtype)), false),
       coalesce(bool_or(a.attname = 'failed_at'), false)
FROM pg_class m
JOIN pg_namespace n ON n.oid = m.relnamespace
JOIN pg_class f ON f.relnamespace = n.oid AND f.relname = 'failed_jobs' AND f.relkind IN ('r', 'p')
LEFT JOIN pg_attribute a ON a.attrelid = f.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE m.oid = to_regclass('media_files') AND n.nspname <> 'eye'
GROUP BY n.nspname
)sql"};

// One table's prune: what a rule deleted (or would), and how long it took.
struct TableReport {
    std::string table;
    std::string metric;  // name in the metrics file
    TimePoint cutoff;
    std::int64_t deleted = 0;
    std::int64_t batches = 0;
    double seconds = 0;
    double longest_batch_seconds = 0;

    double rows_per_second() const {
        return seconds > 0 ? static_cast<double>(deleted) / seconds : 0.0;
    }
};

struct Skipped {
    std::string table;
    std::string reason;
};

struct BatchResult {
    std::int64_t deleted = 0;
    bool more = false;  // the batch was full: there may be more to delete
};

struct Report {
    std::vector<TableReport> tables;
    std::vector<Skipped> skipped;
    bool stopped = false;
    std::optional<Error> error;

    std::int64_t deleted() const {
        std::int64_t total = 0;
        for (const auto& table : tables) {
            total += table.deleted;
        }
        return total;
    }
};

// "now - amount", or the epoch when that would be earlier: nothing in eye is older.
TimePoint cutoff_before(TimePoint now, Milliseconds amount) {
    auto since_epoch = std::chrono::duration_cast<Milliseconds>(now.time_since_epoch());
    if (amount >= since_epoch) {
        return TimePoint{};
    }
    return now - amount;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

class Pruner {
public:
    Pruner(Context& context, const CleanupOptions& options)
        : m_context(context), m_session(*context.db), m_options(options) {}

    // Runs every rule in turn until done, stopped or failed; the report says which.
    Report run() {
        try {
            prune_eye_table("eye.failed_jobs", "failed_jobs",
                            cutoff_before(m_context.now, std::chrono::hours(m_options.hours)),
                            k_count_failed_jobs, k_delete_failed_jobs);
            prune_laravel_failed_jobs(
                cutoff_before(m_context.now, std::chrono::hours(m_options.hours)));
            prune_eye_table("eye.jobs", "completed_jobs",
                            cutoff_before(m_context.now, m_options.keep_completed),
                            k_count_completed_jobs, k_delete_completed_jobs);
            prune_eye_table(
                "eye.runs", "runs",
                cutoff_before(m_context.now, std::chrono::hours(24 * m_options.keep_runs_days)),
                k_count_runs, k_delete_runs);
            prune_eye_table("eye.workers", "workers",
                            cutoff_before(m_context.now, m_options.keep_workers), k_count_workers,
                            k_delete_workers);
            // training exports (eye-export's history under EYE_STATE_DIR) join here when
            // export:training-data lands: one more TableReport-shaped step per kind of history
        } catch (const Error& e) {
            m_report.error = e;
        }
        return std::move(m_report);
    }

private:
    void prune_eye_table(const char* table, const char* metric, TimePoint cutoff,
                         const db::Statement& count, const db::Statement& delete_batch) {
        if (m_context.dry_run) {
            count_only(table, metric, cutoff, [&] {
                db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
                return tx.one(count, cutoff)[0].as<std::int64_t>();
            });
            return;
        }
        std::optional<std::string> ended_at;  // as the server wrote it: no precision lost
        prune(table, metric, cutoff, [&] {
            db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
            auto row = tx.one(delete_batch, cutoff, m_options.batch_size, ended_at);
            auto deleted = row[0].as<std::int64_t>();
            if (!row[1].is_null()) {
                ended_at = row[1].as<std::string>();
            }
            return BatchResult{deleted, deleted >= m_options.batch_size};
        });
    }

    // Laravel's failed_jobs has no index on failed_at: the batches walk its primary key from
    // where the last one stopped, so the whole table is read once however many batches it takes.
    void prune_laravel_failed_jobs(TimePoint cutoff) {
        std::optional<pqxx::row> found;
        {
            db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
            found = tx.at_most_one(k_laravel_failed_jobs);
        }
        if (!found) {
            log::debug("no Laravel failed_jobs beside media_files; nothing to prune there");
            return;
        }
        std::string schema_name = (*found)[0].as<std::string>();
        std::string schema = m_session.connection().quote_name(schema_name);
        std::string table = fmt::format("{}.failed_jobs", schema_name);
        bool has_id = (*found)[1].as<bool>();
        bool has_failed_at = (*found)[2].as<bool>();
        if (!has_id || !has_failed_at) {
            Skipped skipped{table, fmt::format("it has no {} column, so it is not Laravel's "
                                               "failed_jobs table as eye knows it",
                                               has_id ? "'failed_at'" : "integer 'id'")};
            log::warning("skipped {}: {}; hint: prune it with 'php artisan queue:prune-failed'",
                         table, skipped.reason);
            m_report.skipped.push_back(std::move(skipped));
            return;
        }
        // failed_at is a timestamp without time zone in the application's time zone, which is
        // the session's: the cast turns the cutoff into that wall-clock time, as Laravel's
        // now()->subHours() does
        m_laravel_count_sql = fmt::format(
            "SELECT count(*) FROM {}.failed_jobs WHERE failed_at < $1::timestamptz::timestamp",
            schema);
        m_laravel_delete_sql = fmt::format(R"sql(
WITH batch AS (
    SELECT id FROM {0}.failed_jobs
    WHERE id > $3::bigint AND failed_at < $1::timestamptz::timestamp
    ORDER BY id LIMIT $2
), gone AS (
    DELETE FROM {0}.failed_jobs
    WHERE id = ANY(ARRAY(SELECT id FROM batch)) AND failed_at < $1::timestamptz::timestamp
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch), (SELECT max(id) FROM batch), (SELECT count(*) FROM gone)
)sql",
                                           schema);
        const db::Statement count{"cleanup.count_laravel_failed_jobs", m_laravel_count_sql.c_str()};
        const db::Statement delete_batch{"cleanup.delete_laravel_failed_jobs",
                                         m_laravel_delete_sql.c_str()};
        if (m_context.dry_run) {
            count_only(table, "laravel_failed_jobs", cutoff, [&] {
                db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
                return tx.one(count, cutoff)[0].as<std::int64_t>();
            });
            return;
        }
        std::int64_t last_id = 0;
        prune(table, "laravel_failed_jobs", cutoff, [&] {
            db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
            auto row = tx.one(delete_batch, cutoff, m_options.batch_size, last_id);
            auto selected = row[0].as<std::int64_t>();
            if (!row[1].is_null()) {
                last_id = row[1].as<std::int64_t>();
            }
            return BatchResult{row[2].as<std::int64_t>(), selected >= m_options.batch_size};
        });
    }

    void count_only(const std::string& table, const char* metric, TimePoint cutoff,
                    const std::function<std::int64_t()>& count) {
        m_report.tables.push_back(TableReport{table, metric, cutoff});
        auto started = Clock::now();
        auto rows = count();
        auto& entry = m_report.tables.back();
        entry.deleted = rows;
        entry.batches = (rows + m_options.batch_size - 1) / m_options.batch_size;
        entry.seconds = seconds_since(started);
        log::info("{}: would delete {} row(s) older than {}", table, rows, format_iso8601(cutoff));
    }

    // Runs batches until one comes back short or a stop is requested; the report's entry is kept
    // current after every batch, so what committed before a failure is reported too.
    void prune(const std::string& table, const char* metric, TimePoint cutoff,
               const std::function<BatchResult()>& next_batch) {
        if (m_report.stopped || stop::requested()) {
            m_report.stopped = true;
            return;
        }
        m_report.tables.push_back(TableReport{table, metric, cutoff});
        auto& entry = m_report.tables.back();
        auto started = Clock::now();
        auto last_progress = started;
        while (true) {
            auto batch_started = Clock::now();
            BatchResult batch = next_batch();
            entry.longest_batch_seconds =
                std::max(entry.longest_batch_seconds, seconds_since(batch_started));
            entry.seconds = seconds_since(started);
            if (batch.deleted > 0) {
                entry.deleted += batch.deleted;
                ++entry.batches;
            }
            if (!batch.more) {
                break;
            }
            if (stop::requested()) {
                m_report.stopped = true;
                log::info("{}: stopping on {} after {} row(s); the next run deletes the rest",
                          table, stop::signal_name(), entry.deleted);
                break;
            }
            if (Clock::now() - last_progress >= k_progress_every) {
                last_progress = Clock::now();
                log::info("{}: {} row(s) deleted so far ({:.0f} rows/s)", table, entry.deleted,
                          entry.rows_per_second());
            }
        }
        log::info("{}: deleted {} row(s) older than {} in {} batch(es), {:.2f} s", table,
                  entry.deleted, format_iso8601(cutoff), entry.batches, entry.seconds);
    }

    Context& m_context;
    db::Session& m_session;
    const CleanupOptions& m_options;
    Report m_report;
    // the text of the Laravel statements, which name the schema it lives in
    std::string m_laravel_count_sql;
    std::string m_laravel_delete_sql;
};

std::string report_json(const Report& report, bool dry_run) {
    // a dry run deleted nothing: its counts are what it would delete
    const char* deleted_key = dry_run ? "would_delete" : "deleted";
    json::Writer w;
    w.begin_object();
    w.field("dry_run", dry_run);
    w.field("complete", !report.stopped && !report.error);
    w.key("tables");
    w.begin_array();
    for (const auto& table : report.tables) {
        w.begin_object();
        w.field("table", table.table);
        w.field("cutoff", format_iso8601(table.cutoff));
        w.field(deleted_key, table.deleted);
        w.field("batches", table.batches);
        w.field("seconds", table.seconds);
        w.field("rows_per_second", dry_run ? 0.0 : table.rows_per_second());
        w.field("longest_batch_seconds", table.longest_batch_seconds);
        w.end_object();
    }
    w.end_array();
    w.key("skipped");
    w.begin_array();
    for (const auto& skipped : report.skipped) {
        w.begin_object();
        w.field("table", skipped.table);
        w.field("reason", skipped.reason);
        w.end_object();
    }
    w.end_array();
    w.field(deleted_key, report.deleted());
    if (report.error) {
        w.field("error", log::redact(report.error->what()));
        if (!report.error->hint().empty()) {
            w.field("hint", report.error->hint());
        }
    }
    w.end_object();
    return w.take();
}

void print_text(std::ostream& out, const Report& report, bool dry_run) {
    std::size_t width = 5;
    for (const auto& table : report.tables) {
        width = std::max(width, table.table.size());
    }
    out << fmt::format("{:<{}} {:>12} {:<25} {:>7} {:>8} {:>9} {:>13}\n", "TABLE", width,
                       dry_run ? "WOULD DELETE" : "DELETED", "OLDER THAN", "BATCHES", "SECONDS",
                       "ROWS/S", "LONGEST BATCH");
    for (const auto& table : report.tables) {
        out << fmt::format("{:<{}} {:>12} {:<25} {:>7} {:>8.2f} {:>9.0f} {:>11.3f} s\n",
                           table.table, width, table.deleted, format_iso8601(table.cutoff),
                           table.batches, table.seconds, dry_run ? 0.0 : table.rows_per_second(),
                           table.longest_batch_seconds);
    }
    for (const auto& skipped : report.skipped) {
        out << fmt::format("skipped {}: {}\n", skipped.table, skipped.reason);
    }
    if (dry_run) {
        out << fmt::format("would delete {} row(s) in total (dry run: nothing deleted)\n",
                           report.deleted());
    } else {
        out << fmt::format("deleted {} row(s) in total\n", report.deleted());
    }
    if (report.stopped) {
        out << fmt::format("stopped by {} before the end; run it again to delete the rest\n",
                           stop::signal_name());
    }
    if (report.error) {
        out << fmt::format("stopped by an error before the end: {}\n",
                           log::redact(report.error->what()));
    }
}

}  // namespace

void add_cleanup_options(CLI::App& app, Config&, CleanupOptions& options) {
    options::add_int(app, "--hours", options.hours,
                     "delete failed jobs (eye's and Laravel's) that failed more than this many "
                     "hours ago, as Laravel's queue:prune-failed",
                     0, k_max_hours);
    options::add_int(app, "--keep-runs-days", options.keep_runs_days,
                     "delete eye.runs records started more than this many days ago (never a "
                     "running one, nor the newest of a task)",
                     1, k_max_days);
    options::add_retention(app, "--keep-completed", options.keep_completed,
                           "delete completed queue jobs that finished longer ago than this");
    options::add_retention(app, "--keep-workers", options.keep_workers,
                           "delete worker records stopped or silent for longer than this (a "
                           "worker silent that long is dead)",
                           std::chrono::hours(1));
    options::add_int(app, "--batch-size", options.batch_size,
                     "delete at most this many rows per transaction", 1, 1'000'000);
    options::add_choice(app, "--format", options.format, "report as text or JSON",
                        {"text", "json"});
}

Outcome run_cleanup(Context& context, const CleanupOptions& options) {
    if (context.db == nullptr) {
        throw Error(ExitCode::software, "eye-cleanup ran without a database session");
    }
    Report report = Pruner(context, options).run();

    Outcome outcome;
    outcome.summary_json = report_json(report, context.dry_run);
    if (options.format == "json") {
        context.out << outcome.summary_json << "\n";
    } else {
        print_text(context.out, report, context.dry_run);
    }
    context.out.flush();

    double longest = 0;
    for (const auto& table : report.tables) {
        outcome.metrics.push_back({table.metric + "_deleted", static_cast<double>(table.deleted),
                                   fmt::format("Rows of {} the last run deleted.", table.metric)});
        longest = std::max(longest, table.longest_batch_seconds);
    }
    outcome.metrics.push_back({"deleted", static_cast<double>(report.deleted()),
                               "Rows the last run deleted, all tables together."});
    outcome.metrics.push_back(
        {"longest_batch_seconds", longest, "The longest delete batch of the last run."});
    outcome.note =
        fmt::format("{} {} row(s)", context.dry_run ? "would delete" : "deleted", report.deleted());

    if (report.error) {
        const Error& e = *report.error;
        log::error("{}{}", e.what(), e.hint().empty() ? "" : "; hint: " + e.hint());
        outcome.exit = e.code();
        outcome.status = RunStatus::failed;
        outcome.note += "; stopped by an error, what was deleted stays deleted";
    } else if (report.stopped) {
        // a planned stop still leaves history behind until the next run, which on the weekly
        // schedule is days away: 75 asks cron wrappers, systemd and Kubernetes to retry, and the
        // retry resumes where this run ended
        outcome.exit = ExitCode::temp_fail;
        outcome.status = RunStatus::failed;
        outcome.note +=
            fmt::format("; stopped by {} (run it again to delete the rest)", stop::signal_name());
    } else if (!report.skipped.empty()) {
        outcome.status = RunStatus::warning;
        outcome.note += fmt::format("; skipped {}", report.skipped.size());
    }
    return outcome;
}

}  // namespace eye::tasks
