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

// Why a worker stopped for a reason beyond the images, the jobs in hand given back untried.
struct StopCause {
    std::string unavailable;  // the analyzer's service cannot be reached (69)
    std::string media_gone;   // the images' files went away: a dropped mount (74)
    std::string stuck;        // more analyses stuck past --timeout than slots (75)

    bool any() const { return !unavailable.empty() || !media_gone.empty() || !stuck.empty(); }
};

// Logs the cause with its hint and makes `outcome` a failed run with the cause's exit code.
void apply_stop_cause(Outcome& outcome, const StopCause& cause);

// What a worker stopped by a signal says at once while it finishes the jobs in hand: "stopping
// on SIGINT: finishing 1 job, up to --grace 30s; Ctrl-C again to give it back now".
std::string stopping_notice(const char* signal, std::size_t in_hand, Milliseconds grace);

}  // namespace eye::tasks
