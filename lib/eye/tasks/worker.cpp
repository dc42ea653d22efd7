#include "eye/tasks/worker.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <poll.h>
#include <random>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "eye/analyzers/avinash.hpp"
#include "eye/analyzers/builtin.hpp"
#include "eye/analyzers/media_path.hpp"
#include "eye/analyzers/ollama.hpp"
#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/db/media.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/queue/queue.hpp"
#include "eye/runner/run_record.hpp"
#include "eye/services/ai_service.hpp"
#include "eye/services/ollama.hpp"

namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;
using analyzers::AnalysisError;

constexpr auto k_claim_cooldown = std::chrono::milliseconds(5);

using analyzers::AnalysisResult;

// The database's clock, followed locally: heartbeats and due times are compared with the
// database's now() by the monitor, so a worker host whose clock is off must not make a live job
// look dead.
class DbClock {
public:
    void sync(db::TimePoint database_now) {
        m_offset = database_now - std::chrono::system_clock::now();
    }
    db::TimePoint now() const { return std::chrono::system_clock::now() + m_offset; }

private:
    std::chrono::system_clock::duration m_offset{0};
};

// One claim handed to an analysis thread. A job can be claimed again (after a timeout and a
// retry) while a thread still works on its earlier claim, so claims, not jobs, are the key.
struct Task {
    std::uint64_t token = 0;
    queue::ClaimedJob job;
};

// What an analysis thread hands back.
struct Finished {
    std::uint64_t token = 0;
    std::optional<AnalysisResult> result;
    std::optional<AnalysisError::Kind> error_kind;
    std::string error;
};

// The analysis threads and their two queues. Shared with the threads, so a thread still busy
// when the worker gives up on it can finish safely after the worker is gone.
struct Pool {
    std::mutex mutex;
    std::condition_variable wake;
    std::deque<Task> todo;
    std::deque<Finished> done;
    bool closing = false;
    int event_fd = -1;  // readable when `done` has something

    ~Pool() {
        if (event_fd >= 0) {
            close(event_fd);
        }
    }
};

