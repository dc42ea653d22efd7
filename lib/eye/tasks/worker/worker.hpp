#pragma once

#include <memory>
#include <string>
#include <vector>

#include "eye/analyzers/analyzer.hpp"
#include "eye/runner/command.hpp"

// eye-worker (queue:work): claims analysis jobs from eye.jobs and runs the configured analyzer
// on them, writing every result and eye.media_state in one transaction per job. Flags follow
// Laravel's queue:work. Planned stops (max jobs, max time, empty queue, SIGTERM) exit 0.
namespace eye::tasks {

struct WorkerOptions {
    long long max_jobs = 100;          // 0: no limit
    Milliseconds max_time{3'600'000};  // 0: no limit
    Milliseconds sleep{3'000};         // between polls when the queue is empty
    Milliseconds timeout{300'000};     // per job
    long long tries = 3;
    std::string backoff = "10";  // seconds: one value grows exponentially; a list is used as is
    bool stop_when_empty = false;
    long long concurrency = 1;
    Milliseconds grace{30'000};  // on SIGTERM: time to finish the jobs in hand
    Milliseconds heartbeat_interval{20'000};
    // the age at which the monitor counts a heartbeat as dead (its --heartbeat-timeout, read
    // from the same EYE_HEARTBEAT_TIMEOUT): the worker's heartbeats must come well inside it
    Milliseconds heartbeat_timeout{120'000};
    Milliseconds rescue_after{120'000};  // on start, requeue running jobs silent this long
    // Laravel queues to take Avinash-EYE's uploads from (queue/laravel_bridge.hpp); empty: none
    std::vector<std::string> laravel_queues;
};

void add_worker_options(CLI::App& app, Config& config, WorkerOptions& options);
Outcome run_worker(Context& context, const WorkerOptions& options);
void validate_worker_options(const Config& config, const WorkerOptions& options);

// Runs the worker with a given analyzer (benchmarks and tests link their own). The analysis
// threads share the analyzer; one left behind by a stuck analysis keeps it alive.
Outcome run_worker_with(Context& context, const WorkerOptions& options,
                        std::shared_ptr<analyzers::Analyzer> analyzer);

}  // namespace eye::tasks
