#include "support/media.hpp"

#include <fmt/format.h>

namespace eye::testing {
namespace {

std::string quoted(const std::string& text) {
    std::string out = "'";
    for (char c : text) {
        out += c;
        if (c == '\'') {
            out += '\'';
        }
    }
    return out + "'";
}

}  // namespace

std::string minutes_ago_sql(const std::optional<double>& minutes, bool with_time_zone) {
    if (!minutes) {
        return "NULL";
    }
    return fmt::format("(now() - interval '{} seconds'){}", *minutes * 60.0,
                       with_time_zone ? "" : "::timestamp");
}

std::int64_t insert_media(const TestDatabase& db, const MediaRow& row) {
    auto id = db.query_value(fmt::format(
        "INSERT INTO media_files (media_type, file_path, processing_status, "
        "processing_started_at, updated_at, processing_completed_at, created_at, deleted_at, "
        "description) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        quoted(row.media_type), quoted(row.file_path), quoted(row.status),
        minutes_ago_sql(row.started_minutes_ago), minutes_ago_sql(row.updated_minutes_ago),
        minutes_ago_sql(row.completed_minutes_ago), minutes_ago_sql(row.created_minutes_ago),
        row.deleted ? "now()::timestamp" : "NULL",
        row.description ? quoted(*row.description) : "NULL"));
    return std::stoll(id);
}

std::int64_t insert_job(const TestDatabase& db, const JobRow& row) {
    auto id = db.query_value(fmt::format(
        "INSERT INTO eye.jobs (media_id, status, heartbeat_at, started_at, attempts, "
        "max_attempts, previous_status, worker_id, rescues) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        row.media_id, quoted(row.status), minutes_ago_sql(row.heartbeat_minutes_ago, true),
        minutes_ago_sql(row.heartbeat_minutes_ago, true), row.attempts, row.max_attempts,
        quoted(row.previous_status), row.status == "running" ? "'test-worker'" : "NULL",
        row.rescues));
    return std::stoll(id);
}

}  // namespace eye::testing
