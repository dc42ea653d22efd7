#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "eye/runner/command.hpp"

// eye-reanalyze (ai:auto-reanalyze): picks a batch of images by a priority and queues them for
// analysis in one statement. Every priority looks only at live rows (deleted_at IS NULL) of the
// media type that have no queued or running job, and walks a partial index, so a batch costs the
// same on a library of ten thousand images as on one of a million.
namespace eye::tasks {

struct ReanalyzeOptions {
    long long batch = 25;
    std::string priority = "oldest";  // oldest | failed | random | outdated | missing
    std::string media_type = "image";
    long long max_reanalyze_attempts = 3;
    std::string format = "text";
    // how long "outdated" may go on looking for images eye never analyzed once its first window
    // of 5,000 did not fill the batch (not a flag: tests lengthen it)
    std::chrono::milliseconds walk_budget{10};
};

void add_reanalyze_options(CLI::App& app, Config& config, ReanalyzeOptions& options);
Outcome run_reanalyze(Context& context, const ReanalyzeOptions& options);

// The analyzer the worker would analyze with now: "outdated" picks what another one analyzed,
// and "missing" does not ask for what this one cannot give.
struct CurrentAnalyzer {
    std::string name;           // "builtin"
    std::string model_version;  // "builtin-1"
    bool gives_embeddings = true;
};
// The analyzer and model version the worker would analyze with now, from the configuration and
// the learning loop's current model (read in `tx`).
CurrentAnalyzer current_analyzer(const Config& config, db::Transaction& tx);

// The images a priority picks now, in `tx`, without queueing them.
struct Selection {
    std::int64_t id = 0;
    std::string file_path;
    std::string status;
};
// With `remember_position`, "outdated" stores how far its walk over images eye never analyzed
// got, in `tx`, so the next run goes on from there (a dry run does not): committed with the
// queueing of what it picked, or not at all.
std::vector<Selection> select_for_reanalysis(db::Transaction& tx, const ReanalyzeOptions& options,
                                             const CurrentAnalyzer& current,
                                             bool remember_position = false);

// The SQL a priority selects with, for EXPLAIN in benchmarks and docs. Parameters: $1 media
// type, $2 batch, $3 max consecutive failures; outdated and missing: $4 analyzer, $5 model
// version; random (the probe): $4 probes, $5 ids already picked (bigint[]); "unanalyzed" (the
// part of outdated that walks images eye never analyzed): $4 the id to start after, $5 the
// window's size, $6 the largest id to look at. For missing, `embedding_counts` says whether an
// image without an embedding is missing one (the column exists and the analyzer gives them).
std::string reanalysis_sql(const std::string& priority, bool embedding_counts);

}  // namespace eye::tasks
