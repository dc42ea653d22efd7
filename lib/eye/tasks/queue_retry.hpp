#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eye/runner/command.hpp"

// queue:retry ID...|all, or --media IMAGE_ID...: puts failed jobs back in the queue (one job per
// image, as always) and removes them from eye.failed_jobs, in one transaction. An id that is no
// failed job's is an error whose hint says what it is instead (the job's id, an image's).
namespace eye::tasks {

struct QueueRetryOptions {
    std::vector<std::string> ids;     // failed job ids, or the single word "all"
    std::vector<std::int64_t> media;  // --media: image ids
    std::string format = "text";
};

void add_queue_retry_options(CLI::App& app, Config& config, QueueRetryOptions& options);
// Exactly one of: failed job ids (or 'all'), --media.
void validate_queue_retry(const Config& config, const QueueRetryOptions& options);
Outcome run_queue_retry(Context& context, const QueueRetryOptions& options);

}  // namespace eye::tasks
