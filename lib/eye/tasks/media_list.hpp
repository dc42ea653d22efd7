#pragma once

#include <string>

#include "eye/runner/command.hpp"

// media:list: live images of one processing status, most recent first, read-only. Each order is
// one that eye's indexes on media_files hold, so a list never scans the table: pending,
// completed and all by id; failed by updated_at (when they failed); processing by when their
// analysis started.
namespace eye::tasks {

struct MediaListOptions {
    std::string status = "all";  // pending, processing, completed, failed or all
    long long limit = 50;
    std::string format = "text";
};

void add_media_list_options(CLI::App& app, Config& config, MediaListOptions& options);
Outcome run_media_list(Context& context, const MediaListOptions& options);

}  // namespace eye::tasks
