#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <poll.h>
#include <random>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "eye/analyzers/media_path.hpp"
#include "eye/core/error.hpp"
#include "eye/core/host.hpp"
#include "eye/core/stop.hpp"
#include "eye/db/clock.hpp"
#include "eye/db/media.hpp"
#include "eye/json/json.hpp"
#include "eye/learning/current_model.hpp"
#include "eye/log/log.hpp"
#include "eye/queue/backoff.hpp"
#include "eye/queue/laravel_bridge.hpp"
#include "eye/queue/queue.hpp"
#include "eye/queue/workers.hpp"
#include "eye/tasks/worker/analysis_pool.hpp"
#include "eye/tasks/worker/media_root.hpp"
#include "eye/tasks/worker/worker.hpp"
#include "eye/tasks/worker/worker_counts.hpp"

// The worker's main loop: claim, hand to the analysis threads, write what they finish,
// heartbeat, and stop as planned (max jobs, max time, empty queue, a signal, the analyzer's
// service gone) with the jobs in hand finished or given back.
namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;
using analyzers::AnalysisError;

constexpr auto k_claim_cooldown = std::chrono::milliseconds(5);

void log_taken(const queue::ClaimedJob& job) {
    log::warning("job {} (image {}) was taken from this worker; its result is discarded", job.id,
                 job.media_id);
}

class WorkerLoop {
public:
    // The context's database session is the worker's own; the analysis threads share the
    // analyzer, so one left behind by a stuck analysis keeps it alive.
    WorkerLoop(Context& context, const WorkerOptions& options,
               std::shared_ptr<analyzers::Analyzer> analyzer);

    // Runs until a planned stop. On an error (the database went away) the analysis threads are
    // stopped and the jobs in hand given back, if the database still answers, before it leaves.
    Outcome run();

private:
    struct InFlight {
        queue::ClaimedJob job;
        Clock::time_point started;
    };

    Outcome run_loop();
    void start();
    void dispatch(std::vector<queue::ClaimedJob> jobs);
    void write_finished();
    void write_succeeded(std::vector<std::pair<queue::ClaimedJob, FinishedAnalysis>>& succeeded);
    void write_one(const queue::ClaimedJob& job, FinishedAnalysis& finished);
    void heartbeat_if_due(bool force = false);
    void refresh_tag_model();
    void fail_timed_out();
    void wait_for_work(Milliseconds timeout);
    void give_back_in_flight();
    void abandon(std::map<std::uint64_t, InFlight>::iterator flight);
    void stop_threads();

    Context& m_context;
    const WorkerOptions& m_options;
    std::shared_ptr<analyzers::Analyzer> m_analyzer;
    db::Session& m_session;
    std::vector<Milliseconds> m_backoff;
    AnalysisPool m_pool;
    std::optional<db::MediaTable> m_media;
    db::DbClock m_clock;
    std::string m_host;
    std::string m_id;

    // the jobs this worker holds and waits for, by claim token; a job timed out or taken away
    // leaves at once (its analysis is abandoned to the pool)
    std::map<std::uint64_t, InFlight> m_in_flight;
    std::uint64_t m_next_token = 1;
    WorkerCounts m_counts;
    StopCause m_stop;  // why the worker stops before its queue is done, once it must
    MissingFiles m_missing_files;
    Clock::time_point m_next_heartbeat;
    // the current tag model, applied to every analysis it fits; looked up at each heartbeat
    learning::CurrentModelFollower m_tag_models;
    Clock::time_point m_last_claim;
    Clock::time_point m_last_progress;
    // Avinash-EYE's uploads from Laravel's queue, when --laravel-queue names queues
    std::optional<queue::LaravelBridge> m_bridge;
    Clock::time_point m_next_bridge_poll;
};

WorkerLoop::WorkerLoop(Context& context, const WorkerOptions& options,
                       std::shared_ptr<analyzers::Analyzer> analyzer)
    : m_context(context),
      m_options(options),
      m_analyzer(std::move(analyzer)),
      m_session(*context.db),
      m_backoff(queue::parse_backoff(options.backoff).value_or(std::vector<Milliseconds>{})),
      m_pool(m_analyzer, context.config.media_root, static_cast<int>(options.concurrency)),
      m_host(host_name()),
      m_missing_files(context.config.media_root) {
    std::random_device random;
    m_id = fmt::format("{}:{}:{:06x}", m_host, getpid(), random() & 0xffffff);
}

