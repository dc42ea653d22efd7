#include "eye/tasks/serve/snapshot.hpp"

#include <map>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/schedule/cron.hpp"
#include "eye/tasks/monitor/monitor.hpp"
#include "eye/tasks/schedule/table.hpp"

namespace eye::tasks::serve {
namespace {

const db::Statement k_queue{
    "serve.queue",
    "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = "
    "'running'), extract(epoch from $1::timestamptz - min(available_at) FILTER (WHERE status = "
    "'queued' AND available_at <= $1::timestamptz)), (SELECT count(*) FROM eye.failed_jobs) "
    "FROM eye.jobs WHERE status IN ('queued', 'running')"};

// The library by status, counted from eye_media_files_status alone (an index-only scan: no
// table pages are read while the visibility map is current).
const db::Statement k_images_by_status{
    "serve.images_by_status",
    "SELECT processing_status, count(*) FROM media_files "
    "WHERE media_type = 'image' AND deleted_at IS NULL GROUP BY processing_status"};

const db::Statement k_workers{
    "serve.workers",
    "SELECT w.id, w.host, w.pid, extract(epoch from $1::timestamptz - w.heartbeat_at), "
    "       (SELECT count(*) FROM eye.jobs j WHERE j.status = 'running' AND j.worker_id = w.id), "
    "       w.jobs_done, w.jobs_failed "
    "FROM eye.workers w WHERE w.status = 'running' ORDER BY w.started_at LIMIT 100"};

// The running jobs (few: one per worker slot) along jobs_running_heartbeat, the first 10 of
// each worker.
const db::Statement k_held{
    "serve.held",
    "SELECT worker_id, id, media_id, file_path, seconds FROM ("
    "  SELECT j.worker_id, j.id, j.media_id, coalesce(m.file_path, '') AS file_path, "
    "         extract(epoch from $1::timestamptz - coalesce(j.started_at, j.heartbeat_at)) "
    "           AS seconds, "
    "         row_number() OVER (PARTITION BY j.worker_id ORDER BY j.started_at, j.id) AS n "
    "  FROM eye.jobs j LEFT JOIN media_files m ON m.id = j.media_id "
    "  WHERE j.status = 'running' AND j.heartbeat_at IS NOT NULL) held "
    "WHERE n <= 10 ORDER BY worker_id, n"};

const db::Statement k_failed{"serve.failed",
                             "SELECT f.id, f.job_id, f.media_id, coalesce(m.file_path, ''), "
                             "       extract(epoch from f.failed_at), f.error "
                             "FROM eye.failed_jobs f LEFT JOIN media_files m ON m.id = f.media_id "
                             "ORDER BY f.failed_at DESC, f.id DESC LIMIT 50"};

// The last 20 runs of a scheduled task (with at least its arguments), by runs_task_started.
const db::Statement k_runs{
    "serve.runs",
    "SELECT extract(epoch from started_at), status, "
    "       extract(epoch from finished_at - started_at) "
    "FROM eye.runs WHERE task = $1 AND args @> $2::jsonb ORDER BY started_at DESC LIMIT 20"};

// Analyses per period since $1, grouped along jobs_completed_finished and failed_jobs_failed_at:
// $2 the period in seconds, counted from the epoch so periods line up from one snapshot to the
// next.
const db::Statement k_activity{
    "serve.activity",
    "SELECT b, sum(c), sum(f) FROM ("
    "  SELECT floor(extract(epoch from finished_at) / $2) * $2 AS b, count(*) AS c, 0 AS f "
    "  FROM eye.jobs WHERE status = 'completed' AND finished_at >= $1::timestamptz GROUP BY 1 "
    "  UNION ALL "
    "  SELECT floor(extract(epoch from failed_at) / $2) * $2, 0, count(*) "
    "  FROM eye.failed_jobs WHERE failed_at >= $1::timestamptz GROUP BY 1) t "
    "GROUP BY b ORDER BY b"};

const db::Statement k_models{
    "serve.models",
    "SELECT version, status, is_current, (metrics #>> '{held_out,precision}')::float8, "
    "       (metrics #>> '{held_out,recall}')::float8 "
    "FROM eye.models ORDER BY id DESC LIMIT 20"};

// `count` periods of `period` ending with the one that holds `now`, filled from k_activity.
std::vector<Bucket> read_activity(db::Transaction& tx, TimePoint now, std::chrono::seconds period,
                                  int count) {
    const auto seconds = period.count();
    const auto last = static_cast<std::int64_t>(to_epoch(now)) / seconds * seconds;
    const auto first = last - (count - 1) * seconds;
    std::vector<Bucket> buckets(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        buckets[static_cast<std::size_t>(i)].start =
            from_epoch(static_cast<double>(first + i * seconds));
    }
    for (const auto& row : tx.many(k_activity, from_epoch(static_cast<double>(first)),
                                   static_cast<double>(seconds))) {
        const auto at = static_cast<std::int64_t>(row[0].as<double>());
        const auto index = (at - first) / seconds;
        if (index >= 0 && index < count) {
            buckets[static_cast<std::size_t>(index)].completed += row[1].as<std::int64_t>();
            buckets[static_cast<std::size_t>(index)].failed += row[2].as<std::int64_t>();
        }
    }
    return buckets;
}

void read_figures(db::Session& session, TimePoint now, Snapshot& snapshot) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    auto queue = tx.one(k_queue, now);
    snapshot.queue.queued = queue[0].as<std::int64_t>();
    snapshot.queue.running = queue[1].as<std::int64_t>();
    snapshot.queue.oldest_wait_seconds = queue[2].is_null() ? 0.0 : queue[2].as<double>();
    snapshot.queue.failed = queue[3].as<std::int64_t>();
    // every status a row can have, in their order, zero where no row has it
    std::map<std::string, std::int64_t> by_status;
    for (const auto& row : tx.many(k_images_by_status)) {
        by_status[row[0].is_null() ? "(none)" : row[0].as<std::string>()] =
            row[1].as<std::int64_t>();
    }
    for (const char* status : {"pending", "processing", "completed", "failed"}) {
        snapshot.images_by_status.push_back({status, by_status[status]});
        by_status.erase(status);
    }
    for (const auto& [status, count] : by_status) {
        snapshot.images_by_status.push_back({status, count});
    }
    for (const auto& row : tx.many(k_workers, now)) {
        snapshot.workers.push_back({row[0].as<std::string>(),
                                    row[1].as<std::string>(),
                                    row[2].as<int>(),
                                    row[3].as<double>(),
                                    row[4].as<std::int64_t>(),
                                    row[5].as<std::int64_t>(),
                                    row[6].as<std::int64_t>(),
                                    {}});
    }
    if (!snapshot.workers.empty()) {
        std::map<std::string, WorkerRow*> by_id;
        for (auto& worker : snapshot.workers) {
            by_id[worker.id] = &worker;
        }
        for (const auto& row : tx.many(k_held, now)) {
            auto found = by_id.find(row[0].is_null() ? "" : row[0].as<std::string>());
            if (found != by_id.end()) {
                found->second->held.push_back({row[1].as<std::int64_t>(), row[2].as<std::int64_t>(),
                                               row[3].as<std::string>(),
                                               row[4].is_null() ? 0.0 : row[4].as<double>()});
            }
        }
    }
    snapshot.recent = read_activity(tx, now, std::chrono::minutes(10), 144);
    snapshot.daily = read_activity(tx, now, std::chrono::hours(24), 30);
    auto models = tx.many(k_models);
    for (auto it = models.rbegin(); it != models.rend(); ++it) {
        const auto& row = *it;
        ModelRow model{
            row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<bool>(), {}, {}};
        if (!row[3].is_null()) {
            model.precision = row[3].as<double>();
        }
        if (!row[4].is_null()) {
            model.recall = row[4].as<double>();
        }
        snapshot.models.push_back(model);
    }
    for (const auto& row : tx.many(k_failed)) {
        snapshot.failed.push_back({row[0].as<std::int64_t>(), row[1].as<std::int64_t>(),
                                   row[2].as<std::int64_t>(), row[3].as<std::string>(),
                                   from_epoch(row[4].as<double>()), row[5].as<std::string>()});
    }
}

void read_schedule(Context& context, TimePoint now, Snapshot& snapshot) {
    auto tasks = active_schedule(context.config);
    const TimePoint wall = std::chrono::system_clock::now();
    for (const auto& task : tasks) {
        TaskRow row;
        row.name = task.command_line();
        row.expression = task.expression;
        if (!task.long_running()) {
            if (auto cron = schedule::CronExpression::parse(task.expression)) {
                row.next_due = cron->next_after(wall, TimeZone::local);
            }
        }
        if (snapshot.database) {
            db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
            auto runs = tx.many(k_runs, task.task, schedule::run_args_filter(tasks, task));
            for (auto it = runs.rbegin(); it != runs.rend(); ++it) {
                const auto& run = *it;
                RunMark mark{from_epoch(run[0].as<double>()), run[1].as<std::string>(), {}};
                if (!run[2].is_null()) {
                    mark.seconds = run[2].as<double>();
                }
                row.runs.push_back(mark);
            }
        }
        snapshot.schedule.push_back(std::move(row));
    }
    (void)now;
}

// Prometheus label values escape backslash, quote and line feed.
std::string label(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

Snapshot take_snapshot(Context& context) {
    Snapshot snapshot;
    snapshot.taken = context.now;
    MonitorOptions read_only;  // no --fix: serve never repairs
    snapshot.checks = run_monitor_checks(context, read_only);
    snapshot.overall = monitor::overall_status(snapshot.checks);
    for (const auto& check : snapshot.checks.checks) {
        if (check.name == "database") {
            snapshot.database = check.status != monitor::Status::critical && context.db != nullptr;
        }
    }
    if (snapshot.database) {
        try {
            read_figures(*context.db, context.now, snapshot);
        } catch (const Error& e) {
            snapshot.database = false;
            log::warning("could not read the figures: {}", e.what());
        }
    }
    read_schedule(context, context.now, snapshot);
    return snapshot;
}

std::string snapshot_json(const Snapshot& snapshot) {
    json::Writer w;
    w.begin_object();
    w.field("taken_at", format_iso8601(snapshot.taken));
    w.field("status", monitor::status_name(snapshot.overall));
    w.key("checks");
    w.begin_array();
    for (const auto& check : snapshot.checks.checks) {
        w.begin_object();
        w.field("name", check.name);
        w.field("status", monitor::status_name(check.status));
        w.field("message", check.message);
        w.end_object();
    }
    w.end_array();
    w.field("database", snapshot.database);
    w.key("queue");
    w.begin_object();
    w.field("queued", snapshot.queue.queued);
    w.field("running", snapshot.queue.running);
    w.field("failed", snapshot.queue.failed);
    w.field("oldest_wait_seconds", snapshot.queue.oldest_wait_seconds);
    w.end_object();
    auto counts = [&w](const char* name, const std::vector<Count>& rows) {
        w.key(name);
        w.begin_object();
        for (const auto& count : rows) {
            w.field(count.name, count.count);
        }
        w.end_object();
    };
    counts("images_by_status", snapshot.images_by_status);
    if (snapshot.library) {
        const LibraryFigures& library = *snapshot.library;
        w.key("library");
        w.begin_object();
        w.field("counted_at", format_iso8601(library.counted));
        w.field("seconds", library.seconds);
        if (!library.error.empty()) {
            w.field("error", library.error);
        } else {
            w.field("analyzer", library.analyzer);
            w.field("model_version", library.model_version);
            w.field("completed", library.completed);
            w.key("by_eye");
            w.begin_array();
            for (const auto& count : library.by_eye) {
                w.begin_object();
                w.field("analyzer", count.analyzer);
                w.field("model_version", count.model_version);
                w.field("images", count.images);
                w.end_object();
            }
            w.end_array();
            w.field("not_by_eye", library.not_by_eye);
            w.field("outdated", library.outdated);
            w.field("missing", library.missing);
        }
        w.end_object();
    }
    w.key("workers");
    w.begin_array();
    for (const auto& worker : snapshot.workers) {
        w.begin_object();
        w.field("id", worker.id);
        w.field("host", worker.host);
        w.field("pid", worker.pid);
        w.field("heartbeat_age_seconds", worker.heartbeat_age_seconds);
        w.field("holds", worker.holds);
        w.field("done", worker.done);
        w.field("failed", worker.failed);
        w.key("held");
        w.begin_array();
        for (const auto& job : worker.held) {
            w.begin_object();
            w.field("job_id", job.job_id);
            w.field("media_id", job.media_id);
            w.field("file_path", job.file_path);
            w.field("seconds", job.seconds);
            w.end_object();
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
    w.key("failed_jobs");
    w.begin_array();
    for (const auto& failed : snapshot.failed) {
        w.begin_object();
        w.field("id", failed.id);
        w.field("job_id", failed.job_id);
        w.field("media_id", failed.media_id);
        w.field("file_path", failed.file_path);
        w.field("failed_at", format_iso8601(failed.failed_at));
        w.field("error", failed.error);
        w.end_object();
    }
    w.end_array();
    auto buckets = [&w](const char* name, const std::vector<Bucket>& rows) {
        w.key(name);
        w.begin_array();
        for (const auto& bucket : rows) {
            w.begin_object();
            w.field("start", format_iso8601(bucket.start));
            w.field("completed", bucket.completed);
            w.field("failed", bucket.failed);
            w.end_object();
        }
        w.end_array();
    };
    buckets("per_10_minutes", snapshot.recent);
    buckets("per_day", snapshot.daily);
    w.key("models");
    w.begin_array();
    for (const auto& model : snapshot.models) {
        w.begin_object();
        w.field("version", model.version);
        w.field("status", model.status);
        w.field("current", model.current);
        w.field("precision", model.precision);
        w.field("recall", model.recall);
        w.end_object();
    }
    w.end_array();
    w.key("schedule");
    w.begin_array();
    for (const auto& task : snapshot.schedule) {
        w.begin_object();
        w.field("name", task.name);
        w.field("expression", task.expression);
        if (task.next_due) {
            w.field("next_due", format_iso8601(*task.next_due));
        } else {
            w.null_field("next_due");
        }
        w.key("runs");
        w.begin_array();
        for (const auto& run : task.runs) {
            w.begin_object();
            w.field("started_at", format_iso8601(run.started));
            w.field("status", run.status);
            w.field("seconds", run.seconds);
            w.end_object();
        }
        w.end_array();
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return w.take();
}

std::string snapshot_metrics(const Snapshot& snapshot) {
    std::string out;
    auto family = [&out](const char* name, const char* help) {
        out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help, name);
    };
    // a family of one sample without labels
    auto gauge = [&](const char* name, const char* help, auto value) {
        family(name, help);
        out += fmt::format("{} {}\n", name, value);
    };
    gauge("eye_up", "Whether eye serve could read the database (1) or not (0).",
          snapshot.database ? 1 : 0);
    family("eye_check_status",
           "Each monitor check: 0 ok or skipped, 1 warning, 2 unknown, 3 critical.");
    for (const auto& check : snapshot.checks.checks) {
        out += fmt::format("eye_check_status{{check=\"{}\"}} {}\n", label(check.name),
                           monitor::gravity(check.status));
    }
    if (!snapshot.database) {
        return out;
    }
    family("eye_queue_jobs", "Jobs in eye's queue by status.");
    out += fmt::format("eye_queue_jobs{{status=\"queued\"}} {}\n", snapshot.queue.queued);
    out += fmt::format("eye_queue_jobs{{status=\"running\"}} {}\n", snapshot.queue.running);
    out += fmt::format("eye_queue_jobs{{status=\"failed\"}} {}\n", snapshot.queue.failed);
    gauge("eye_queue_oldest_wait_seconds", "How long the oldest due job has waited.",
          snapshot.queue.oldest_wait_seconds);
    family("eye_images", "Images by processing_status.");
    for (const auto& count : snapshot.images_by_status) {
        out += fmt::format("eye_images{{status=\"{}\"}} {}\n", label(count.name), count.count);
    }
    if (snapshot.library && snapshot.library->error.empty()) {
        const LibraryFigures& library = *snapshot.library;
        family("eye_images_analyzed",
               "Completed images by the analyzer and model version of their last good analysis "
               "by eye.");
        for (const auto& count : library.by_eye) {
            out += fmt::format("eye_images_analyzed{{analyzer=\"{}\",model_version=\"{}\"}} {}\n",
                               label(count.analyzer), label(count.model_version), count.images);
        }
        gauge("eye_images_not_analyzed_by_eye",
              "Completed images eye never analyzed (analyzed before eye).", library.not_by_eye);
        family("eye_images_outdated",
               "Completed images not analyzed by the analyzer and model version in use now.");
        out += fmt::format("eye_images_outdated{{analyzer=\"{}\",model_version=\"{}\"}} {}\n",
                           label(library.analyzer), label(library.model_version), library.outdated);
        gauge("eye_images_missing_analysis",
              "Pending images, and completed ones without an embedding or a description.",
              library.missing);
        gauge("eye_library_counted_timestamp_seconds",
              "When the library's analyzer, outdated and missing counts were taken.",
              fmt::format("{:.3f}", to_epoch(library.counted)));
    }
    gauge("eye_workers_alive", "Workers whose status is running.", snapshot.workers.size());
    family("eye_task_runs", "The last runs shown per scheduled task, by result.");
    for (const auto& task : snapshot.schedule) {
        std::map<std::string, int> by_status;
        for (const auto& run : task.runs) {
            ++by_status[run.status];
        }
        for (const auto& [status, count] : by_status) {
            out += fmt::format("eye_task_runs{{task=\"{}\",result=\"{}\"}} {}\n", label(task.name),
                               label(status), count);
        }
    }
    family("eye_task_last_success_timestamp_seconds",
           "When each scheduled task last succeeded, among its last runs.");
    for (const auto& task : snapshot.schedule) {
        for (auto it = task.runs.rbegin(); it != task.runs.rend(); ++it) {
            if (it->status == "ok" || it->status == "warning") {
                out +=
                    fmt::format("eye_task_last_success_timestamp_seconds{{task=\"{}\"}} {:.3f}\n",
                                label(task.name), to_epoch(it->started));
                break;
            }
        }
    }
    return out;
}

}  // namespace eye::tasks::serve
