#include "eye/tasks/monitor/monitor.hpp"

#include <ostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/log/log.hpp"
#include "eye/tasks/monitor/database_checks.hpp"
#include "eye/tasks/monitor/disk_check.hpp"
#include "eye/tasks/monitor/render.hpp"
#include "eye/tasks/monitor/report.hpp"
#include "eye/tasks/monitor/schedule_check.hpp"
#include "eye/tasks/monitor/service_checks.hpp"
#include "eye/tasks/schedule/table.hpp"

namespace eye::tasks {

using namespace monitor;

void add_monitor_options(CLI::App& app, Config& config, MonitorOptions& options) {
    add_settings(app, config, SettingGroup::ai);
    add_settings(app, config, SettingGroup::ollama);
    add_settings(app, config, SettingGroup::storage);
    add_settings(app, config, SettingGroup::schedule);
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

bool monitor_takes_lock(const MonitorOptions& options) {
    return options.fix;
}

std::optional<ExitCode> report_monitor_not_run(std::ostream& out, const MonitorOptions& options,
                                               const NotRun& why) {
    print_not_run(out, options.format, why.skipped ? Status::skipped : Status::unknown, why.reason);
    if (options.format == "nagios") {
        return exit_code_for(Status::unknown);
    }
    return std::nullopt;
}

Report run_monitor_checks(Context& context, const MonitorOptions& options) {
    Report report;
    DatabaseState database;
    try {
        report.checks.push_back(check_database(context, options, database));
    } catch (const Error& e) {
        database = {false, "the database check failed"};
        report.checks.push_back(make_check("database", Status::critical, e.what()));
    }
    report.checks.push_back(check_ai_service(context.config));
    // the Ollama check's place in the table; it runs last, since its pull can take long
    const std::size_t ollama_at = report.checks.size();

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
        report.checks.push_back(guarded("schedule", [&] {
            return check_schedule(session, context.now, active_schedule(context.config),
                                  context.task);
        }));
    } else {
        for (const char* name : {"queue", "stuck_media", "stuck_jobs", "workers", "schedule"}) {
            report.checks.push_back(
                make_check(name, Status::unknown, "not checked: " + database.reason));
        }
    }
    report.checks.push_back(check_disk(context.config, options));
    report.checks.insert(report.checks.begin() + static_cast<std::ptrdiff_t>(ollama_at),
                         check_ollama(context, options, report));
    return report;
}

Outcome run_monitor(Context& context, const MonitorOptions& options) {
    Report report = run_monitor_checks(context, options);
    Status overall = overall_status(report);

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
        outcome.metrics.push_back(
            {check.name + "_status", static_cast<double>(gravity(check.status)),
             fmt::format("The {} check: 0 ok or skipped, 1 warning, 2 critical, 3 unknown.",
                         check.name)});
        for (const auto& metric : check.metrics) {
            if (!metric.perfdata) {
                continue;
            }
            auto value = static_cast<double>(std::get<std::int64_t>(metric.value));
            if (metric.name == "latency_ms") {
                outcome.metrics.push_back(
                    {check.name + "_latency_seconds", value / 1000.0,
                     fmt::format("How long the {} check waited for its answer.", check.name)});
            } else {
                outcome.metrics.push_back({metric.name, value,
                                           fmt::format("The {} check's {} (as in its perfdata).",
                                                       check.name, metric.name)});
            }
        }
    }
    for (const auto& fix : report.fixes) {
        outcome.metrics.push_back({"fixed_" + fix.name, static_cast<double>(fix.count),
                                   fmt::format("What --fix did: {}.", fix.name)});
    }
    return outcome;
}

}  // namespace eye::tasks