void WorkerLoop::start() {
    {
        db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
        m_clock.sync(queue::database_now(tx));
        m_media = db::MediaTable::read(tx);
        if (!m_options.laravel_queues.empty()) {
            queue::require_laravel_queue(tx);
            m_bridge.emplace(m_options.laravel_queues, static_cast<int>(m_options.tries));
        }
        queue::register_worker(
            tx, {m_id, m_host, static_cast<int>(getpid()), static_cast<int>(m_options.concurrency)},
            m_clock.now());
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
    refresh_tag_model();
    m_pool.start();
    m_next_heartbeat = Clock::now() + m_options.heartbeat_interval;
    m_last_progress = Clock::now();
    log::info("worker {} started: analyzer {} ({}), concurrency {}, media root '{}'", m_id,
              m_analyzer->name(), m_analyzer->model_version(), m_options.concurrency,
              m_context.config.media_root.string());
}

void WorkerLoop::dispatch(std::vector<queue::ClaimedJob> jobs) {
    std::vector<queue::ClaimedJob> missing;
    std::vector<AnalysisTask> tasks;
    for (auto& job : jobs) {
        if (job.media_missing) {
            missing.push_back(job);
            continue;
        }
        std::uint64_t token = m_next_token++;
        m_in_flight[token] = InFlight{job, Clock::now()};
        tasks.push_back(AnalysisTask{token, std::move(job)});
    }
    m_pool.submit(std::move(tasks));
    for (const auto& job : missing) {
        db::Transaction tx(m_session);
        queue::drop_missing(tx, job, m_id, m_clock.now());
        tx.commit();
        if (job.other_media_type.empty()) {
            ++m_counts.missing;
            log::info("job {}: image {} no longer exists; nothing to analyze", job.id,
                      job.media_id);
        } else {
            ++m_counts.not_images;
            log::warning("job {}: media {} is a {}, not an image; left as it is", job.id,
                         job.media_id, job.other_media_type);
        }
    }
}

void WorkerLoop::write_one(const queue::ClaimedJob& job, FinishedAnalysis& finished) {
    auto now = m_clock.now();
    if (finished.result) {
        try {
            db::Transaction tx(m_session);
            // the guard first: a job rescued from us meanwhile must not have its result written
            if (!queue::complete(tx, job, m_id, now)) {
                ++m_counts.lost;
                log_taken(job);
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
        } catch (const DataError& e) {
            // the database refused this result (a value too long for upstream's column, an
            // embedding that does not fit): this image fails, the worker goes on. Any other
            // error (a renamed column, a missing privilege, a failing trigger, the connection)
            // is not this image's and stops the worker, the jobs in hand given back.
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
        if (m_stop.unavailable.empty()) {
            m_stop.unavailable = finished.error;
        }
        return;
    }
    if (*finished.error_kind == AnalysisError::Kind::permanent && m_analyzer->reads_media_files()) {
        if (auto gone = m_missing_files.failed(job.file_path)) {
            // the files went away, not the image: its attempt does not count
            db::Transaction tx(m_session);
            m_counts.released += queue::release(tx, {job.id}, m_id, now);
            tx.commit();
            m_stop.media_gone = *gone;
            return;
        }
    }
    queue::Failure failure;
    failure.kind = *finished.error_kind == AnalysisError::Kind::permanent
                       ? queue::FailureKind::permanent
                       : queue::FailureKind::temporary;
    failure.error = finished.error;
    failure.shown = analyzers::message_for_users(finished.error, m_context.config.media_root,
                                                 m_context.config.ai_shared_prefix);
    db::Transaction tx(m_session);
    auto wait = queue::backoff_for(m_backoff, job.attempts);
    auto outcome = queue::fail(tx, job, m_id, failure, wait, now);
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
        log::warning(
            "job {} (image {}, '{}') failed for good after {} attempt(s): {}; hint: 'eye "
            "queue:retry --media {}' tries the image again",
            job.id, job.media_id, job.file_path, job.attempts, finished.error, job.media_id);
    }
}

// A job leaves m_in_flight only once its outcome is written: should the writing fail (the
// database gone), it is still in hand and is given back.
void WorkerLoop::write_finished() {
    std::deque<FinishedAnalysis> done = m_pool.take_finished();
    std::vector<std::pair<queue::ClaimedJob, FinishedAnalysis>> succeeded;
    std::vector<std::uint64_t> tokens;
    for (auto& finished : done) {
        auto it = m_in_flight.find(finished.token);
        if (it == m_in_flight.end()) {
            continue;
        }
        if (finished.result) {
            m_missing_files.succeeded();
            if (const auto& model = m_tag_models.model()) {
                model->apply(*finished.result);
            }
            tokens.push_back(finished.token);
            succeeded.emplace_back(it->second.job, std::move(finished));
        } else {
            write_one(it->second.job, finished);
            m_in_flight.erase(it);
        }
    }
    write_succeeded(succeeded);
    for (auto token : tokens) {
        m_in_flight.erase(token);
    }
}

// Several finished analyses in one transaction (one commit instead of one each); should any of
// them be refused by the database, the batch is rolled back and each is written on its own, so
// one bad result never holds back the others.
void WorkerLoop::write_succeeded(
    std::vector<std::pair<queue::ClaimedJob, FinishedAnalysis>>& succeeded) {
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
                    log_taken(job);
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
        } catch (const DataError& e) {
            log::debug("writing {} results together failed ({}); writing them one by one",
                       succeeded.size(), e.what());
        }
    }
    for (auto& [job, finished] : succeeded) {
        write_one(job, finished);
    }
}

