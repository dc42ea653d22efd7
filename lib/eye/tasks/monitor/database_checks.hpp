#pragma once

#include <cstdint>
#include <string>

#include "eye/db/session.hpp"
#include "eye/runner/command.hpp"
#include "eye/tasks/monitor/monitor.hpp"
#include "eye/tasks/monitor/report.hpp"

// The monitor's checks of the database and what it holds: the connection and schema, the queue,
// stuck images, stuck jobs and the workers. With --fix the stuck ones are repaired.
namespace eye::tasks::monitor {

struct DatabaseState {
    bool usable = false;  // connected and the eye schema is current: the other checks can run
    std::string reason;   // why not, for the checks that then say unknown
};

// Connection, latency and schema version. Fills `state` for the checks that need the schema.
Check check_database(Context& context, const MonitorOptions& options, DatabaseState& state);

struct QueueFigures {
    std::int64_t queued = 0;
    std::int64_t ready = 0;  // queued and due now
    double oldest_ready_seconds = 0;
};

// eye.jobs by status, the oldest wait, eye.failed_jobs, and Laravel's jobs and failed_jobs where
// they exist beside media_files.
Check check_queue(db::Session& session, TimePoint now, const MonitorOptions& options,
                  QueueFigures& figures);

// Images 'processing' for longer than --stuck-after with no live job; --fix resets them to
// pending and queues one analysis each, in one guarded UPDATE.
Check check_stuck_media(db::Session& session, TimePoint now, const MonitorOptions& options,
                        bool dry_run, Report& report);

// Running jobs without a heartbeat for --heartbeat-timeout; --fix requeues them (or moves them to
// the failed jobs when no attempt is left).
Check check_stuck_jobs(db::Session& session, TimePoint now, const MonitorOptions& options,
                       bool dry_run, Report& report);

// Workers alive by their heartbeat; critical when jobs are due and none is.
Check check_workers(db::Session& session, TimePoint now, const MonitorOptions& options,
                    const QueueFigures& queue);

}  // namespace eye::tasks::monitor
