#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eye/core/time.hpp"
#include "eye/db/session.hpp"
#include "eye/runner/command.hpp"

// The library's slow counts for eye serve: live completed images by the analyzer and model
// version of their last good analysis, how many are outdated (not by the analyzer and model
// version the worker would use now) and how many are missing an analysis. At a million images
// they take the database about half a second (a join of eye.media_state with media_files'
// completed-image index), too long for every page, so a thread of their own counts them on a
// second session, never more often than once per refresh interval, and the page shows when.
namespace eye::tasks::serve {

struct LibraryCount {
    std::string analyzer;
    std::string model_version;
    std::int64_t images = 0;
};

struct LibraryFigures {
    TimePoint counted;     // the database's time of the count
    double seconds = 0;    // how long it took
    std::string error;     // why the count failed; the figures below are then empty
    std::string analyzer;  // what the worker would analyze with now
    std::string model_version;
    std::int64_t completed = 0;        // live completed images
    std::vector<LibraryCount> by_eye;  // of those, by their last good analysis in eye.media_state
    std::int64_t not_by_eye = 0;       // completed images eye never analyzed (upstream did)
    std::int64_t outdated = 0;         // completed images not analyzed by the current pair (as
                                       // eye-reanalyze --priority=outdated sees them)
    std::int64_t missing = 0;  // pending images, and completed ones without an embedding or a
                               // description (eye-reanalyze --priority=missing)
};

// Counts the library in one read-only, repeatable-read transaction. With `stopping`, gives up
// (throws TempFailError) before its next statement once that is set.
LibraryFigures count_library(db::Session& session, const Config& config,
                             const std::atomic<bool>* stopping = nullptr);

// Counts in the background: once at start, then only while pages ask. latest() gives the last
// count at once and, when it is older than the interval, asks for the next one. The interval is the
// refresh interval, or twenty times the last count's duration when that is longer (the
// counting session is busy at most a twentieth of the time).
class LibraryCounter {
public:
    using Connect = std::function<db::Session()>;
    LibraryCounter(const Config& config, Connect connect, Milliseconds refresh);
    ~LibraryCounter();
    LibraryCounter(const LibraryCounter&) = delete;
    LibraryCounter& operator=(const LibraryCounter&) = delete;

    std::optional<LibraryFigures> latest();

private:
    void run();

    const Config& m_config;
    Connect m_connect;
    Milliseconds m_refresh;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_wanted = true;                  // count at start
    std::atomic<bool> m_stopping = false;  // changed under m_mutex, read without it too
    std::optional<LibraryFigures> m_latest;
    pqxx::connection* m_counting = nullptr;        // the session while it counts, to cancel
    std::chrono::steady_clock::time_point m_next;  // no count asked for before this
    std::thread m_thread;
};

}  // namespace eye::tasks::serve
