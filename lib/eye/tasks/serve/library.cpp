#include "eye/tasks/serve/library.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/db/schema.hpp"
#include "eye/log/log.hpp"
#include "eye/tasks/reanalyze.hpp"

namespace eye::tasks::serve {
namespace {

using Clock = std::chrono::steady_clock;

const std::string k_completed_sql = fmt::format(
    "SELECT count(*) FROM media_files WHERE media_type = 'image' AND {}", db::k_completed_rows);
const db::Statement k_completed{"serve.library.completed", k_completed_sql.c_str()};

// Every completed image's id from eye_media_files_completed (index only), joined with
// eye.media_state: one pass over each, whatever the number of analyzer and model version pairs.
const std::string k_by_eye_sql = fmt::format(
    "SELECT s.analyzer, coalesce(s.model_version, ''), count(*) "
    "FROM eye.media_state s JOIN media_files m ON m.id = s.media_id "
    "WHERE m.media_type = 'image' AND m.{} AND s.analyzer IS NOT NULL "
    "GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
    "deleted_at IS NULL AND m.processing_status = 'completed'");
const db::Statement k_by_eye{"serve.library.by_eye", k_by_eye_sql.c_str()};

// Counted along eye_media_files_missing or eye_media_files_undescribed, whose predicates these
// are.
const std::string k_missing_sql = fmt::format(
    "SELECT count(*) FROM media_files WHERE media_type = 'image' AND {}", db::missing_rows(true));
const db::Statement k_missing{"serve.library.missing", k_missing_sql.c_str()};
const std::string k_undescribed_sql = fmt::format(
    "SELECT count(*) FROM media_files WHERE media_type = 'image' AND {}", db::missing_rows(false));
const db::Statement k_undescribed{"serve.library.undescribed", k_undescribed_sql.c_str()};

}  // namespace

LibraryFigures count_library(db::Session& session, const Config& config,
                             const std::atomic<bool>* stopping) {
    auto go_on = [stopping] {
        if (stopping != nullptr && *stopping) {
            throw TempFailError("the library count was stopped");
        }
    };
    const auto started = Clock::now();
    LibraryFigures figures;
    db::Transaction tx(session);
    // one view of the library for every count; the join's hash table in memory; one core, so
    // that the page's own snapshot never waits for a CPU behind the count's parallel workers
    tx.run_sql("starting the count",
               "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; "
               "SET LOCAL work_mem = '64MB'; SET LOCAL max_parallel_workers_per_gather = 0");
    // (not the snapshot's "now()": benchmarks tell a snapshot by its clock read)
    figures.counted = from_epoch(
        tx.run_sql("reading the time", "SELECT extract(epoch from transaction_timestamp())")[0][0]
            .as<double>());
    go_on();
    const CurrentAnalyzer current = current_analyzer(config, tx);
    figures.analyzer = current.name;
    figures.model_version = current.model_version;
    go_on();
    figures.completed = tx.one(k_completed)[0].as<std::int64_t>();
    go_on();
    std::int64_t by_eye = 0;
    std::int64_t by_current = 0;
    for (const auto& row : tx.many(k_by_eye)) {
        LibraryCount count{row[0].as<std::string>(), row[1].as<std::string>(),
                           row[2].as<std::int64_t>()};
        by_eye += count.images;
        if (count.analyzer == current.name && count.model_version == current.model_version) {
            by_current = count.images;
        }
        figures.by_eye.push_back(std::move(count));
    }
    figures.not_by_eye = std::max<std::int64_t>(0, figures.completed - by_eye);
    figures.outdated = std::max<std::int64_t>(0, figures.completed - by_current);
    // an analyzer that gives no embeddings is not asked for one, as in eye-reanalyze
    go_on();
    const bool embedding_counts =
        current.gives_embeddings &&
        db::read_embedding_column(tx).kind != db::EmbeddingColumn::Kind::missing;
    go_on();
    figures.missing = tx.one(embedding_counts ? k_missing : k_undescribed)[0].as<std::int64_t>();
    figures.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return figures;
}

LibraryCounter::LibraryCounter(const Config& config, Connect connect, Milliseconds refresh)
    : m_config(config),
      m_connect(std::move(connect)),
      m_refresh(refresh),
      m_thread([this] { run(); }) {}

LibraryCounter::~LibraryCounter() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        if (m_counting != nullptr) {
            // the statement under way ends now, and the count stops before its next one,
            // rather than hold the shutdown up to their timeouts
            try {
                m_counting->cancel_query();
            } catch (const std::exception&) {
            }
        }
    }
    m_wake.notify_one();
    m_thread.join();
}

std::optional<LibraryFigures> LibraryCounter::latest() {
    std::lock_guard lock(m_mutex);
    if (!m_wanted && Clock::now() >= m_next) {
        m_wanted = true;
        m_wake.notify_one();
    }
    return m_latest;
}

void LibraryCounter::run() {
    std::optional<db::Session> session;
    while (true) {
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [this] { return m_wanted || m_stopping; });
            if (m_stopping) {
                return;
            }
            m_next = Clock::time_point::max();  // none asked for while this one runs
        }
        const auto started = Clock::now();
        LibraryFigures figures;
        try {
            if (!session) {
                session = m_connect();
            }
            {
                std::lock_guard lock(m_mutex);
                if (m_stopping) {
                    return;
                }
                m_counting = &session->connection();
            }
            figures = count_library(*session, m_config, &m_stopping);
        } catch (const std::exception& e) {
            {
                std::lock_guard lock(m_mutex);
                if (m_stopping) {
                    return;  // cancelled on the way out: nothing to report
                }
            }
            figures = LibraryFigures{};
            figures.counted = std::chrono::system_clock::now();
            figures.error = e.what();
            log::warning("could not count the library: {}", e.what());
        }
        std::lock_guard lock(m_mutex);
        m_counting = nullptr;
        if (!figures.error.empty()) {
            session.reset();  // connect again for the next count
        }
        const auto took = Clock::now() - started;
        m_latest = std::move(figures);
        m_wanted = false;
        m_next = Clock::now() + std::max<Clock::duration>(m_refresh, 20 * took);
    }
}

}  // namespace eye::tasks::serve
