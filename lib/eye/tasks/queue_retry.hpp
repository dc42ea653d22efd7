#pragma once

#include <string>
#include <vector>

#include "eye/runner/command.hpp"

// queue:retry ID...|all: puts failed jobs back in the queue (one job per image, as always) and
// removes them from eye.failed_jobs, in one transaction.
namespace eye::tasks {

struct QueueRetryOptions {
    std::vector<std::string> ids;  // numbers, or the single word "all"
    std::string format = "text";
};

void add_queue_retry_options(CLI::App& app, Config& config, QueueRetryOptions& options);
Outcome run_queue_retry(Context& context, const QueueRetryOptions& options);

}  // namespace eye::tasks
