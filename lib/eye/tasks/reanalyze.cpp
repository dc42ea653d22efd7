#include "eye/tasks/reanalyze.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <ostream>
#include <set>

#include <fmt/format.h>

#include "eye/analyzers/factory.hpp"
#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/learning/current_model.hpp"
#include "eye/log/log.hpp"
#include "eye/queue/queue.hpp"

namespace eye::tasks {
namespace {

// Re-analyses wait behind new images, which are queued at the default priority of 100.
constexpr int k_reanalysis_priority = 200;

// Images with a queued or running job are not picked again (jobs_one_active serves this).
constexpr const char* k_not_queued =
    "NOT EXISTS (SELECT 1 FROM eye.jobs j WHERE j.media_id = m.id AND j.kind = 'analyze' "
    "AND j.status IN ('queued', 'running'))";

std::string columns() {
    return "m.id, m.file_path, m.processing_status";
}

// Every selection takes $1 media type, $2 batch size, $3 --max-reanalyze-attempts; images
// whose last that many analyses all failed are left out by every priority, or a handful of
// broken files would be picked first in every run and re-analysis would never move on.
constexpr const char* k_not_hopeless =
    "NOT EXISTS (SELECT 1 FROM eye.media_state h WHERE h.media_id = m.id "
    "AND h.consecutive_failures >= $3)";

// A selection walks its index reading only what the index holds (the id and the sort key), and
// the file path and status of the few rows it picks are read afterwards: a batch visits the
// table for 25 rows, not for every queued or hopeless row it walks past.
std::string select_then_read(const std::string& key, const std::string& where,
                             const std::string& order) {
    return fmt::format(
        "SELECT {0} FROM (SELECT m.id, {1} AS k FROM media_files m WHERE {2} "
        "                 ORDER BY {1}{3}, m.id LIMIT $2) p "
        "JOIN media_files m ON m.id = p.id ORDER BY p.k{3}, p.id",
        columns(), key, where, order);
}

std::string oldest_sql() {
    return select_then_read("m.processing_completed_at",
                            fmt::format("m.media_type = $1 AND {} AND {} AND {}", db::k_oldest_rows,
                                        k_not_queued, k_not_hopeless),
                            " NULLS FIRST");
}

std::string failed_sql() {
    return select_then_read("m.updated_at",
                            fmt::format("m.media_type = $1 AND {} AND {} AND {}", db::k_failed_rows,
                                        k_not_queued, k_not_hopeless),
                            "");
}

// $4 current analyzer, $5 current model version. An image whose last analysis by this analyzer
// and model version succeeded lacks only what that analyzer cannot give (an embedding of an SVG,
// a description the model left empty): picking it again would change nothing, run after run.
std::string missing_sql(bool embedding_counts) {
    return select_then_read(
        "m.id",
        fmt::format("m.media_type = $1 AND {} AND {} AND {} AND NOT EXISTS (SELECT 1 FROM "
                    "eye.media_state s WHERE s.media_id = m.id AND s.status = 'completed' AND "
                    "s.analyzer = $4 AND s.model_version = $5)",
                    db::missing_rows(embedding_counts), k_not_queued, k_not_hopeless),
        "");
}

// $4 current analyzer, $5 current model version. Rows analyzed by eye with another analyzer or
// model version come from eye.media_state's (analyzer, model_version, media_id) index in four
// plain range scans around the current pair; a row comparison would read the whole index.
std::string outdated_sql() {
    std::string state_part = fmt::format(
        "SELECT {} FROM eye.media_state s JOIN media_files m ON m.id = s.media_id "
        "WHERE {{}} AND m.media_type = $1 AND {} AND {} AND s.consecutive_failures < $3 "
        "ORDER BY s.analyzer, s.model_version, s.media_id LIMIT $2",
        columns(), db::k_completed_rows, k_not_queued);
    auto part = [&](const char* range) {
        return fmt::format("({})", fmt::format(fmt::runtime(state_part), range));
    };
    return fmt::format("{} UNION ALL {} UNION ALL {} UNION ALL {} LIMIT $2",
                       part("s.analyzer < $4"), part("s.analyzer = $4 AND s.model_version < $5"),
                       part("s.analyzer = $4 AND s.model_version > $5"), part("s.analyzer > $4"));
}

// Completed images eye never analyzed (upstream did) have no eye.media_state row; finding them
// is an anti-join that no index can answer, so a run walks windows of the completed images, on
// from where the last run stopped. $4 the id to start after, $5 the window's size, $6 the
// largest id to look at. The first row also says how far the window reached (its last id and
// its size), even when nothing in it qualifies.
std::string unanalyzed_sql() {
    // the window's ids come from the index alone, and eye.media_state is read as one range of its
    // primary key beside them rather than probed once per id
    return fmt::format(
        "WITH win AS (SELECT m.id FROM media_files m WHERE m.media_type = $1 AND {0} "
        "             AND m.id > $4 AND m.id <= $6 ORDER BY m.id LIMIT $5), "
        "reach AS (SELECT coalesce(min(id), 0) AS first_id, coalesce(max(id), 0) AS last_id, "
        "          count(*) AS size FROM win), "
        "fresh AS (SELECT id FROM win EXCEPT SELECT s.media_id FROM eye.media_state s, reach "
        "          WHERE s.media_id BETWEEN reach.first_id AND reach.last_id "
        "            AND s.analyzer IS NOT NULL), "
        "found AS (SELECT {1} FROM fresh f JOIN media_files m ON m.id = f.id "
        "          WHERE {2} AND {3} ORDER BY m.id LIMIT $2) "
        "SELECT found.id, found.file_path, found.processing_status, reach.last_id, reach.size "
        "FROM reach LEFT JOIN found ON true ORDER BY found.id",
        db::k_completed_rows, columns(), k_not_queued, k_not_hopeless);
}

constexpr int k_window_size = 5'000;

// Uniform sampling without sorting the table: random ids between the smallest and the largest,
// kept when they are candidates ("oldest" would consider them). Every candidate is equally
// likely to be hit, so the kept ones are a uniform sample. $4 probes, $5 ids already picked.
std::string random_probe_sql() {
    return fmt::format(
        "WITH bounds AS (SELECT min(id) AS lo, max(id) AS hi FROM media_files), "
        "probes AS (SELECT DISTINCT b.lo + floor(random() * (b.hi - b.lo + 1))::bigint AS id "
        "           FROM bounds b, generate_series(1, $4::int) WHERE b.lo IS NOT NULL) "
        "SELECT {} FROM probes p JOIN media_files m ON m.id = p.id "
        "WHERE m.media_type = $1 AND {} AND m.id <> ALL($5::bigint[]) AND {} AND {} "
        "ORDER BY random() LIMIT $2",
        columns(), db::k_oldest_rows, k_not_queued, k_not_hopeless);
}

// When candidates are too sparse among the ids for probing to find enough, they are few: take a
// random sample of all of them. $4 ids already picked.
std::string random_all_sql() {
    return fmt::format(
        "SELECT {} FROM media_files m WHERE m.media_type = $1 AND {} AND "
        "m.id <> ALL($4::bigint[]) AND {} AND {} ORDER BY random() LIMIT $2",
        columns(), db::k_oldest_rows, k_not_queued, k_not_hopeless);
}

const db::Statement k_density{
    "reanalyze.density",
    "SELECT coalesce((SELECT reltuples FROM pg_class WHERE oid = "
    "                 to_regclass('eye_media_files_oldest')), -1), "
    "       coalesce((SELECT max(id) - min(id) + 1 FROM media_files), 0)"};

const db::Statement k_read_cursor{"reanalyze.read_cursor",
                                  "SELECT value FROM eye.cursors WHERE name = $1"};

const db::Statement k_write_cursor{
    "reanalyze.write_cursor",
    "INSERT INTO eye.cursors (name, value) VALUES ($1, $2) "
    "ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = now()"};

const db::Statement k_embedding_exists{
    "reanalyze.embedding_exists",
    "SELECT count(*) > 0 FROM pg_attribute WHERE attrelid = to_regclass('media_files') "
    "AND attname = 'embedding' AND NOT attisdropped"};

// Statement texts built at run time live here, so the Statement's pointers stay valid.
struct Query {
    std::string name;
    std::string sql;
    db::Statement statement() const { return {name.c_str(), sql.c_str()}; }
};

std::vector<Selection> read_rows(const pqxx::result& rows) {
    std::vector<Selection> out;
    for (const auto& row : rows) {
        out.push_back({row[0].as<std::int64_t>(), row[1].is_null() ? "" : row[1].as<std::string>(),
                       row[2].as<std::string>()});
    }
    return out;
}

std::vector<Selection> select_random(db::Transaction& tx, const ReanalyzeOptions& options) {
    static const Query probe{"reanalyze.random_probe", random_probe_sql()};
    static const Query all{"reanalyze.random_all", random_all_sql()};
    auto density_row = tx.one(k_density);
    double candidates = density_row[0].as<double>();
    double span = density_row[1].as<double>();
    double density = span > 0 && candidates > 0 ? std::min(1.0, candidates / span) : 0.01;

    std::vector<Selection> picked;
    std::vector<std::int64_t> picked_ids;
    auto need = [&] { return options.batch - static_cast<long long>(picked.size()); };
    double probes =
        std::ceil(2.0 * static_cast<double>(options.batch) / std::max(density, 1e-4)) + 16;
    for (int round = 0; round < 8 && need() > 0; ++round) {
        int count = static_cast<int>(std::min(probes, 200'000.0));
        auto rows = read_rows(tx.many(probe.statement(), options.media_type, need(),
                                      options.max_reanalyze_attempts, count, picked_ids));
        for (auto& row : rows) {
            picked_ids.push_back(row.id);
            picked.push_back(std::move(row));
        }
        probes *= 2;
    }
    if (need() > 0) {
        auto rows = read_rows(tx.many(all.statement(), options.media_type, need(),
                                      options.max_reanalyze_attempts, picked_ids));
        picked.insert(picked.end(), rows.begin(), rows.end());
    }
    return picked;
}

// Adds completed images eye never analyzed. Windows are walked on from the stored position,
// wrapping around to the start once, until the batch is full, every completed image was looked
// at, or the walk budget (ReanalyzeOptions::walk_budget) has passed; the next run goes on from
// there. A dry run walks the same way and leaves the position alone.
void select_unanalyzed(db::Transaction& tx, const ReanalyzeOptions& options,
                       std::vector<Selection>& rows, bool remember_position) {
    static const Query candidates{"reanalyze.unanalyzed", unanalyzed_sql()};
    constexpr std::int64_t k_no_limit = std::numeric_limits<std::int64_t>::max();
    std::string cursor_name = "reanalyze.outdated:" + options.media_type;
    std::int64_t stored = 0;
    if (auto row = tx.at_most_one(k_read_cursor, cursor_name)) {
        stored = (*row)[0].as<std::int64_t>();
    }
    auto deadline = std::chrono::steady_clock::now() + options.walk_budget;
    std::int64_t start = stored;
    std::int64_t upto = k_no_limit;  // after wrapping around: up to where the walk began
    std::int64_t next = stored;      // where the next run starts
    while (static_cast<long long>(rows.size()) < options.batch) {
        long long need = options.batch - static_cast<long long>(rows.size());
        auto result = tx.many(candidates.statement(), options.media_type, need,
                              options.max_reanalyze_attempts, start, k_window_size, upto);
        for (const auto& row : result) {
            if (!row[0].is_null()) {
                rows.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(),
                                row[2].as<std::string>()});
            }
        }
        bool reached_end = result[0][4].as<std::int64_t>() < k_window_size;
        next = reached_end ? 0 : result[0][3].as<std::int64_t>();
        if (static_cast<long long>(rows.size()) >= options.batch) {
            next = rows.back().id;  // the next run starts right after what this one took
            break;
        }
        if (reached_end) {
            if (upto != k_no_limit || stored == 0) {
                break;  // every completed image was looked at
            }
            start = 0;
            upto = stored;
        } else {
            start = result[0][3].as<std::int64_t>();
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            break;
        }
    }
    if (remember_position && next != stored) {
        tx.none(k_write_cursor, cursor_name, next);
    }
}

// The images a priority would consider but --max-reanalyze-attempts leaves out: $1 media type,
// $2 the attempts; outdated: $3 analyzer, $4 model version. eye.media_state's few failing rows
// come from their own index (media_state_failing), each image by its primary key.
std::string left_out_sql(const std::string& priority, bool embedding_counts) {
    std::string rows = priority == "failed"     ? std::string(db::k_failed_rows)
                       : priority == "missing"  ? db::missing_rows(embedding_counts)
                       : priority == "outdated" ? fmt::format(
                                                      "{} AND NOT (h.analyzer = $3 AND "
                                                      "h.model_version = $4)",
                                                      db::k_completed_rows)
                                                : std::string(db::k_oldest_rows);
    return fmt::format(
        "SELECT count(*) FROM eye.media_state h "
        "WHERE h.consecutive_failures > 0 AND h.consecutive_failures >= $2 "
        "  AND EXISTS (SELECT 1 FROM media_files m WHERE m.id = h.media_id AND m.media_type = $1 "
        "              AND {} AND {})",
        rows, k_not_queued);
}

std::int64_t count_left_out(db::Transaction& tx, const ReanalyzeOptions& options,
                            const CurrentAnalyzer& current) {
    const bool embedding_counts = options.priority == "missing" && current.gives_embeddings &&
                                  tx.one(k_embedding_exists)[0].as<bool>();
    const std::string name = fmt::format("reanalyze.left_out.{}{}", options.priority,
                                         embedding_counts ? ".embedding" : "");
    const std::string sql = left_out_sql(options.priority, embedding_counts);
    const db::Statement statement{name.c_str(), sql.c_str()};
    if (options.priority == "outdated") {
        return tx
            .one(statement, options.media_type, options.max_reanalyze_attempts, current.name,
                 current.model_version)[0]
            .as<std::int64_t>();
    }
    return tx.one(statement, options.media_type, options.max_reanalyze_attempts)[0]
        .as<std::int64_t>();
}

std::string report_json(const ReanalyzeOptions& options, const std::vector<Selection>& selected,
                        const queue::Enqueued& queued, std::int64_t left_out, bool dry_run) {
    json::Writer w;
    w.begin_object();
    w.field("priority", options.priority);
    w.field("media_type", options.media_type);
    w.field("batch", options.batch);
    w.field("dry_run", dry_run);
    w.field("selected", static_cast<std::int64_t>(selected.size()));
    w.field("queued", queued.queued);
    w.field("already_queued", queued.already_queued);
    w.field("left_out", left_out);
    w.field("max_reanalyze_attempts", options.max_reanalyze_attempts);
    w.key("ids");
    w.begin_array();
    for (const auto& row : selected) {
        w.value(row.id);
    }
    w.end_array();
    w.end_object();
    return w.take();
}

}  // namespace

std::vector<Selection> select_for_reanalysis(db::Transaction& tx, const ReanalyzeOptions& options,
                                             const CurrentAnalyzer& current,
                                             bool remember_position) {
    if (options.priority == "random") {
        return select_random(tx, options);
    }
    if (options.priority == "oldest") {
        static const Query query{"reanalyze.oldest", oldest_sql()};
        return read_rows(tx.many(query.statement(), options.media_type, options.batch,
                                 options.max_reanalyze_attempts));
    }
    if (options.priority == "failed") {
        static const Query query{"reanalyze.failed", failed_sql()};
        return read_rows(tx.many(query.statement(), options.media_type, options.batch,
                                 options.max_reanalyze_attempts));
    }
    if (options.priority == "outdated") {
        static const Query query{"reanalyze.outdated", outdated_sql()};
        auto rows =
            read_rows(tx.many(query.statement(), options.media_type, options.batch,
                              options.max_reanalyze_attempts, current.name, current.model_version));
        select_unanalyzed(tx, options, rows, remember_position);
        return rows;
    }
    if (options.priority == "missing") {
        bool embedding_counts =
            current.gives_embeddings && tx.one(k_embedding_exists)[0].as<bool>();
        static const Query with{"reanalyze.missing", missing_sql(true)};
        static const Query without{"reanalyze.missing_undescribed", missing_sql(false)};
        return read_rows(tx.many((embedding_counts ? with : without).statement(),
                                 options.media_type, options.batch, options.max_reanalyze_attempts,
                                 current.name, current.model_version));
    }
    throw UsageError(fmt::format("unknown priority '{}'", options.priority),
                     "use oldest, failed, random, outdated or missing");
}

std::string reanalysis_sql(const std::string& priority, bool embedding_counts) {
    if (priority == "oldest") {
        return oldest_sql();
    }
    if (priority == "failed") {
        return failed_sql();
    }
    if (priority == "outdated") {
        return outdated_sql();
    }
    if (priority == "unanalyzed") {
        return unanalyzed_sql();
    }
    if (priority == "missing") {
        return missing_sql(embedding_counts);
    }
    if (priority == "random") {
        return random_probe_sql();
    }
    throw UsageError(fmt::format("unknown priority '{}'", priority),
                     "use oldest, failed, random, outdated or missing");
}

void add_reanalyze_options(CLI::App& app, Config& config, ReanalyzeOptions& options) {
    add_settings(app, config, SettingGroup::analysis);
    add_settings(app, config, SettingGroup::ai);
    add_settings(app, config, SettingGroup::ollama);
    options::add_int(app, "--batch", options.batch, "how many images to queue", 1, 100'000);
    options::add_choice(app, "--priority", options.priority,
                        "oldest: least recently analyzed first (never analyzed first); failed: "
                        "failed images, oldest failure first; random: a uniform sample; "
                        "outdated: analyzed by another analyzer or model version; missing: "
                        "pending, or completed without an embedding or a description",
                        {"oldest", "failed", "random", "outdated", "missing"});
    options::add_choice(app, "--media-type", options.media_type,
                        "media_files.media_type to pick from; eye's analyzers analyze images "
                        "only",
                        {"image"});
    options::add_int(app, "--max-reanalyze-attempts", options.max_reanalyze_attempts,
                     "skip images whose last this many analyses all failed", 1, 1000);
    options::add_choice(app, "--format", options.format, "report as text or JSON",
                        {"text", "json"});
}

CurrentAnalyzer current_analyzer(const Config& config, db::Transaction& tx) {
    CurrentAnalyzer current;
    {
        // building it calls no service
        auto analyzer = analyzers::make_analyzer(config, 0);
        current.name = analyzer->name();
        current.model_version = analyzer->model_version();
        current.gives_embeddings = analyzer->gives_embeddings();
    }
    // with a current tag model, "current" is the analyzer's version with the model's
    current.model_version = learning::current_version_for(current.name, current.model_version,
                                                          learning::current_model_info(tx));
    return current;
}

Outcome run_reanalyze(Context& context, const ReanalyzeOptions& options) {
    // the selection, the walk's new position and the queueing commit together: a failed queueing
    // must not move the walk past images it never queued
    db::Transaction tx(*context.db);
    const CurrentAnalyzer current = current_analyzer(context.config, tx);
    auto selected = select_for_reanalysis(tx, options, current, !context.dry_run);
    const std::int64_t left_out = count_left_out(tx, options, current);

    queue::Enqueued queued;
    if (!context.dry_run && !selected.empty()) {
        std::vector<std::int64_t> ids;
        for (const auto& row : selected) {
            ids.push_back(row.id);
        }
        queue::EnqueueOptions enqueue;
        enqueue.reason = "reanalyze:" + options.priority;
        enqueue.priority = k_reanalysis_priority;
        queued = queue::enqueue(tx, ids, enqueue, context.now);
    }
    if (!context.dry_run) {
        tx.commit();
    }

    Outcome outcome;
    outcome.summary_json = report_json(options, selected, queued, left_out, context.dry_run);
    if (options.format == "json") {
        context.out << outcome.summary_json << "\n";
    } else {
        if (context.dry_run) {
            for (const auto& row : selected) {
                context.out << fmt::format("{:<10} {:<10} {}\n", row.id, row.status, row.file_path);
            }
            context.out << fmt::format("would queue {} image(s) (priority {})\n", selected.size(),
                                       options.priority);
        } else {
            context.out << fmt::format(
                "queued {} of {} selected image(s) for re-analysis "
                "(priority {}); {} were queued meanwhile\n",
                queued.queued, selected.size(), options.priority, queued.already_queued);
        }
        if (left_out > 0) {
            context.out << fmt::format(
                "left out {} whose last {} analyses all failed (--max-reanalyze-attempts={}); "
                "'eye queue:failed' shows why, 'eye queue:retry --media ID' (or 'all') tries "
                "them again\n",
                left_out == 1 ? "1 image" : fmt::format("{} images", left_out),
                options.max_reanalyze_attempts, options.max_reanalyze_attempts);
        }
    }
    outcome.note =
        fmt::format("{} {} (priority {})", context.dry_run ? "would queue" : "queued",
                    context.dry_run ? static_cast<std::int64_t>(selected.size()) : queued.queued,
                    options.priority);
    outcome.metrics = {
        {"selected", static_cast<double>(selected.size()), "Images the last run selected."},
        {"queued", static_cast<double>(queued.queued), "Images the last run queued."}};
    return outcome;
}

}  // namespace eye::tasks
