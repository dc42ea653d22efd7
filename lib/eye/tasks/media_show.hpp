#pragma once

#include <string>

#include "eye/runner/command.hpp"

// media:show ID|PATH: one image as eye sees it, read-only: its media_files row (the columns the
// table has and this role may read), its analysis in eye.media_state, and its jobs in eye.jobs
// and eye.failed_jobs, newest first.
namespace eye::tasks {

struct MediaShowOptions {
    // An id when it is all digits (soft-deleted rows included); otherwise a path, matched
    // against file_path as given and relative to EYE_MEDIA_ROOT, among live rows.
    std::string target;
    std::string format = "text";
};

void add_media_show_options(CLI::App& app, Config& config, MediaShowOptions& options);
// Throws UsageError for an id too large to be one, TaskFailedError (exit 1) when no image
// matches, as queue:retry exits 1 for an unknown id.
Outcome run_media_show(Context& context, const MediaShowOptions& options);

}  // namespace eye::tasks