Finished analyze_one(analyzers::Analyzer& analyzer, const Task& task,
                     const std::filesystem::path& media_root) {
    const queue::ClaimedJob& job = task.job;
    Finished finished;
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

void analysis_thread(std::shared_ptr<Pool> pool, analyzers::Analyzer* analyzer,
                     std::filesystem::path media_root) {
    while (true) {
        Task task;
        {
            std::unique_lock lock(pool->mutex);
            pool->wake.wait(lock, [&] { return pool->closing || !pool->todo.empty(); });
            if (pool->todo.empty()) {
                return;
            }
            task = std::move(pool->todo.front());
            pool->todo.pop_front();
        }
        Finished finished = analyze_one(*analyzer, task, media_root);
        {
            std::lock_guard lock(pool->mutex);
            if (pool->closing) {
                return;  // the worker has given this job back; drop the result
            }
            pool->done.push_back(std::move(finished));
        }
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = write(pool->event_fd, &one, sizeof one);
    }
}

// "10" or "10,60,300" (seconds); nullopt when the text is neither.
std::optional<std::vector<Milliseconds>> parse_backoff(const std::string& text) {
    std::vector<Milliseconds> steps;
    std::string_view rest = text;
    while (true) {
        auto comma = rest.find(',');
        std::string part(rest.substr(0, comma));
        char* end = nullptr;
        errno = 0;
        long long seconds = std::strtoll(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || seconds < 0 || errno != 0 || seconds > 86'400) {
            return std::nullopt;
        }
        steps.emplace_back(seconds * 1000);
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    return steps;
}

// The wait before attempt `attempts` + 1: a list is used as is (its last value repeating); one
// value doubles with each attempt, up to an hour.
Milliseconds backoff_for(const std::vector<Milliseconds>& steps, int attempts) {
    if (steps.size() > 1) {
        return steps[static_cast<std::size_t>(
            std::clamp(attempts - 1, 0, static_cast<int>(steps.size()) - 1))];
    }
    auto wait = steps.front();
    for (int i = 1; i < attempts && wait < Milliseconds(3'600'000); ++i) {
        wait *= 2;
    }
    return std::min(wait, Milliseconds(3'600'000));
}

const db::Statement k_db_now{"worker.now", "SELECT extract(epoch from now())"};

const db::Statement k_register_worker{
    "worker.register",
    "INSERT INTO eye.workers (id, host, pid, concurrency, started_at, heartbeat_at) "
    "VALUES ($1, $2, $3, $4, $5::timestamptz, $5::timestamptz)"};

const db::Statement k_worker_heartbeat{
    "worker.heartbeat",
    "UPDATE eye.workers SET heartbeat_at = now(), jobs_done = $2, jobs_failed = $3, "
    "       status = 'running' "
    "WHERE id = $1 RETURNING extract(epoch from now())"};

const db::Statement k_worker_stopped{
    "worker.stopped",
    "UPDATE eye.workers SET status = 'stopped', stopped_at = now(), heartbeat_at = now(), "
    "       jobs_done = $2, jobs_failed = $3 "
    "WHERE id = $1"};

struct Counts {
    std::int64_t claimed = 0;
    std::int64_t completed = 0;
    std::int64_t retried = 0;
    std::int64_t failed = 0;
    std::int64_t released = 0;
    std::int64_t lost = 0;
    std::int64_t missing = 0;
};

class Worker {
public:
    Worker(Context& context, const WorkerOptions& options, analyzers::Analyzer& analyzer)
        : m_context(context),
          m_options(options),
          m_analyzer(analyzer),
          m_session(*context.db),
          m_backoff(parse_backoff(options.backoff).value_or(std::vector<Milliseconds>{})),
          m_pool(std::make_shared<Pool>()) {
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        std::random_device random;
        m_host = host;
        m_id = fmt::format("{}:{}:{:06x}", m_host, getpid(), random() & 0xffffff);
    }

    // Runs until a planned stop. On an error (the database went away) the analysis threads are
    // stopped and the jobs in hand given back, if the database still answers, before it leaves.
    Outcome run();

private:
    Outcome run_loop();
    void start();
    void dispatch(std::vector<queue::ClaimedJob> jobs);
    void write_finished();
    void write_succeeded(std::vector<std::pair<queue::ClaimedJob, Finished>>& succeeded);
    void write_one(const queue::ClaimedJob& job, Finished& finished);
    void heartbeat_if_due(bool force = false);
    void fail_timed_out();
    void wait_for_work(Milliseconds timeout);
    void give_back_in_flight();
    void stop_threads();
    Outcome outcome(const std::string& reason) const;

    Context& m_context;
    const WorkerOptions& m_options;
    analyzers::Analyzer& m_analyzer;
    db::Session& m_session;
    std::vector<Milliseconds> m_backoff;
    std::shared_ptr<Pool> m_pool;
    std::vector<std::thread> m_threads;
    std::optional<db::MediaTable> m_media;
    DbClock m_clock;
    std::string m_host;
    std::string m_id;

    struct InFlight {
        queue::ClaimedJob job;
        Clock::time_point started;
        bool abandoned = false;  // timed out or taken away: its result is not wanted
    };
    std::map<std::uint64_t, InFlight> m_in_flight;  // by claim token
    std::uint64_t m_next_token = 1;
    int m_abandoned_busy = 0;  // threads still working on a job we gave up on
    Counts m_counts;
    // set when the worker stops: analyses still running are abandoned and stop at once
    std::shared_ptr<std::atomic<bool>> m_abandoned = std::make_shared<std::atomic<bool>>(false);
    std::string m_unavailable;  // why the analyzer's service is unreachable, once it was
    Clock::time_point m_next_heartbeat;
    Clock::time_point m_last_claim;
    Clock::time_point m_last_progress;
};

void Worker::start() {
    {
        db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
        m_clock.sync(db::from_epoch(tx.one(k_db_now)[0].as<double>()));
        m_media = db::MediaTable::read(tx);
        tx.none(k_register_worker, m_id, m_host, static_cast<int>(getpid()),
                static_cast<int>(m_options.concurrency), m_clock.now());
        tx.run_sql("listening", fmt::format("LISTEN {}", queue::k_channel));
    }
    if (m_options.rescue_after.count() > 0) {
        db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
        auto now = m_clock.now();
        auto rescued = queue::rescue_stale_jobs(tx, now, now - m_options.rescue_after);
        if (rescued.requeued + rescued.failed > 0) {
            log::info("rescued {} job(s) of dead workers: {} requeued, {} failed",
                      rescued.requeued + rescued.failed, rescued.requeued, rescued.failed);
        }
    }
    m_pool->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m_pool->event_fd < 0) {
        throw Error(ExitCode::software, "cannot create an eventfd for the analysis threads");
    }
    m_analyzer.set_abort_check([abandoned = m_abandoned] { return abandoned->load(); });
    for (long long i = 0; i < m_options.concurrency; ++i) {
        m_threads.emplace_back(analysis_thread, m_pool, &m_analyzer, m_context.config.media_root);
    }
    m_next_heartbeat = Clock::now() + m_options.heartbeat_interval;
    m_last_progress = Clock::now();
    log::info("worker {} started: analyzer {} ({}), concurrency {}, media root '{}'", m_id,
              m_analyzer.name(), m_analyzer.model_version(), m_options.concurrency,
              m_context.config.media_root.string());
}

void Worker::dispatch(std::vector<queue::ClaimedJob> jobs) {
    std::vector<queue::ClaimedJob> missing;
    {
        std::lock_guard lock(m_pool->mutex);
        for (auto& job : jobs) {
            if (job.media_missing) {
                missing.push_back(job);
                continue;
            }
            std::uint64_t token = m_next_token++;
            m_in_flight[token] = InFlight{job, Clock::now()};
            m_pool->todo.push_back(Task{token, std::move(job)});
        }
    }
    m_pool->wake.notify_all();
    for (const auto& job : missing) {
        db::Transaction tx(m_session);
        queue::drop_missing(tx, job, m_id, m_clock.now());
        tx.commit();
        ++m_counts.missing;
        log::info("job {}: image {} no longer exists; nothing to analyze", job.id, job.media_id);
    }
}

void Worker::write_one(const queue::ClaimedJob& job, Finished& finished) {
    auto now = m_clock.now();
    if (finished.result) {
        try {
            db::Transaction tx(m_session);
            // the guard first: a job rescued from us meanwhile must not have its result written
            if (!queue::complete(tx, job, m_id, now)) {
                ++m_counts.lost;
                log::warning(
                    "job {} (image {}) was taken from this worker; its result is "
                    "discarded",
                    job.id, job.media_id);
                return;
            }
            if (!m_media->write_analysis(tx, job.media_id, *finished.result, now)) {
                tx.commit();  // the job is done: there is nothing left to analyze
                ++m_counts.missing;
                log::info("job {}: image {} was deleted during its analysis; result discarded",
                          job.id, job.media_id);
                return;
            }
            tx.commit();
            ++m_counts.completed;
            log::debug("job {}: image {} analyzed", job.id, job.media_id);
            return;
        } catch (const Error& e) {
            if (e.code() == ExitCode::temp_fail) {
                throw;
            }
            // the database refused this result (a value too long for upstream's column, an
            // embedding that does not fit): the job fails, the worker goes on
            finished.result.reset();
            finished.error_kind = AnalysisError::Kind::permanent;
            finished.error = fmt::format("cannot store the analysis: {}", e.what());
        }
    }
    if (*finished.error_kind == AnalysisError::Kind::unavailable) {
        // the service is down: the image is not to blame, so its attempt does not count
        db::Transaction tx(m_session);
        m_counts.released += queue::release(tx, {job.id}, m_id, now);
        tx.commit();
        if (m_unavailable.empty()) {
            m_unavailable = finished.error;
        }
        return;
    }
    auto kind = *finished.error_kind == AnalysisError::Kind::permanent
                    ? queue::FailureKind::permanent
                    : queue::FailureKind::temporary;
    db::Transaction tx(m_session);
    auto wait = backoff_for(m_backoff, job.attempts);
    auto outcome = queue::fail(tx, job, m_id, kind, finished.error, wait, now);
    tx.commit();
    if (!outcome.held) {
        ++m_counts.lost;
        return;
    }
    if (outcome.retried) {
        ++m_counts.retried;
        log::warning("job {} (image {}) failed, attempt {} of {}; retrying in {}: {}", job.id,
                     job.media_id, job.attempts, job.max_attempts, format_duration(wait),
                     finished.error);
    } else {
        ++m_counts.failed;
        log::warning("job {} (image {}) failed for good after {} attempt(s): {}", job.id,
                     job.media_id, job.attempts, finished.error);
    }
}

void Worker::write_finished() {
    std::deque<Finished> done;
    {
        std::lock_guard lock(m_pool->mutex);
        done.swap(m_pool->done);
        std::uint64_t drained = 0;
        [[maybe_unused]] auto n = read(m_pool->event_fd, &drained, sizeof drained);
    }
    std::vector<std::pair<queue::ClaimedJob, Finished>> succeeded;
    for (auto& finished : done) {
        auto it = m_in_flight.find(finished.token);
        if (it == m_in_flight.end()) {
            continue;
        }
        InFlight flight = std::move(it->second);
        m_in_flight.erase(it);
        if (flight.abandoned) {
            --m_abandoned_busy;  // its thread is free again; the job was settled already
            continue;
        }
        if (finished.result) {
            succeeded.emplace_back(std::move(flight.job), std::move(finished));
        } else {
            write_one(flight.job, finished);
        }
    }
    write_succeeded(succeeded);
}

// Several finished analyses in one transaction (one commit instead of one each); should any of
// them be refused by the database, the batch is rolled back and each is written on its own, so
// one bad result never holds back the others.
void Worker::write_succeeded(std::vector<std::pair<queue::ClaimedJob, Finished>>& succeeded) {
    if (succeeded.size() > 1) {
        try {
            auto now = m_clock.now();
            std::int64_t completed = 0;
            std::int64_t lost = 0;
            std::int64_t missing = 0;
            db::Transaction tx(m_session);
            for (auto& [job, finished] : succeeded) {
                if (!queue::complete(tx, job, m_id, now)) {
                    ++lost;
                    log::warning(
                        "job {} (image {}) was taken from this worker; its result is "
                        "discarded",
                        job.id, job.media_id);
                } else if (m_media->write_analysis(tx, job.media_id, *finished.result, now)) {
                    ++completed;
                } else {
                    ++missing;
                }
            }
            tx.commit();
            m_counts.completed += completed;
            m_counts.lost += lost;
            m_counts.missing += missing;
            return;
        } catch (const Error& e) {
            if (e.code() == ExitCode::temp_fail) {
                throw;
            }
            log::debug("writing {} results together failed ({}); writing them one by one",
                       succeeded.size(), e.what());
        }
    }
    for (auto& [job, finished] : succeeded) {
        write_one(job, finished);
    }
}

void Worker::heartbeat_if_due(bool force) {
    if (!force && Clock::now() < m_next_heartbeat) {
        return;
    }
    m_next_heartbeat = Clock::now() + m_options.heartbeat_interval;
    std::vector<std::int64_t> held_ids;
    for (const auto& [token, flight] : m_in_flight) {
        if (!flight.abandoned) {
            held_ids.push_back(flight.job.id);
        }
    }
    db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
    auto row = tx.one(k_worker_heartbeat, m_id, m_counts.completed, m_counts.failed);
    m_clock.sync(db::from_epoch(row[0].as<double>()));
    auto still_held = queue::heartbeat(tx, m_id, held_ids, m_clock.now());
    if (still_held.size() != held_ids.size()) {
        for (auto& [token, flight] : m_in_flight) {
            if (flight.abandoned || std::find(still_held.begin(), still_held.end(),
                                              flight.job.id) != still_held.end()) {
                continue;
            }
            flight.abandoned = true;
            ++m_abandoned_busy;
            ++m_counts.lost;
            log::warning("job {} (image {}) was taken from this worker while it ran", flight.job.id,
                         flight.job.media_id);
        }
    }
}

void Worker::fail_timed_out() {
    if (m_options.timeout.count() <= 0) {
        return;
    }
    auto now = Clock::now();
    for (auto& [token, flight] : m_in_flight) {
        if (flight.abandoned || now - flight.started < m_options.timeout) {
            continue;
        }
        // the thread cannot be interrupted; its slot stays busy until it returns, and its
        // late result is dropped
        flight.abandoned = true;
        ++m_abandoned_busy;
        Finished timed_out;
        timed_out.token = token;
        timed_out.error_kind = AnalysisError::Kind::temporary;
        timed_out.error =
            fmt::format("the analysis took longer than {}", format_duration(m_options.timeout));
        write_one(flight.job, timed_out);
    }
}

void Worker::wait_for_work(Milliseconds timeout) {
    auto next_heartbeat = std::chrono::duration_cast<Milliseconds>(m_next_heartbeat - Clock::now());
    timeout = std::clamp(std::min(timeout, next_heartbeat), Milliseconds(1), Milliseconds(60'000));
    if (m_options.timeout.count() > 0) {
        for (const auto& [token, flight] : m_in_flight) {
            if (!flight.abandoned) {
                auto left = std::chrono::duration_cast<Milliseconds>(
                    flight.started + m_options.timeout - Clock::now());
                timeout = std::clamp(left, Milliseconds(1), timeout);
            }
        }
    }
    // once a stop was requested its pipe stays readable: polling it would spin
    pollfd fds[3] = {{m_session.connection().sock(), POLLIN, 0},
                     {m_pool->event_fd, POLLIN, 0},
                     {stop::wake_fd(), POLLIN, 0}};
    nfds_t count = stop::requested() ? 2 : 3;
    int ready = poll(fds, count, static_cast<int>(timeout.count()));
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        try {
            m_session.connection().get_notifs();
        } catch (...) {
            db::rethrow_database_error("waiting for notifications");
        }
    }
}

void Worker::give_back_in_flight() {
    std::vector<std::int64_t> ids;
    for (auto& [token, flight] : m_in_flight) {
        if (!flight.abandoned) {
            ids.push_back(flight.job.id);
            flight.abandoned = true;
        }
    }
    if (ids.empty()) {
        return;
    }
    db::Transaction tx(m_session);
    auto released = queue::release(tx, ids, m_id, m_clock.now());
    tx.commit();
    m_counts.released += released;
    log::info("gave {} unfinished job(s) back to the queue", released);
}

void Worker::stop_threads() {
    // analyses still in flight were given back or settled: tell them to stop (a service request
    // is cut off at once) and wait for their threads, which never outlive the analyzer
    m_abandoned->store(true);
    {
        std::lock_guard lock(m_pool->mutex);
        m_pool->closing = true;
        m_pool->todo.clear();
    }
    m_pool->wake.notify_all();
    for (auto& thread : m_threads) {
        thread.join();
    }
    m_threads.clear();
}

Outcome Worker::outcome(const std::string& reason) const {
    Outcome result;
    json::Writer w;
    w.begin_object();
    w.field("worker", m_id);
    w.field("stopped_because", reason);
    w.field("claimed", m_counts.claimed);
    w.field("completed", m_counts.completed);
    w.field("retried", m_counts.retried);
    w.field("failed", m_counts.failed);
    w.field("released", m_counts.released);
    w.field("lost", m_counts.lost);
    w.field("missing_images", m_counts.missing);
    w.end_object();
    result.summary_json = w.take();
    result.note =
        fmt::format("{}: {} completed, {} failed, {} retried, {} released", reason,
                    m_counts.completed, m_counts.failed, m_counts.retried, m_counts.released);
    result.metrics = {{"jobs_claimed", static_cast<double>(m_counts.claimed)},
                      {"jobs_completed", static_cast<double>(m_counts.completed)},
                      {"jobs_failed", static_cast<double>(m_counts.failed)},
                      {"jobs_retried", static_cast<double>(m_counts.retried)}};
    return result;
}

Outcome Worker::run() {
    try {
        return run_loop();
    } catch (...) {
        try {
            give_back_in_flight();
        } catch (const std::exception& e) {
            log::warning(
                "could not give the jobs in hand back ({}); once their heartbeat is "
                "stale, eye-monitor --fix or the next worker puts them back",
                e.what());
        }
        stop_threads();
        throw;
    }
}

Outcome Worker::run_loop() {
    start();
    auto started = Clock::now();
    std::string reason;
    bool claiming = true;
    while (true) {
        write_finished();
        fail_timed_out();
        heartbeat_if_due();

        if (claiming) {
            if (!m_unavailable.empty()) {
                reason = "the analyzer's service is unreachable";
                claiming = false;
            } else if (stop::requested()) {
                reason = fmt::format("stopped by {}", stop::signal_name());
                claiming = false;
            } else if (m_options.max_jobs > 0 && m_counts.claimed >= m_options.max_jobs) {
                reason = fmt::format("reached --max-jobs {}", m_options.max_jobs);
                claiming = false;
            } else if (m_options.max_time.count() > 0 &&
                       Clock::now() - started >= m_options.max_time) {
                reason = fmt::format("reached --max-time {}s", m_options.max_time.count() / 1000);
                claiming = false;
            }
        }
        if (!claiming) {
            break;
        }

        int busy = static_cast<int>(m_in_flight.size());
        int free = static_cast<int>(m_options.concurrency) - busy;
        // with analyses still running, wait a moment for more slots to free up, so one claim
        // fills several instead of every finished analysis costing a claim of its own
        if (free > 0 && busy > 0 && Clock::now() - m_last_claim < k_claim_cooldown) {
            wait_for_work(std::chrono::duration_cast<Milliseconds>(k_claim_cooldown -
                                                                   (Clock::now() - m_last_claim)));
            continue;
        }
        if (free > 0) {
            int want = free;
            if (m_options.max_jobs > 0) {
                want = static_cast<int>(
                    std::min<long long>(want, m_options.max_jobs - m_counts.claimed));
            }
            std::vector<queue::ClaimedJob> jobs;
            {
                db::Transaction tx(m_session);
                jobs =
                    queue::claim(tx, m_id, want, m_clock.now(), static_cast<int>(m_options.tries));
                tx.commit();
            }
            m_last_claim = Clock::now();
            if (!jobs.empty()) {
                m_counts.claimed += static_cast<std::int64_t>(jobs.size());
                dispatch(std::move(jobs));
                continue;
            }
            if (m_in_flight.empty() && m_options.stop_when_empty) {
                reason = "the queue is empty";
                break;
            }
        }
        if (Clock::now() - m_last_progress > std::chrono::seconds(30)) {
            m_last_progress = Clock::now();
            log::info("{} claimed, {} completed, {} failed, {} retried so far", m_counts.claimed,
                      m_counts.completed, m_counts.failed, m_counts.retried);
        }
        wait_for_work(free > 0 ? m_options.sleep : Milliseconds(60'000));
    }

    // finish what is in hand: all of it on a planned stop, within --grace on a signal
    auto grace_end = stop::requested() ? Clock::now() + m_options.grace : Clock::time_point::max();
    while (!m_in_flight.empty() &&
           m_in_flight.size() > static_cast<std::size_t>(m_abandoned_busy)) {
        if (Clock::now() >= grace_end) {
            log::warning("--grace {} is over", format_duration(m_options.grace));
            break;
        }
        if (stop::requested() && grace_end == Clock::time_point::max()) {
            grace_end = Clock::now() + m_options.grace;  // a signal during a planned drain
        }
        auto left = std::chrono::duration_cast<Milliseconds>(
            std::min(grace_end, Clock::now() + std::chrono::hours(1)) - Clock::now());
        wait_for_work(std::max(left, Milliseconds(1)));
        write_finished();
        fail_timed_out();
        heartbeat_if_due();
    }
    give_back_in_flight();
    stop_threads();
    {
        db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
        tx.none(k_worker_stopped, m_id, m_counts.completed, m_counts.failed);
    }
    Outcome result = outcome(reason);
    if (!m_unavailable.empty()) {
        log::error(
            "{}; hint: start the service or check its URL; the jobs in hand went back "
            "to the queue untried",
            m_unavailable);
        result.exit = ExitCode::unavailable;
        result.status = RunStatus::failed;
    }
    return result;
}

}  // namespace

void add_worker_options(CLI::App& app, Config& config, WorkerOptions& options) {
    add_settings(app, config, SettingGroup::analysis);
    add_settings(app, config, SettingGroup::ai);
    add_settings(app, config, SettingGroup::ollama);
    add_settings(app, config, SettingGroup::storage);
    options::add_int(app, "--max-jobs", options.max_jobs,
                     "stop after claiming this many jobs (0: no limit)", 0, 1'000'000'000);
    options::add_seconds(app, "--max-time", options.max_time,
                         "stop claiming after this many seconds (0: no limit)");
    options::add_seconds(app, "--sleep", options.sleep,
                         "seconds between polls of an empty queue (a NOTIFY wakes at once)", 0);
    options::add_seconds(app, "--timeout", options.timeout,
                         "seconds one analysis may take before it counts as failed (0: none)", 0);
    options::add_int(app, "--tries", options.tries, "attempts per job before it fails for good", 1,
                     100);
    options::add_checked_string(
        app, "--backoff", options.backoff,
        "seconds before a failed job is retried: one value doubles with each attempt, a list "
        "such as 10,60,300 is used as is",
        [](const std::string& text) -> std::optional<std::string> {
            if (parse_backoff(text)) {
                return std::nullopt;
            }
            return "expected seconds (0 to 86400), or a comma list such as 10,60,300";
        });
    options::add_switch(app, "--stop-when-empty", options.stop_when_empty,
                        "exit once the queue has no job that is due");
    options::add_int(app, "--concurrency", options.concurrency, "analyses at once in this process",
                     1, 256);
    options::add_duration(app, "--grace", options.grace,
                          "on SIGTERM, time to finish the jobs in hand before giving them back");
    options::add_duration(app, "--heartbeat-interval", options.heartbeat_interval,
                          "how often the worker and its jobs send a heartbeat (keep it well "
                          "inside the monitor's --heartbeat-timeout)",
                          Milliseconds(100));
    options::add_duration(app, "--rescue-after", options.rescue_after,
                          "on start, requeue running jobs whose heartbeat is older (0: do not)");
}

std::unique_ptr<analyzers::Analyzer> make_analyzer(const Config& config, int embedding_dimensions,
                                                   Milliseconds per_job_timeout) {
    // a service analyzer, retries included, must give up before the worker's per-job timeout
    auto fit = [&](http::Timeouts& timeouts, http::RetryPolicy& retry) {
        if (per_job_timeout.count() > 0) {
            retry.deadline = std::min(retry.deadline, per_job_timeout * 9 / 10);
            timeouts.total = std::min(timeouts.total, retry.deadline);
        }
    };
    if (config.analyzer == "avinash") {
        if (config.ai_url.empty()) {
            throw ConfigError("the avinash analyzer needs the AI service's URL",
                              "set EYE_AI_URL (e.g. http://python-ai:8000) or choose another "
                              "EYE_ANALYZER");
        }
        auto options = analyzers::avinash_options(config, embedding_dimensions);
        fit(options.timeouts, options.retry);
        return std::make_unique<analyzers::AvinashAnalyzer>(std::move(options));
    }
    if (config.analyzer == "ollama") {
        auto options = analyzers::ollama_options(config, embedding_dimensions);
        fit(options.timeouts, options.retry);
        return std::make_unique<analyzers::OllamaAnalyzer>(std::move(options));
    }
    analyzers::BuiltinOptions options;
    if (embedding_dimensions > 0) {
        options.embedding_dimension = embedding_dimensions;
    }
    return std::make_unique<analyzers::BuiltinAnalyzer>(options);
}

namespace {

// Before claiming anything: a worker whose service is down would only give every job back.
void check_service(const Config& config) {
    http::Timeouts timeouts{std::min(config.http_timeout, Milliseconds(3'000)),
                            config.http_timeout};
    if (config.analyzer == "avinash") {
        services::AiServiceClient client(config.ai_url, config.ai_token, timeouts);
        auto health = client.health();
        if (!health && health.error().kind == services::ServiceError::Kind::http_status &&
            (health.error().http_status == 401 || health.error().http_status == 403)) {
            throw ConfigError(
                fmt::format("the AI service refused eye's credentials: {}", health.error().message),
                "check EYE_AI_TOKEN");
        }
        if (!health && health.error().kind != services::ServiceError::Kind::http_status) {
            throw UnavailableError(
                fmt::format("the AI service is unavailable: {}", health.error().message),
                "start it, or check EYE_AI_URL");
        }
        if (health && !health->ready()) {
            log::warning(
                "the AI service says '{}' (models loaded: {}); analyses will be "
                "retried until it is ready",
                health->status, health->models_loaded ? "yes" : "no");
        }
    } else if (config.analyzer == "ollama") {
        services::OllamaClient client(config.ollama_url, timeouts);
        auto installed = client.tags();
        if (!installed) {
            throw UnavailableError(
                fmt::format("ollama is unavailable: {}", installed.error().message),
                "start it, or check EYE_OLLAMA_URL");
        }
        for (const auto& model : {config.ollama_vision_model, config.ollama_embed_model}) {
            if (!model.empty() && !services::has_model(*installed, model)) {
                throw UnavailableError(
                    fmt::format("ollama has no model '{}'", services::normalize_model_name(model)),
                    "'eye-monitor --fix' pulls the models in EYE_OLLAMA_MODELS");
            }
        }
    }
}

}  // namespace

void validate_worker_options(const Config&, const WorkerOptions& options) {
    // a heartbeat must arrive several times within the time after which a job counts as dead,
    // or a live job is rescued and run twice
    if (options.rescue_after.count() > 0 && options.heartbeat_interval * 3 > options.rescue_after) {
        throw UsageError(
            fmt::format("--heartbeat-interval {} is too long for --rescue-after {}: a live job "
                        "would look dead",
                        format_duration(options.heartbeat_interval),
                        format_duration(options.rescue_after)),
            "keep --heartbeat-interval at most a third of --rescue-after and of the monitor's "
            "--heartbeat-timeout");
    }
}

Outcome run_worker_with(Context& context, const WorkerOptions& options,
                        analyzers::Analyzer& analyzer) {
    Worker worker(context, options, analyzer);
    return worker.run();
}

Outcome run_worker(Context& context, const WorkerOptions& options) {
    int dimensions = 0;
    {
        db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
        dimensions = db::read_embedding_column(tx).dimensions;
    }
    auto analyzer = make_analyzer(context.config, dimensions, options.timeout);
    check_service(context.config);
    return run_worker_with(context, options, *analyzer);
}

}  // namespace eye::tasks