// A new current version is picked up within a heartbeat.
void WorkerLoop::refresh_tag_model() {
    db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
    if (m_tag_models.refresh(tx) && m_tag_models.model()) {
        log::info("{}", learning::describe(*m_tag_models.model(), m_analyzer->name(),
                                           m_analyzer->model_version()));
    }
}

void WorkerLoop::heartbeat_if_due(bool force) {
    if (!force && Clock::now() < m_next_heartbeat) {
        return;
    }
    m_next_heartbeat = Clock::now() + m_options.heartbeat_interval;
    refresh_tag_model();
    std::vector<std::int64_t> held_ids;
    for (const auto& [token, flight] : m_in_flight) {
        held_ids.push_back(flight.job.id);
    }
    db::Transaction tx(m_session, db::Transaction::Mode::autocommit);
    m_clock.sync(queue::worker_heartbeat(tx, m_id, m_counts.completed, m_counts.failed));
    auto still_held = queue::heartbeat(tx, m_id, held_ids, m_clock.now());
    if (still_held.size() != held_ids.size()) {
        for (auto it = m_in_flight.begin(); it != m_in_flight.end();) {
            auto next = std::next(it);
            if (std::find(still_held.begin(), still_held.end(), it->second.job.id) ==
                still_held.end()) {
                ++m_counts.lost;
                log::warning("job {} (image {}) was taken from this worker while it ran",
                             it->second.job.id, it->second.job.media_id);
                abandon(it);
            }
            it = next;
        }
    }
}

void WorkerLoop::abandon(std::map<std::uint64_t, InFlight>::iterator flight) {
    m_pool.abandon(flight->first);
    m_in_flight.erase(flight);
}

void WorkerLoop::fail_timed_out() {
    if (m_options.timeout.count() <= 0) {
        return;
    }
    auto now = Clock::now();
    for (auto it = m_in_flight.begin(); it != m_in_flight.end();) {
        auto next = std::next(it);
        if (now - it->second.started >= m_options.timeout) {
            // the analysis is told to stop and its thread replaced; whatever it returns later
            // is dropped, so only this failure is written
            FinishedAnalysis timed_out;
            timed_out.error_kind = AnalysisError::Kind::temporary;
            timed_out.error =
                fmt::format("the analysis took longer than {}", format_duration(m_options.timeout));
            write_one(it->second.job, timed_out);
            abandon(it);
        }
        it = next;
    }
}

