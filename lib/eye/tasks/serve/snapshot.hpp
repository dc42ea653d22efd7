#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eye/core/time.hpp"
#include "eye/runner/command.hpp"
#include "eye/tasks/monitor/report.hpp"
#include "eye/tasks/serve/library.hpp"

// What eye serve shows, read at once: the monitor's checks (read-only), the queue, the library,
// the workers, the failed jobs and the schedule's recent runs. Every query is read-only and
// indexed; the page, /api/status and /metrics all render the same snapshot.
namespace eye::tasks::serve {

struct QueueFigures {
    std::int64_t queued = 0;
    std::int64_t running = 0;
    std::int64_t failed = 0;
    double oldest_wait_seconds = 0;
};

struct Count {
    std::string name;  // a processing_status
    std::int64_t count = 0;
};

// A running job a worker holds.
struct HeldJob {
    std::int64_t job_id = 0;
    std::int64_t media_id = 0;
    std::string file_path;
    double seconds = 0;  // since it started
};

struct WorkerRow {
    std::string id;
    std::string host;
    int pid = 0;
    double heartbeat_age_seconds = 0;
    std::int64_t holds = 0;  // running jobs
    std::int64_t done = 0;
    std::int64_t failed = 0;
    std::vector<HeldJob> held;  // the first 10 of them, oldest first
};

struct FailedRow {
    std::int64_t id = 0;  // FAILED ID, what queue:retry takes
    std::int64_t job_id = 0;
    std::int64_t media_id = 0;
    std::string file_path;
    TimePoint failed_at;
    std::string error;
};

struct RunMark {
    TimePoint started;
    std::string status;  // ok | warning | failed | skipped | running
    std::optional<double> seconds;
};

struct TaskRow {
    std::string name;        // "eye-monitor --fix"
    std::string expression;  // "*/5 * * * *", "" for a long-running task
    std::optional<TimePoint> next_due;
    std::vector<RunMark> runs;  // the last 20, oldest first
};

// Analyses that ended in one period: completed (eye.jobs) and failed for good (eye.failed_jobs).
struct Bucket {
    TimePoint start;
    std::int64_t completed = 0;
    std::int64_t failed = 0;
};

// A model version the learning loop trained, with its held-out scores where it has them.
struct ModelRow {
    std::string version;
    std::string status;  // running | succeeded | failed
    bool current = false;
    std::optional<double> precision;
    std::optional<double> recall;
};

struct Snapshot {
    TimePoint taken;
    monitor::Report checks;
    monitor::Status overall = monitor::Status::unknown;
    bool database = false;  // the figures below were read
    QueueFigures queue;
    std::vector<Count> images_by_status;
    // the slow counts, from LibraryCounter: as of their own time, none before the first
    std::optional<LibraryFigures> library;
    std::vector<WorkerRow> workers;
    std::vector<FailedRow> failed;
    std::vector<TaskRow> schedule;
    // per 10 minutes over the last 24 hours (144, oldest first), and per day over 30 days as far
    // as the history reaches (eye-cleanup keeps --keep-completed of completed jobs)
    std::vector<Bucket> recent;
    std::vector<Bucket> daily;
    std::vector<ModelRow> models;  // the last 20, oldest first
};

// Reads a snapshot. `context.db` may be null (the database is down): the checks say so and the
// figures stay empty.
Snapshot take_snapshot(Context& context);

// /api/status: the snapshot as one JSON document.
std::string snapshot_json(const Snapshot& snapshot);

// /metrics: Prometheus' text format.
std::string snapshot_metrics(const Snapshot& snapshot);

}  // namespace eye::tasks::serve
