#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "eye/db/session.hpp"

// Avinash-EYE's uploads, taken from Laravel's queue table (`jobs`) into eye.jobs. The web app
// dispatches App\Jobs\ProcessImageAnalysis for every upload; eye-worker --laravel-queue takes
// those jobs over, so an upload is analyzed exactly once whichever worker (eye's, or a PHP
// `queue:work` still running) gets there first. Laravel cannot NOTIFY, so the bridge polls.
namespace eye::queue {

// In the JSON Laravel writes the class name's backslashes are escaped: this text is in the rows
// of ProcessImageAnalysis and of no other class.
inline constexpr std::string_view k_image_job_marker =
    R"("displayName":"App\\Jobs\\ProcessImageAnalysis")";

struct BridgePoll {
    std::int64_t taken = 0;   // Laravel rows moved into eye.jobs and deleted
    std::int64_t queued = 0;  // of those, new eye jobs (the others had one queued already)
    std::int64_t left = 0;    // ProcessImageAnalysis rows left where they are (see below)
    bool full = false;        // a whole batch was read: there may be more
};

class LaravelBridge {
public:
    // `queues`: the Laravel queues to take from ("image-processing", "default"). `attempts`: the
    // eye jobs' --tries.
    LaravelBridge(std::vector<std::string> queues, int attempts, int batch = 200);

    // One poll, in the caller's transaction: claims up to a batch of available, unreserved
    // ProcessImageAnalysis rows of the queues in one statement (FOR UPDATE SKIP LOCKED, as
    // Laravel's own DatabaseQueue claims), reads each image id from its payload, queues the live
    // images' analyses in eye.jobs and deletes those Laravel rows. Rows it cannot use stay
    // untouched and are logged once: a payload it cannot read, an id with no live row, a row
    // that is not an image (upstream's own worker handles videos and documents). Other job
    // classes are never even locked. Walks the table forward by id, so rows left behind never
    // hide newer ones, and starts over from the first row once a minute. The caller commits.
    BridgePoll poll(db::Transaction& tx, TimePoint now);

    // poll() in a transaction of its own, committed; logs what it took.
    BridgePoll take_uploads(db::Session& session, TimePoint now);

    const std::vector<std::string>& queues() const { return m_queues; }

private:
    std::vector<std::string> m_queues;
    int m_attempts;
    int m_batch;
    std::string m_claim_name;
    std::string m_claim_sql;
    std::int64_t m_after = 0;           // the last Laravel id seen; 0: from the start
    TimePoint m_started_over{};         // when the walk last started over from the first row
    std::set<std::int64_t> m_reported;  // Laravel ids already logged as left
};

// Throws ConfigError (78) when this database has no Laravel queue table for --laravel-queue.
void require_laravel_queue(db::Transaction& tx);

}  // namespace eye::queue