void WorkerLoop::wait_for_work(Milliseconds timeout) {
    auto next_heartbeat = std::chrono::duration_cast<Milliseconds>(m_next_heartbeat - Clock::now());
    timeout = std::clamp(std::min(timeout, next_heartbeat), Milliseconds(1), Milliseconds(60'000));
    if (m_options.timeout.count() > 0) {
        for (const auto& [token, flight] : m_in_flight) {
            auto left = std::chrono::duration_cast<Milliseconds>(flight.started +
                                                                 m_options.timeout - Clock::now());
            timeout = std::clamp(left, Milliseconds(1), timeout);
        }
    }
    // a requested stop's pipe stays readable (polling it would spin): then watch for another
    pollfd fds[3] = {{m_session.connection().sock(), POLLIN, 0},
                     {m_pool.ready_fd(), POLLIN, 0},
                     {stop::requested() ? stop::again_fd() : stop::wake_fd(), POLLIN, 0}};
    int ready = poll(fds, stop::requested_again() ? 2 : 3, static_cast<int>(timeout.count()));
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        try {
            m_session.connection().get_notifs();
        } catch (...) {
            db::rethrow_database_error("waiting for notifications");
        }
    }
}

void WorkerLoop::give_back_in_flight() {
    std::vector<std::int64_t> ids;
    for (const auto& [token, flight] : m_in_flight) {
        ids.push_back(flight.job.id);
    }
    if (ids.empty()) {
        return;
    }
    db::Transaction tx(m_session);
    auto released = queue::release(tx, ids, m_id, m_clock.now());
    tx.commit();
    for (auto it = m_in_flight.begin(); it != m_in_flight.end();) {
        auto next = std::next(it);
        abandon(it);
        it = next;
    }
    m_counts.released += released;
    log::info("gave {} unfinished job(s) back to the queue", released);
}

// The threads get a second to stop; one that does not (an analysis stuck in a decoder or a
// system call) is left behind, and the process ends without waiting for it.
void WorkerLoop::stop_threads() {
    int left = m_pool.stop(Clock::now() + std::chrono::seconds(1));
    if (left > 0) {
        log::warning("{} analysis thread(s) did not stop; leaving them behind", left);
        stop::leave_threads_behind();
    }
}

Outcome WorkerLoop::run() {
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

Outcome WorkerLoop::run_loop() {
    start();
    auto started = Clock::now();
    std::string reason;
    bool claiming = true;
    while (true) {
        write_finished();
        fail_timed_out();
        heartbeat_if_due();

        if (claiming) {
            if (m_stop.any()) {
                reason = m_stop.unavailable.empty() ? "the images' files are gone"
                                                    : "the analyzer's service is unreachable";
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
            } else if (m_pool.stuck() > m_options.concurrency) {
                // more analyses hang past --timeout than the worker has slots: something is
                // wrong that a fresh process may not have
                reason = fmt::format("{} analyses are stuck past --timeout", m_pool.stuck());
                m_stop.stuck = reason;
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
            const bool bridged = m_bridge && Clock::now() >= m_next_bridge_poll;
            if (bridged) {
                // a full batch: there is more, look again at once
                m_next_bridge_poll = m_bridge->take_uploads(m_session, m_clock.now()).full
                                         ? Clock::now()
                                         : Clock::now() + m_options.sleep;
            }
            std::vector<queue::ClaimedJob> jobs;
            {
                db::Transaction tx(m_session);
                jobs =
                    queue::claim(tx, m_id, want, m_clock.now(), static_cast<int>(m_options.tries));
                // a video's row (queued by hand) is not touched
                m_media->mark_started(tx, queue::image_ids(jobs), m_clock.now());
                tx.commit();
            }
            m_last_claim = Clock::now();
            if (!jobs.empty()) {
                m_counts.claimed += static_cast<std::int64_t>(jobs.size());
                dispatch(std::move(jobs));
                continue;
            }
            if (m_bridge && !bridged) {
                m_next_bridge_poll = Clock::now();  // look at Laravel's queue before idling
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

    // finish what is in hand: all of it on a planned stop, within --grace on a signal, none
    // once the signal comes again
    auto grace_end = Clock::time_point::max();
    while (!m_in_flight.empty()) {
        if (stop::requested() && grace_end == Clock::time_point::max()) {
            grace_end = Clock::now() + m_options.grace;  // also a signal during a planned drain
            log::info("{}",
                      stopping_notice(stop::signal_name(), m_in_flight.size(), m_options.grace));
        }
        if (stop::requested_again()) {
            log::info("{} again: giving the jobs in hand back now", stop::signal_name());
            break;
        }
        if (Clock::now() >= grace_end) {
            log::warning("--grace {} is over", format_duration(m_options.grace));
            break;
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
        queue::worker_stopped(tx, m_id, m_counts.completed, m_counts.failed);
    }
    Outcome result = worker_outcome(m_counts, m_id, reason);
    apply_stop_cause(result, m_stop);
    return result;
}

}  // namespace

Outcome run_worker_with(Context& context, const WorkerOptions& options,
                        std::shared_ptr<analyzers::Analyzer> analyzer) {
    WorkerLoop worker(context, options, std::move(analyzer));
    return worker.run();
}

}  // namespace eye::tasks
