#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "eye/db/session.hpp"
#include "eye/runner/command.hpp"

// The run's footprint in the database: the advisory lock named after the task and its eye.runs
// row.
namespace eye::run_record {

// Who holds a task's lock, as far as the database can tell.
struct LockHolder {
    std::string host = "?";
    std::string pid = "?";
    std::optional<db::TimePoint> since;
};

// Tries the session-level advisory lock for `task`. The lock lives as long as the session, and
// the server releases it if the process dies.
bool try_lock(db::Session& session, const std::string& task);
LockHolder find_lock_holder(db::Session& session, const std::string& task);

// The application_name eye sessions use, so a lock holder can be named: "eye-monitor pid=12 h=x".
std::string application_name(const std::string& program);

// Inserts the run's row; returns its id.
std::int64_t begin(db::Session& session, const std::string& task, const std::string& host, int pid,
                   const std::vector<std::string>& args, bool dry_run,
                   RunStatus status = RunStatus::ok);

// Marks rows of `task` left 'running' by processes that died as failed. Only safe while holding
// the task's lock.
std::size_t close_abandoned(db::Session& session, const std::string& task, std::int64_t except_id);

void finish(db::Session& session, std::int64_t run_id, const Outcome& outcome);

}  // namespace eye::run_record
