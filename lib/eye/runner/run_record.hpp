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
    std::optional<TimePoint> since;
};

// Tries the session-level advisory lock for `task`. The lock lives as long as the session, and
// the server releases it if the process dies.
bool try_lock(db::Session& session, const std::string& task);
// Releases it at the end of the run (errors ignored: a lost connection released it already).
void unlock(db::Session& session, const std::string& task);
LockHolder find_lock_holder(db::Session& session, const std::string& task);

// The application_name eye sessions use, so a lock holder can be named: "eye-monitor pid=12 h=x".
std::string application_name(const std::string& program);
// How a session of `program` connects: the configured URL, time zone and timeouts, and its
// application_name.
db::ConnectOptions connect_options(const Config& config, const std::string& program);

// Inserts the run's row; returns its id.
// A run that starts as `skipped` is finished at once, with `exit_code`.
std::int64_t begin(db::Session& session, const std::string& task, const std::string& host, int pid,
                   const std::vector<std::string>& args, bool dry_run,
                   RunStatus status = RunStatus::ok, ExitCode exit_code = ExitCode::ok);

// Marks runs left 'running' by processes that no longer have a database session (killed, or
// their machine died) as failed, so they do not look alive for ever. Runs younger than a minute
// are left alone.
// With `locked_task` (whose lock the caller holds), every other running run of that task is
// closed at once, whatever its age.
std::size_t close_abandoned(db::Session& session, std::int64_t except_id,
                            const std::string* locked_task = nullptr);

// Publishes a running run's progress as its summary, where other runs read it (the monitor's
// model pull: {"pulling": "llava:latest", "percent": 42}); finish() replaces it.
void set_progress(db::Session& session, std::int64_t run_id, const std::string& summary_json);
// The summary of the running run of `task` that belongs to `holder`'s process, if any.
std::optional<std::string> running_summary(db::Session& session, const std::string& task,
                                           const LockHolder& holder);

void finish(db::Session& session, std::int64_t run_id, const Outcome& outcome);

}  // namespace eye::run_record
