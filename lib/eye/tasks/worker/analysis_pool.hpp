#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "eye/analyzers/analyzer.hpp"
#include "eye/queue/queue.hpp"

// The worker's analysis threads: claimed jobs go in, finished analyses come out, and a file
// descriptor says when some are waiting, so one poll() covers them, the database and signals.
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
    // The analyzer must outlive the pool; it is called from `threads` threads at once.
    AnalysisPool(analyzers::Analyzer& analyzer, std::filesystem::path media_root);
    ~AnalysisPool();  // stop()
    AnalysisPool(const AnalysisPool&) = delete;
    AnalysisPool& operator=(const AnalysisPool&) = delete;

    // Starts the threads and installs the analyzer's abort check. Throws Error (exit 70) when
    // the notification descriptor cannot be made.
    void start(int threads);

    void submit(std::vector<AnalysisTask> tasks);

    // Every analysis finished since the last call, and the descriptor cleared.
    std::deque<FinishedAnalysis> take_finished();

    // Readable while finished analyses wait to be taken.
    int ready_fd() const;

    // Drops the tasks not started yet, tells the analyses in progress to stop (a service
    // request is cut off at once; their results are dropped) and joins the threads. Idempotent.
    void stop();

private:
    struct Shared;
    analyzers::Analyzer& m_analyzer;
    std::filesystem::path m_media_root;
    std::shared_ptr<Shared> m_shared;
    std::vector<std::thread> m_threads;
};

}  // namespace eye::tasks
