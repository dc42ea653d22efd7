#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eye/db/session.hpp"

// The analysis queue in eye.jobs (design §5). Claiming is one statement with FOR UPDATE SKIP
// LOCKED; at most one queued or running job exists per image and kind; every change that races
// with a worker is a single guarded statement whose WHERE re-checks status and age.
namespace eye::queue {

// The channel enqueue NOTIFYs, so idle workers wake at once.
constexpr const char* k_channel = "eye_jobs";
constexpr const char* k_kind_analyze = "analyze";

struct StuckJobs {
    std::int64_t stale = 0;      // running jobs whose heartbeat is older than the cutoff
    std::int64_t exhausted = 0;  // of those, jobs with no attempts left
};

// Counts running jobs whose heartbeat is older than `heartbeat_cutoff`.
StuckJobs count_stale_jobs(db::Transaction& tx, db::TimePoint heartbeat_cutoff);

struct Rescue {
    std::int64_t requeued = 0;  // back in the queue, image back to the status it had before
    std::int64_t failed = 0;    // attempts used up: moved to eye.failed_jobs
};

// Puts running jobs whose heartbeat is older than `heartbeat_cutoff` back in the queue, or into
// eye.failed_jobs when their attempts are used up, in one statement. A job whose worker sent a
// heartbeat or finished meanwhile is left alone. Images return to the status they had before
// the claim; an image whose last attempt died keeps a good earlier analysis (status completed)
// and is marked failed otherwise.
Rescue rescue_stale_jobs(db::Transaction& tx, db::TimePoint now, db::TimePoint heartbeat_cutoff);

}  // namespace eye::queue
