#include "eye/runner/run_record.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/core/host.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"

namespace eye::run_record {
namespace {

// first key of every eye advisory lock: "eye" in ASCII; the second is a hash of the task name
constexpr std::int32_t k_lock_class = 0x657965;

std::int32_t lock_key(const std::string& task) {
    std::uint32_t hash = 2166136261u;  // FNV-1a, stable across builds and hosts
    for (unsigned char c : task) {
        hash = (hash ^ c) * 16777619u;
    }
    return static_cast<std::int32_t>(hash & 0x7fffffffu);
}

const db::Statement k_try_lock{"runner.try_lock", "SELECT pg_try_advisory_lock($1, $2)"};
const db::Statement k_unlock{"runner.unlock", "SELECT pg_advisory_unlock($1, $2)"};

const db::Statement k_lock_holder{
    "runner.lock_holder",
    "SELECT a.application_name, extract(epoch from a.backend_start) "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1::int::oid "
    "  AND l.objid = $2::int::oid AND l.objsubid = 2 "
    "LIMIT 1"};

const db::Statement k_holder_run{
    "runner.holder_run",
    "SELECT extract(epoch from started_at) FROM eye.runs "
    "WHERE task = $1 AND host = $2 AND pid = $3::int AND status = 'running' "
    "ORDER BY started_at DESC LIMIT 1"};

const db::Statement k_insert_run{
    "runner.insert_run",
    "INSERT INTO eye.runs (task, host, pid, args, dry_run, status, finished_at, exit_code) "
    "VALUES ($1, $2, $3, $4::jsonb, $5, $6, "
    "        CASE WHEN $6 = 'running' THEN NULL ELSE now() END, "
    "        CASE WHEN $6 = 'running' THEN NULL ELSE $7::int END) "
    "RETURNING id"};

// A run is abandoned when no database session belongs to its process any more: eye sessions
// are named "<program> pid=<pid> host=<host>" (the host cut to fit 63 characters). Killed
// workers and imports leave such rows as well as locked tasks.
#define EYE_RUN_PROCESS_GONE                                                                \
    "NOT EXISTS ("                                                                          \
    "  SELECT 1 FROM pg_stat_activity a "                                                   \
    "  WHERE split_part(split_part(a.application_name, ' pid=', 2), ' ', 1) = r.pid::text " \
    "    AND split_part(a.application_name, ' host=', 2) <> '' "                            \
    "    AND left(r.host, length(split_part(a.application_name, ' host=', 2))) = "          \
    "        split_part(a.application_name, ' host=', 2))"

const db::Statement k_close_abandoned{
    "runner.close_abandoned",
    "UPDATE eye.runs r "
    "SET status = 'failed', finished_at = now(), "
    "    summary = jsonb_build_object('error', "
    "                                 'abandoned: the process ended without finishing its run') "
    "WHERE r.status = 'running' AND r.id <> $1 AND r.started_at < now() - interval '1 minute' "
    "  AND " EYE_RUN_PROCESS_GONE};

// While we hold a task's lock, no other run of it can be alive, whatever its age, but for one
// that gave the lock back early and goes on (the monitor's model pull): its process still has
// its session.
const db::Statement k_close_unlocked{
    "runner.close_unlocked",
    "UPDATE eye.runs r SET status = 'failed', finished_at = now(), "
    "       summary = jsonb_build_object('error', 'abandoned: the process ended without "
    "finishing its run') "
    "WHERE r.task = $1 AND r.status = 'running' AND r.id <> $2 AND " EYE_RUN_PROCESS_GONE};

#undef EYE_RUN_PROCESS_GONE

const db::Statement k_set_progress{"runner.set_progress",
                                   "UPDATE eye.runs SET summary = $2::jsonb "
                                   "WHERE id = $1 AND status = 'running'"};

const db::Statement k_running_summary{
    "runner.running_summary",
    "SELECT summary::text FROM eye.runs "
    "WHERE task = $1 AND host = $2 AND pid = $3::int AND status = 'running' "
    "ORDER BY started_at DESC LIMIT 1"};

const db::Statement k_finish_run{
    "runner.finish_run",
    "UPDATE eye.runs SET finished_at = now(), status = $2, exit_code = $3, "
    "       summary = $4::jsonb "
    "WHERE id = $1"};

std::string field_after(const std::string& text, const std::string& key) {
    auto at = text.find(key);
    if (at == std::string::npos) {
        return {};
    }
    at += key.size();
    auto end = text.find(' ', at);
    return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

std::string application_name(const std::string& program) {
    std::string name = fmt::format("{} pid={} host={}", program, getpid(), host_name());
    return name.substr(0, 63);
}

db::ConnectOptions connect_options(const Config& config, const std::string& program) {
    db::ConnectOptions options;
    options.url = config.database_url;
    options.application_name = application_name(program);
    options.time_zone = config.db_timezone;
    options.statement_timeout = config.statement_timeout;
    options.connect_timeout = config.connect_timeout;
    return options;
}

bool try_lock(db::Session& session, const std::string& task) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    return tx.one(k_try_lock, k_lock_class, lock_key(task))[0].as<bool>();
}

void unlock(db::Session& session, const std::string& task) {
    try {
        db::Transaction tx(session, db::Transaction::Mode::autocommit);
        tx.one(k_unlock, k_lock_class, lock_key(task));
    } catch (const eye::Error&) {
        // the connection is gone: the server released the lock with it
    }
}

LockHolder find_lock_holder(db::Session& session, const std::string& task) {
    LockHolder holder;
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    auto row = tx.at_most_one(k_lock_holder, k_lock_class, lock_key(task));
    if (!row) {
        return holder;
    }
    std::string app = (*row)[0].is_null() ? std::string() : (*row)[0].as<std::string>();
    if (auto pid = field_after(app, "pid="); !pid.empty()) {
        holder.pid = pid;
    }
    if (auto host = field_after(app, "host="); !host.empty()) {
        holder.host = host;
    }
    if (!(*row)[1].is_null()) {
        holder.since = from_epoch((*row)[1].as<double>());
    }
    if (holder.pid != "?") {
        auto run = tx.at_most_one(k_holder_run, task, holder.host, holder.pid);
        if (run && !(*run)[0].is_null()) {
            holder.since = from_epoch((*run)[0].as<double>());
        }
    }
    return holder;
}

std::int64_t begin(db::Session& session, const std::string& task, const std::string& host, int pid,
                   const std::vector<std::string>& args, bool dry_run, RunStatus status,
                   ExitCode exit_code) {
    json::Writer w;
    w.begin_array();
    for (const auto& arg : args) {
        w.value(log::redact(arg));
    }
    w.end_array();
    std::string status_name(status == RunStatus::ok ? "running" : run_status_name(status));
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    return tx
        .one(k_insert_run, task, host, pid, w.take(), dry_run, status_name, to_int(exit_code))[0]
        .as<std::int64_t>();
}

std::size_t close_abandoned(db::Session& session, std::int64_t except_id,
                            const std::string* locked_task) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    std::size_t closed = tx.none(k_close_abandoned, except_id);
    if (locked_task != nullptr) {
        closed += tx.none(k_close_unlocked, *locked_task, except_id);
    }
    return closed;
}

void set_progress(db::Session& session, std::int64_t run_id, const std::string& summary_json) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    tx.none(k_set_progress, run_id, summary_json);
}

std::optional<std::string> running_summary(db::Session& session, const std::string& task,
                                           const LockHolder& holder) {
    if (holder.pid == "?") {
        return std::nullopt;
    }
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    auto row = tx.at_most_one(k_running_summary, task, holder.host, holder.pid);
    if (!row || (*row)[0].is_null()) {
        return std::nullopt;
    }
    return (*row)[0].as<std::string>();
}

void finish(db::Session& session, std::int64_t run_id, const Outcome& outcome) {
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    // a summary quotes messages, and a message can quote what should never be stored
    tx.none(k_finish_run, run_id, std::string(run_status_name(outcome.status)),
            to_int(outcome.exit), log::redact(outcome.summary_json));
}

}  // namespace eye::run_record
