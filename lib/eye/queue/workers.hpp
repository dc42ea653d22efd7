#pragma once

#include <cstdint>
#include <string>

#include "eye/db/session.hpp"

// eye.workers: one row per worker process with its heartbeat and counts, which the monitor's
// workers check and the status page read.
namespace eye::queue {

struct WorkerRecord {
    std::string id;  // "host:pid:random"
    std::string host;
    int pid = 0;
    int concurrency = 1;
};

// The database's now(), for a worker to follow its clock.
TimePoint database_now(db::Transaction& tx);

void register_worker(db::Transaction& tx, const WorkerRecord& worker, TimePoint now);

// Refreshes the worker's heartbeat and counts; returns the database's now().
TimePoint worker_heartbeat(db::Transaction& tx, const std::string& worker_id,
                           std::int64_t completed, std::int64_t failed);

void worker_stopped(db::Transaction& tx, const std::string& worker_id, std::int64_t completed,
                    std::int64_t failed);

}  // namespace eye::queue
