#include "eye/tasks/worker/worker.hpp"

#include <filesystem>
#include <utility>

#include <fmt/format.h>

#include "eye/analyzers/factory.hpp"
#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/db/schema.hpp"
#include "eye/queue/backoff.hpp"
#include "eye/tasks/worker/media_root.hpp"

namespace eye::tasks {

void add_worker_options(CLI::App& app, Config& config, WorkerOptions& options) {
    add_settings(app, config, SettingGroup::analysis);
    add_settings(app, config, SettingGroup::ai);
    add_settings(app, config, SettingGroup::ollama);
    add_settings(app, config, SettingGroup::storage);
    options::add_int(app, "--max-jobs", options.max_jobs,
                     "stop after claiming this many jobs (0: no limit)", 0, 1'000'000'000);
    options::add_seconds(app, "--max-time", options.max_time,
                         "stop claiming after this long, e.g. 1h (0: no limit)");
    options::add_seconds(app, "--sleep", options.sleep,
                         "time between polls of an empty queue (a NOTIFY wakes at once)", 0);
    options::add_seconds(app, "--timeout", options.timeout,
                         "how long one analysis may take before it counts as failed, e.g. 5m "
                         "(0: no limit)",
                         0);
    options::add_int(app, "--tries", options.tries, "attempts per job before it fails for good", 1,
                     100);
    options::add_checked_string(
        app, "--backoff", options.backoff,
        "seconds before a failed job is retried: one value doubles with each attempt, a list "
        "such as 10,60,300 is used as is",
        [](const std::string& text) -> std::optional<std::string> {
            if (queue::parse_backoff(text)) {
                return std::nullopt;
            }
            return "expected seconds (0 to 86400), or a comma list such as 10,60,300";
        });
    options::add_switch(app, "--stop-when-empty", options.stop_when_empty,
                        "exit once the queue has no job that is due");
    options::add_int(app, "--concurrency", options.concurrency, "analyses at once in this process",
                     1, 256);
    options::add_duration(app, "--grace", options.grace,
                          "on SIGTERM, time to finish the jobs in hand before giving them back");
    options::add_duration(app, "--heartbeat-interval", options.heartbeat_interval,
                          "how often the worker and its jobs send a heartbeat (keep it well "
                          "inside the monitor's --heartbeat-timeout)",
                          Milliseconds(100));
    options::add_duration(app, "--heartbeat-timeout", options.heartbeat_timeout,
                          "the age at which eye-monitor counts a heartbeat as dead (give both "
                          "the same value; EYE_HEARTBEAT_TIMEOUT sets both)",
                          Milliseconds(1000));
    options::add_duration(app, "--rescue-after", options.rescue_after,
                          "on start, requeue running jobs whose heartbeat is older (0: do not)");
    options::add_list(app, "--laravel-queue", options.laravel_queues,
                      "also take Avinash-EYE's uploads from these queues of Laravel's jobs table "
                      "(e.g. image-processing,default): its App\\Jobs\\ProcessImageAnalysis "
                      "rows, polled every --sleep, move into eye's queue");
}

void validate_worker_options(const Config&, const WorkerOptions& options) {
    // a heartbeat must arrive several times within the time after which a job counts as dead
    // (by the monitor, by this worker's own rescue on start), or a live job is rescued and run
    // twice; --rescue-after 0 switches the worker's own rescue off, not the monitor's
    auto [limit, name] = std::pair{options.heartbeat_timeout, "--heartbeat-timeout"};
    if (options.rescue_after.count() > 0 && options.rescue_after < limit) {
        limit = options.rescue_after;
        name = "--rescue-after";
    }
    if (options.heartbeat_interval * 3 > limit) {
        throw UsageError(
            fmt::format("--heartbeat-interval {} is too long for {} {}: a live job would look "
                        "dead",
                        format_duration(options.heartbeat_interval), name, format_duration(limit)),
            "keep --heartbeat-interval at most a third of --heartbeat-timeout and of "
            "--rescue-after");
    }
}

Outcome run_worker(Context& context, const WorkerOptions& options) {
    // the whole disk as the media root (EYE_MEDIA_ROOT unset and started from /) would make
    // every path in media_files a path on this machine
    std::error_code error;
    if (std::filesystem::weakly_canonical(context.config.media_root, error) == "/") {
        throw ConfigError("the media root is '/', the whole disk",
                          "set EYE_MEDIA_ROOT to the folder media_files.file_path is relative "
                          "to (upstream: storage/app/public)");
    }
    int dimensions = 0;
    {
        db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
        dimensions = db::read_embedding_column(tx).dimensions;
    }
    std::shared_ptr<analyzers::Analyzer> analyzer =
        analyzers::make_analyzer(context.config, dimensions, options.timeout);
    if (analyzer->reads_media_files()) {
        if (auto problem = media_root_problem(context.config.media_root, false)) {
            throw ConfigError(*problem,
                              "set EYE_MEDIA_ROOT to the folder media_files.file_path is "
                              "relative to (upstream: storage/app/public), and mount it");
        }
    }
    analyzers::check_service(context.config);
    return run_worker_with(context, options, std::move(analyzer));
}

}  // namespace eye::tasks
