#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eye/analyzers/analyzer.hpp"
#include "eye/queue/queue.hpp"

// The worker's analysis threads: claimed jobs go in, finished analyses come out, and a file
// descriptor says when some are waiting, so one poll() covers them, the database and signals.
//
// An analysis that hangs (a decoder stuck on a hostile file, a service that never answers) must
// cost neither its slot nor the shutdown: the worker abandons it, its result is dropped whenever
// it comes, a new thread takes its place, and stop() leaves such threads behind after its
// deadline instead of waiting for them. The threads share ownership of the analyzer and of the
// pool's state, so a thread left behind never touches freed memory.
namespace eye::tasks {

// One claim handed to a thread. A job can be claimed again (after a timeout and a retry) while
// a thread still works on its earlier claim, so claims, not jobs, are the key: the token.
struct AnalysisTask {
    std::uint64_t token = 0;
    queue::ClaimedJob job;
};

// What a thread hands back: a result, or the error and its kind.
struct FinishedAnalysis {
    std::uint64_t token = 0;
    std::optional<AnalysisResult> result;
    std::optional<analyzers::AnalysisError::Kind> error_kind;
    std::string error;
};

class AnalysisPool {
public:
    // `threads` analyses at once; the analyzer is called from that many threads at once.
    AnalysisPool(std::shared_ptr<analyzers::Analyzer> analyzer, std::filesystem::path media_root,
                 int threads);
    ~AnalysisPool();  // stop() with a deadline of one second
    AnalysisPool(const AnalysisPool&) = delete;
    AnalysisPool& operator=(const AnalysisPool&) = delete;

    // Starts the threads and installs the analyzer's abort check. Throws Error (exit 70) when
    // the notification descriptor cannot be made.
    void start();

    void submit(std::vector<AnalysisTask> tasks);

    // Every analysis finished since the last call (never an abandoned one), and the descriptor
    // cleared.
    std::deque<FinishedAnalysis> take_finished();

    // Readable while finished analyses wait to be taken.
    int ready_fd() const;

    // Gives up on the analysis of `token`: it is told to stop (a service request is cut off),
    // its result is dropped whenever it comes, and a new thread takes its slot at once.
    void abandon(std::uint64_t token);

    // Threads still working on an abandoned analysis.
    int stuck() const;

    // Drops the tasks not started yet, tells the analyses in progress to stop, and waits for the
    // threads until `deadline`. Returns how many threads were still running then; they are left
    // to finish (or the process to end) on their own. Idempotent.
    int stop(std::chrono::steady_clock::time_point deadline);

private:
    struct Shared;
    static void run_thread(std::shared_ptr<Shared> shared,
                           std::shared_ptr<analyzers::Analyzer> analyzer,
                           std::filesystem::path media_root, std::shared_ptr<bool> ended);
    void spawn();  // with the mutex held
    void reap();   // joins threads that have ended; with the mutex held

    std::shared_ptr<analyzers::Analyzer> m_analyzer;
    std::filesystem::path m_media_root;
    int m_threads;
    std::shared_ptr<Shared> m_shared;
};

}  // namespace eye::tasks
