#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "support/database.hpp"

// Rows for media_files and eye's queue tables in the shapes the tests need, with ages relative
// to the database's now().
namespace eye::testing {

struct MediaRow {
    MediaRow& with_status(std::string value) {
        status = std::move(value);
        return *this;
    }
    MediaRow& started(std::optional<double> minutes) {
        started_minutes_ago = minutes;
        return *this;
    }
    MediaRow& updated(std::optional<double> minutes) {
        updated_minutes_ago = minutes;
        return *this;
    }
    MediaRow& completed(std::optional<double> minutes) {
        completed_minutes_ago = minutes;
        return *this;
    }
    MediaRow& created(std::optional<double> minutes) {
        created_minutes_ago = minutes;
        return *this;
    }
    MediaRow& soft_deleted() {
        deleted = true;
        return *this;
    }
    MediaRow& described(std::string text) {
        description = std::move(text);
        return *this;
    }
    MediaRow& of_type(std::string type) {
        media_type = std::move(type);
        return *this;
    }
    MediaRow& at(std::string path) {
        file_path = std::move(path);
        return *this;
    }

    std::string media_type = "image";
    std::string file_path = "photo.jpg";
    std::string status = "pending";
    std::optional<double> started_minutes_ago;        // processing_started_at
    std::optional<double> updated_minutes_ago = 0.0;  // updated_at
    std::optional<double> completed_minutes_ago;      // processing_completed_at
    std::optional<double> created_minutes_ago = 0.0;
    bool deleted = false;
    std::optional<std::string> description;
};

std::int64_t insert_media(const TestDatabase& db, const MediaRow& row);

// An image in 'processing' since `minutes` ago.
inline MediaRow processing(std::optional<double> minutes) {
    return MediaRow().with_status("processing").started(minutes);
}

struct JobRow {
    explicit JobRow(std::int64_t media) : media_id(media) {}
    // a running job whose last heartbeat was `minutes` ago
    JobRow& running(double minutes) {
        status = "running";
        heartbeat_minutes_ago = minutes;
        return *this;
    }
    JobRow& tried(int done, int allowed = 3) {
        attempts = done;
        max_attempts = allowed;
        return *this;
    }
    JobRow& before(std::string status_before) {
        previous_status = std::move(status_before);
        return *this;
    }
    // how often the job has lost its worker before
    JobRow& rescued(int times) {
        rescues = times;
        return *this;
    }

    std::int64_t media_id = 0;
    std::string status = "queued";
    std::optional<double> heartbeat_minutes_ago;
    int attempts = 0;
    int max_attempts = 3;
    std::string previous_status = "pending";
    int rescues = 0;
};

std::int64_t insert_job(const TestDatabase& db, const JobRow& row);

// "now() - interval 'N minutes'" cast to timestamp (upstream's type), or NULL.
std::string minutes_ago_sql(const std::optional<double>& minutes, bool with_time_zone = false);

}  // namespace eye::testing
