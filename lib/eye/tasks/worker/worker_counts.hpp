#pragma once

#include <cstdint>
#include <string>

#include "eye/runner/command.hpp"

// What one run of eye-worker did, and the report the runner turns it into (the end line, the
// eye.runs summary, the metrics file).
namespace eye::tasks {

struct WorkerCounts {
    std::int64_t claimed = 0;
    std::int64_t completed = 0;
    std::int64_t retried = 0;
    std::int64_t failed = 0;
    std::int64_t released = 0;
    std::int64_t lost = 0;
    std::int64_t missing = 0;
    std::int64_t not_images = 0;
};

Outcome worker_outcome(const WorkerCounts& counts, const std::string& worker,
                       const std::string& reason);

}  // namespace eye::tasks
