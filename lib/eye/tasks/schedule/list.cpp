#include "eye/tasks/schedule/list.hpp"

#include <chrono>
#include <optional>
#include <ostream>
#include <vector>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/tasks/schedule/table.hpp"

namespace eye::tasks {
namespace {

// The latest run of a task with at least these arguments, and whether one is running now.
// runs_task_started serves the first, runs_running the second.
const db::Statement k_last_run{
    "schedule.last_run",
    "SELECT extract(epoch from started_at), status, exit_code, "
    "       EXISTS (SELECT 1 FROM eye.runs r WHERE r.status = 'running' AND r.task = $1 "
    "               AND r.args @> $2::jsonb) "
    "FROM (SELECT 1) one LEFT JOIN LATERAL ("
    "    SELECT started_at, status, exit_code FROM eye.runs "
    "    WHERE task = $1 AND args @> $2::jsonb ORDER BY started_at DESC LIMIT 1) last ON true"};

struct LastRun {
    TimePoint started;
    std::string status;
    std::optional<int> exit_code;
};

struct Row {
    const schedule::ScheduledTask* task = nullptr;
    std::optional<TimePoint> next_due;
    std::optional<LastRun> last_run;
    bool running = false;
};

// "45s", "12m", "5h", "3d": how far away, as a person reads a schedule.
std::string rough(std::chrono::system_clock::duration span) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(span).count();
    if (s < 90) {
        return fmt::format("{}s", s);
    }
    if (s < 90 * 60) {
        return fmt::format("{}m", (s + 30) / 60);
    }
    if (s < 36 * 3600) {
        return fmt::format("{}h", (s + 1800) / 3600);
    }
    return fmt::format("{}d", (s + 43200) / 86400);
}

std::string report_json(const std::vector<Row>& rows) {
    json::Writer w;
    w.begin_array();
    for (const auto& row : rows) {
        const auto& task = *row.task;
        w.begin_object();
        w.field("name", task.name);
        w.field("task", task.task);
        if (task.long_running()) {
            w.null_field("expression");
        } else {
            w.field("expression", task.expression);
        }
        w.field("command", task.command_line());
        if (row.next_due) {
            w.field("next_due", format_iso8601(*row.next_due, TimeZone::local));
        } else {
            w.null_field("next_due");
        }
        if (row.last_run) {
            w.key("last_run");
            w.begin_object();
            w.field("started_at", format_iso8601(row.last_run->started, TimeZone::local));
            w.field("status", row.last_run->status);
            if (row.last_run->exit_code) {
                w.field("exit_code", *row.last_run->exit_code);
            } else {
                w.null_field("exit_code");
            }
            w.end_object();
        } else {
            w.null_field("last_run");
        }
        w.field("running", row.running);
        w.end_object();
    }
    w.end_array();
    return w.take();
}

void print_table(std::ostream& out, const std::vector<Row>& rows, TimePoint now,
                 const std::string& unknown_runs) {
    out << fmt::format("{:<17} {:<13} {:<36} {:<40} {}\n", "NAME", "SCHEDULE", "NEXT DUE",
                       "LAST RUN", "COMMAND");
    for (const auto& row : rows) {
        const auto& task = *row.task;
        std::string next =
            task.long_running() ? std::string("kept running")
            : row.next_due
                ? fmt::format("{} (in {})", format_iso8601(*row.next_due, TimeZone::local),
                              rough(*row.next_due - now))
                : std::string("never");
        std::string last;
        if (!unknown_runs.empty()) {
            last = unknown_runs;
        } else if (row.last_run) {
            last = fmt::format("{}{} {} ago", row.last_run->status,
                               row.last_run->exit_code
                                   ? fmt::format(" (exit {})", *row.last_run->exit_code)
                                   : std::string(),
                               rough(now - row.last_run->started));
        } else {
            last = "never";
        }
        if (row.running && row.last_run && row.last_run->status != "running") {
            last += "; one running";
        }
        out << fmt::format("{:<17} {:<13} {:<36} {:<40} {}\n", task.name,
                           task.long_running() ? "@always" : task.expression, next, last,
                           task.command_line());
    }
    out << fmt::format("times on {}\n", schedule::time_zone_name());
}

}  // namespace

void add_schedule_list_options(CLI::App& app, Config& config, ScheduleListOptions& options) {
    add_settings(app, config, SettingGroup::schedule);
    options::add_choice(app, "--format", options.format, "report as text or JSON",
                        {"text", "json"});
}

Outcome run_schedule_list(Context& context, const ScheduleListOptions& options) {
    auto tasks = active_schedule(context.config);
    // read on the process's clock: the schedule's times are the machine's, not the database's
    TimePoint now = std::chrono::system_clock::now();
    std::vector<Row> rows;
    for (const auto& task : tasks) {
        Row row;
        row.task = &task;
        if (!task.long_running()) {
            auto cron = schedule::CronExpression::parse(task.expression);
            row.next_due = cron->next_after(now, TimeZone::local);
        }
        rows.push_back(row);
    }

    Outcome outcome;
    std::string unknown_runs;
    if (context.db == nullptr) {
        unknown_runs = "unknown: no database";
        log::warning("the last runs are unknown: {}", context.connect_error);
        outcome.exit = context.connect_error_code;
        outcome.status = RunStatus::failed;
    } else {
        db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
        if (db::read_schema_status(tx).version == 0) {
            unknown_runs = "unknown: no eye schema";
            log::warning("the database has no eye schema yet; hint: run 'eye db:migrate'");
        } else {
            for (auto& row : rows) {
                auto found =
                    tx.one(k_last_run, row.task->task, schedule::run_args_filter(tasks, *row.task));
                row.running = found[3].as<bool>();
                if (!found[0].is_null()) {
                    LastRun last;
                    last.started = from_epoch(found[0].as<double>());
                    last.status = found[1].as<std::string>();
                    if (!found[2].is_null()) {
                        last.exit_code = found[2].as<int>();
                    }
                    row.last_run = last;
                }
            }
        }
    }
    if (options.format == "json") {
        context.out << report_json(rows) << "\n";
    } else {
        print_table(context.out, rows, now, unknown_runs);
    }
    outcome.summary_json = "{}";
    outcome.note = fmt::format("{} task(s)", rows.size());
    return outcome;
}

}  // namespace eye::tasks
