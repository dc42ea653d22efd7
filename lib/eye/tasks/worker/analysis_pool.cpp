#include "eye/tasks/worker/analysis_pool.hpp"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sys/eventfd.h>
#include <unistd.h>

#include <fmt/format.h>

#include "eye/analyzers/media_path.hpp"
#include "eye/core/error.hpp"

namespace eye::tasks {

using analyzers::AnalysisError;

// The queues between the worker and its threads, and the flag that stops analyses in progress.
struct AnalysisPool::Shared {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<AnalysisTask> todo;
    std::deque<FinishedAnalysis> done;
    bool closing = false;
    std::atomic<bool> aborting{false};
    int event_fd = -1;  // readable when `done` has something

    ~Shared() {
        if (event_fd >= 0) {
            close(event_fd);
        }
    }
};

namespace {

FinishedAnalysis analyze_one(analyzers::Analyzer& analyzer, const AnalysisTask& task,
                             const std::filesystem::path& media_root) {
    const queue::ClaimedJob& job = task.job;
    FinishedAnalysis finished;
    finished.token = task.token;
    try {
        analyzers::MediaItem item;
        item.id = job.media_id;
        item.file_path = job.file_path;
        item.mime_type = job.mime_type;
        item.absolute_path = analyzers::resolve_media_path(media_root, job.file_path);
        finished.result = analyzer.analyze(item);
    } catch (const AnalysisError& e) {
        finished.error_kind = e.kind();
        finished.error = e.what();
    } catch (const std::exception& e) {
        finished.error_kind = AnalysisError::Kind::temporary;
        finished.error =
            fmt::format("internal error in the {} analyzer: {}", analyzer.name(), e.what());
    }
    return finished;
}

}  // namespace

AnalysisPool::AnalysisPool(analyzers::Analyzer& analyzer, std::filesystem::path media_root)
    : m_analyzer(analyzer),
      m_media_root(std::move(media_root)),
      m_shared(std::make_shared<Shared>()) {}

AnalysisPool::~AnalysisPool() {
    stop();
}

void AnalysisPool::start(int threads) {
    m_shared->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_shared->event_fd < 0) {
        throw Error(ExitCode::software, "cannot create an eventfd for the analysis threads");
    }
    m_analyzer.set_abort_check([shared = m_shared] { return shared->aborting.load(); });
    for (int i = 0; i < threads; ++i) {
        m_threads.emplace_back(
            [shared = m_shared, analyzer = &m_analyzer, media_root = m_media_root] {
                while (true) {
                    AnalysisTask task;
                    {
                        std::unique_lock lock(shared->mutex);
                        shared->wake.wait(lock,
                                          [&] { return shared->closing || !shared->todo.empty(); });
                        if (shared->todo.empty()) {
                            return;
                        }
                        task = std::move(shared->todo.front());
                        shared->todo.pop_front();
                    }
                    FinishedAnalysis finished = analyze_one(*analyzer, task, media_root);
                    {
                        std::lock_guard lock(shared->mutex);
                        if (shared->closing) {
                            return;  // the worker has given this job back; drop the result
                        }
                        shared->done.push_back(std::move(finished));
                    }
                    std::uint64_t one = 1;
                    [[maybe_unused]] auto n = write(shared->event_fd, &one, sizeof one);
                }
            });
    }
}

void AnalysisPool::submit(std::vector<AnalysisTask> tasks) {
    {
        std::lock_guard lock(m_shared->mutex);
        for (auto& task : tasks) {
            m_shared->todo.push_back(std::move(task));
        }
    }
    m_shared->wake.notify_all();
}

std::deque<FinishedAnalysis> AnalysisPool::take_finished() {
    std::deque<FinishedAnalysis> done;
    std::lock_guard lock(m_shared->mutex);
    done.swap(m_shared->done);
    std::uint64_t drained = 0;
    [[maybe_unused]] auto n = read(m_shared->event_fd, &drained, sizeof drained);
    return done;
}

int AnalysisPool::ready_fd() const {
    return m_shared->event_fd;
}

void AnalysisPool::stop() {
    m_shared->aborting.store(true);
    {
        std::lock_guard lock(m_shared->mutex);
        m_shared->closing = true;
        m_shared->todo.clear();
    }
    m_shared->wake.notify_all();
    for (auto& thread : m_threads) {
        thread.join();
    }
    m_threads.clear();
}

}  // namespace eye::tasks
