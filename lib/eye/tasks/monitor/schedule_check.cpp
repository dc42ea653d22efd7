#include "eye/tasks/monitor/schedule_check.hpp"

#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "eye/schedule/cron.hpp"
#include "eye/schedule/schedule.hpp"

namespace eye::tasks::monitor {
namespace {

// Per scheduled task (name, task, its arguments as a JSON array): its last run and last success
// among the runs of that task with at least those arguments, matched by name.
const db::Statement k_last_runs{
    "monitor.last_runs",
    "SELECT t.name, "
    "       (SELECT extract(epoch from max(r.started_at)) FROM eye.runs r "
    "         WHERE r.task = t.task AND r.args @> t.args::jsonb AND r.status <> 'skipped'), "
    "       (SELECT extract(epoch from max(r.started_at)) FROM eye.runs r "
    "         WHERE r.task = t.task AND r.args @> t.args::jsonb "
    "           AND r.status IN ('ok', 'warning')) "
    "FROM unnest($1::text[], $2::text[], $3::text[]) AS t(name, task, args)"};

}  // namespace

Check check_schedule(db::Session& session, TimePoint now,
                     const std::vector<schedule::ScheduledTask>& schedule,
                     const std::string& self_task) {
    // the monitor does not judge itself: it is running, and whoever runs it (cron, Nagios) sees
    // its gaps better than it can; a task kept running is the workers check's
    std::vector<const schedule::ScheduledTask*> scheduled;
    std::vector<std::string> names;
    std::vector<std::string> tasks;
    std::vector<std::string> args;
    for (const auto& entry : schedule) {
        if (entry.task != self_task && !entry.long_running()) {
            scheduled.push_back(&entry);
            names.push_back(entry.name);
            tasks.push_back(entry.task);
            args.push_back(schedule::run_args_filter(schedule, entry));
        }
    }
    struct LastRuns {
        std::optional<TimePoint> started;
        std::optional<TimePoint> succeeded;
    };
    std::map<std::string, LastRuns> last_runs;
    {
        db::Transaction tx(session, db::Transaction::Mode::autocommit);
        for (const auto& row : tx.many(k_last_runs, names, tasks, args)) {
            LastRuns& runs = last_runs[row[0].as<std::string>()];
            if (!row[1].is_null()) {
                runs.started = from_epoch(row[1].as<double>());
            }
            if (!row[2].is_null()) {
                runs.succeeded = from_epoch(row[2].as<double>());
            }
        }
    }
    Check check{"schedule"};
    std::vector<std::string> late;
    std::int64_t seen = 0;
    for (const auto* entry : scheduled) {
        const LastRuns& runs = last_runs[entry->name];
        if (!runs.started) {
            continue;  // never run here: maybe not deployed, nothing to judge
        }
        ++seen;
        auto cron = schedule::CronExpression::parse(entry->expression);
        if (!cron) {
            continue;
        }
        auto period = cron->longest_gap(TimeZone::local, now);
        auto allowed = std::chrono::duration_cast<TimePoint::duration>(2 * period);
        if (!runs.succeeded || now - *runs.succeeded > allowed) {
            late.push_back(fmt::format(
                "{} has not succeeded {} (expected every {})", entry->command_line(),
                runs.succeeded ? "since " + format_iso8601(*runs.succeeded) : std::string("yet"),
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

}  // namespace eye::tasks::monitor
