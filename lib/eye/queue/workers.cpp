#include "eye/queue/workers.hpp"

namespace eye::queue {
namespace {

const db::Statement k_db_now{"workers.now", "SELECT extract(epoch from now())"};

const db::Statement k_register_worker{
    "workers.register",
    "INSERT INTO eye.workers (id, host, pid, concurrency, started_at, heartbeat_at) "
    "VALUES ($1, $2, $3, $4, $5::timestamptz, $5::timestamptz)"};

const db::Statement k_worker_heartbeat{
    "workers.heartbeat",
    "UPDATE eye.workers SET heartbeat_at = now(), jobs_done = $2, jobs_failed = $3, "
    "       status = 'running' "
    "WHERE id = $1 RETURNING extract(epoch from now())"};

const db::Statement k_worker_stopped{
    "workers.stopped",
    "UPDATE eye.workers SET status = 'stopped', stopped_at = now(), heartbeat_at = now(), "
    "       jobs_done = $2, jobs_failed = $3 "
    "WHERE id = $1"};

}  // namespace

TimePoint database_now(db::Transaction& tx) {
    return from_epoch(tx.one(k_db_now)[0].as<double>());
}

void register_worker(db::Transaction& tx, const WorkerRecord& worker, TimePoint now) {
    tx.none(k_register_worker, worker.id, worker.host, worker.pid, worker.concurrency, now);
}

TimePoint worker_heartbeat(db::Transaction& tx, const std::string& worker_id,
                           std::int64_t completed, std::int64_t failed) {
    return from_epoch(tx.one(k_worker_heartbeat, worker_id, completed, failed)[0].as<double>());
}

void worker_stopped(db::Transaction& tx, const std::string& worker_id, std::int64_t completed,
                    std::int64_t failed) {
    tx.none(k_worker_stopped, worker_id, completed, failed);
}

}  // namespace eye::queue
