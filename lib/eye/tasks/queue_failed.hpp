#pragma once

#include <string>

#include "eye/runner/command.hpp"

// queue:failed: the jobs that used up their attempts, newest first.
namespace eye::tasks {

struct QueueFailedOptions {
    long long limit = 50;
    std::string format = "text";
};

void add_queue_failed_options(CLI::App& app, Config& config, QueueFailedOptions& options);
Outcome run_queue_failed(Context& context, const QueueFailedOptions& options);

}  // namespace eye::tasks
