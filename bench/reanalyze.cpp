// eye-bench-reanalyze URL [RUNS [raw]]: times what one eye-reanalyze run does in the database,
// for each priority: select a batch of 25 and queue it in one statement, committed, RUNS times
// (default 30); prints the median and the 90th percentile, or with "raw" one line per run
// ("sample PRIORITY MS QUEUED"), and checks each priority's plan for a sequential scan of
// media_files (the plans go to stderr). bench/reanalyze drives it.

#include "eye/tasks/reanalyze.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "eye/db/schema.hpp"
#include "eye/db/session.hpp"
#include "eye/queue/queue.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// EXPLAIN of a priority's statement with the parameters a run uses, as one text.
std::string plan_of(eye::db::Session& session, const std::string& priority, bool has_embedding) {
    std::string sql = eye::tasks::reanalysis_sql(priority, has_embedding);
    std::string types = "text, int, int";
    std::string args = "'image', 25, 3";
    if (priority == "outdated" || priority == "missing") {
        types += ", text, text";
        args += ", 'builtin', 'builtin-1'";
    } else if (priority == "random") {
        types += ", int, bigint[]";
        args += ", 100, '{}'";
    }
    eye::db::Transaction tx(session);
    tx.run_sql("prepare", fmt::format("PREPARE bench_plan({}) AS {}", types, sql));
    std::string plan;
    for (const auto& row : tx.run_sql("explain", fmt::format("EXPLAIN (ANALYZE, BUFFERS, COSTS "
                                                             "OFF) EXECUTE bench_plan({})",
                                                             args))) {
        plan += row[0].as<std::string>() + "\n";
    }
    tx.run_sql("deallocate", "DEALLOCATE bench_plan");
    return plan;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: eye-bench-reanalyze URL [RUNS [raw]]\n";
        return 64;
    }
    eye::db::ConnectOptions options;
    options.url = argv[1];
    int runs = argc > 2 ? std::atoi(argv[2]) : 30;
    bool raw = argc > 3 && std::string(argv[3]) == "raw";
    auto session = eye::db::Session::connect(options);
    bool has_embedding = false;
    std::int64_t rows = 0;
    {
        eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
        has_embedding =
            eye::db::read_embedding_column(tx).kind != eye::db::EmbeddingColumn::Kind::missing;
        rows = tx.run_sql("count", "SELECT count(*) FROM media_files")[0][0].as<std::int64_t>();
    }
    if (!raw) {
        std::cout << fmt::format("media_files rows: {}\n", rows);
        std::cout << fmt::format("{:<10} {:>10} {:>10} {:>8}  {}\n", "priority", "median_ms",
                                 "p90_ms", "queued", "plan");
    }
    int bad_plans = 0;
    for (const std::string priority : {"oldest", "failed", "random", "outdated", "missing"}) {
        eye::tasks::ReanalyzeOptions select;
        select.priority = priority;
        select.batch = 25;
        std::vector<double> times;
        std::int64_t queued = 0;
        for (int run = 0; run < runs; ++run) {
            auto started = Clock::now();
            std::vector<eye::tasks::Selection> chosen;
            {
                eye::db::Transaction picking(session, eye::db::Transaction::Mode::autocommit);
                chosen = eye::tasks::select_for_reanalysis(picking, select,
                                                           {"builtin", "builtin-1", true});
            }
            std::vector<std::int64_t> ids;
            for (const auto& row : chosen) {
                ids.push_back(row.id);
            }
            eye::db::Transaction tx(session);
            eye::queue::EnqueueOptions enqueue;
            enqueue.reason = "bench";
            enqueue.priority = 200;
            auto now_queued =
                eye::queue::enqueue(tx, ids, enqueue, std::chrono::system_clock::now()).queued;
            tx.commit();
            queued += now_queued;
            times.push_back(
                std::chrono::duration<double, std::milli>(Clock::now() - started).count());
            if (raw) {
                std::cout << fmt::format("sample {} {:.3f} {}\n", priority, times.back(),
                                         now_queued);
            }
        }
        std::sort(times.begin(), times.end());
        double median = times[times.size() / 2];
        double p90 = times[std::min(times.size() - 1, times.size() * 9 / 10)];
        std::string plan = plan_of(session, priority, has_embedding);
        bool seq_scan = plan.find("Seq Scan on media_files") != std::string::npos;
        bad_plans += seq_scan ? 1 : 0;
        if (raw) {
            std::cout << fmt::format("plan {} {}\n", priority, seq_scan ? "seq" : "index");
        } else {
            std::cout << fmt::format("{:<10} {:>10.2f} {:>10.2f} {:>8}  {}\n", priority, median,
                                     p90, queued,
                                     seq_scan ? "SEQ SCAN of media_files" : "index only");
        }
        std::cerr << fmt::format("--- plan of {} ---\n{}", priority, plan);
    }
    return bad_plans == 0 ? 0 : 1;
}
