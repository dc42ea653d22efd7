#include "eye/tasks/worker/analysis_pool.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "eye/analyzers/media_path.hpp"
#include "eye/core/error.hpp"

namespace eye::tasks {

using analyzers::AnalysisError;

// What the worker and its threads share. Counted so that, at every moment, `wanted` threads are
// free to take work: a thread stuck on an abandoned analysis is replaced, and once it returns
// the surplus thread ends.
struct AnalysisPool::Shared {
    struct Thread {
        std::thread thread;
        // set by the thread as it leaves; its own share, since a thread left behind by stop()
        // outlives its entry in `threads`
        std::shared_ptr<bool> ended = std::make_shared<bool>(false);
    };

    std::mutex mutex;
    std::condition_variable wake;    // tasks arrived, the pool is closing, or a thread is surplus
    std::condition_variable exited;  // a thread ended
    std::deque<AnalysisTask> todo;
    std::deque<FinishedAnalysis> done;
    // the analyses in progress, each with the flag that tells it to stop
    std::map<std::uint64_t, std::shared_ptr<std::atomic<bool>>> running;
    std::set<std::uint64_t> abandoned;  // running analyses whose results are unwanted
    std::list<Thread> threads;
    int wanted = 0;
    int alive = 0;
    int stuck = 0;  // alive threads working on an abandoned analysis
    bool closing = false;
    std::atomic<bool> aborting{false};
    int event_fd = -1;  // readable when `done` has something

    bool surplus() const { return alive - stuck > wanted; }

    ~Shared() {
        if (event_fd >= 0) {
            close(event_fd);
        }
    }
};

namespace {

// The stop flag of the analysis this thread is working on, for the analyzer's abort check, which
// services call from the thread that makes the request.
thread_local const std::atomic<bool>* t_current_abort = nullptr;

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
        item.media_root = media_root;
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

// The body of one analysis thread. It owns a share of everything it touches, so it may outlive
// the pool (a thread left behind by stop()).
void AnalysisPool::run_thread(std::shared_ptr<Shared> shared,
                              std::shared_ptr<analyzers::Analyzer> analyzer,
                              std::filesystem::path media_root, std::shared_ptr<bool> ended) {
    auto end = [&] {
        *ended = true;
        --shared->alive;
        shared->exited.notify_all();
    };
    while (true) {
        AnalysisTask task;
        std::shared_ptr<std::atomic<bool>> abort;
        {
            std::unique_lock lock(shared->mutex);
            shared->wake.wait(lock, [&] {
                return shared->closing || !shared->todo.empty() || shared->surplus();
            });
            if (shared->closing || shared->surplus()) {
                end();
                return;
            }
            task = std::move(shared->todo.front());
            shared->todo.pop_front();
            abort = std::make_shared<std::atomic<bool>>(false);
            shared->running[task.token] = abort;
        }
        t_current_abort = abort.get();
        FinishedAnalysis finished = analyze_one(*analyzer, task, media_root);
        t_current_abort = nullptr;
        bool ready = false;
        {
            std::lock_guard lock(shared->mutex);
            shared->running.erase(task.token);
            if (shared->abandoned.erase(task.token) > 0) {
                --shared->stuck;  // its result is not wanted: dropped here, never handed back
            } else if (!shared->closing) {
                shared->done.push_back(std::move(finished));
                ready = true;
            }
            if (shared->closing || shared->surplus()) {
                end();
                if (ready) {
                    std::uint64_t one = 1;
                    [[maybe_unused]] auto n = write(shared->event_fd, &one, sizeof one);
                }
                return;
            }
        }
        if (ready) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto n = write(shared->event_fd, &one, sizeof one);
        }
    }
}

AnalysisPool::AnalysisPool(std::shared_ptr<analyzers::Analyzer> analyzer,
                           std::filesystem::path media_root, int threads)
    : m_analyzer(std::move(analyzer)),
      m_media_root(std::move(media_root)),
      m_threads(threads),
      m_shared(std::make_shared<Shared>()) {}

AnalysisPool::~AnalysisPool() {
    stop(std::chrono::steady_clock::now() + std::chrono::seconds(1));
}

void AnalysisPool::start() {
    m_shared->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_shared->event_fd < 0) {
        throw Error(ExitCode::software, "cannot create an eventfd for the analysis threads");
    }
    m_analyzer->set_abort_check([shared = m_shared] {
        return shared->aborting.load() || (t_current_abort != nullptr && t_current_abort->load());
    });
    std::lock_guard lock(m_shared->mutex);
    m_shared->wanted = m_threads;
    for (int i = 0; i < m_threads; ++i) {
        spawn();
    }
}

void AnalysisPool::spawn() {
    auto& entry = m_shared->threads.emplace_back();
    ++m_shared->alive;
    entry.thread = std::thread(run_thread, m_shared, m_analyzer, m_media_root, entry.ended);
}

void AnalysisPool::reap() {
    for (auto it = m_shared->threads.begin(); it != m_shared->threads.end();) {
        if (*it->ended) {
            it->thread.join();  // it has left its loop; at most a moment away from its end
            it = m_shared->threads.erase(it);
        } else {
            ++it;
        }
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
    reap();
    return done;
}

int AnalysisPool::ready_fd() const {
    return m_shared->event_fd;
}

void AnalysisPool::abandon(std::uint64_t token) {
    std::lock_guard lock(m_shared->mutex);
    auto& todo = m_shared->todo;
    auto& done = m_shared->done;
    auto waiting = std::find_if(todo.begin(), todo.end(),
                                [token](const AnalysisTask& task) { return task.token == token; });
    if (waiting != todo.end()) {
        todo.erase(waiting);
        return;
    }
    auto finished = std::find_if(done.begin(), done.end(),
                                 [token](const FinishedAnalysis& f) { return f.token == token; });
    if (finished != done.end()) {
        done.erase(finished);
        return;
    }
    auto running = m_shared->running.find(token);
    if (running == m_shared->running.end() || m_shared->abandoned.count(token) != 0) {
        return;
    }
    running->second->store(true);
    m_shared->abandoned.insert(token);
    ++m_shared->stuck;
    if (!m_shared->closing) {
        spawn();
    }
    reap();
}

int AnalysisPool::stuck() const {
    std::lock_guard lock(m_shared->mutex);
    return m_shared->stuck;
}

int AnalysisPool::stop(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(m_shared->mutex);
    if (m_shared->closing) {
        return m_shared->alive;  // stopped already: what is left was left behind then
    }
    m_shared->closing = true;
    m_shared->aborting.store(true);
    m_shared->todo.clear();
    m_shared->wake.notify_all();
    m_shared->exited.wait_until(lock, deadline, [&] { return m_shared->alive == 0; });
    reap();
    // what is left is stuck past the deadline: it runs on without us, on its share of the state
    for (auto& entry : m_shared->threads) {
        entry.thread.detach();
    }
    m_shared->threads.clear();
    return m_shared->alive;
}

}  // namespace eye::tasks
