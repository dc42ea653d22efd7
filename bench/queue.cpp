// eye-bench-queue: the programs bench/queue runs.
//
//   eye-bench-queue work URL WORKERS CONCURRENCY
//       Runs WORKERS real workers (eye::tasks::run_worker_with), each in its own thread with its
//       own session, with a no-op analyzer, until the queue is empty; prints the jobs per second
//       from the start to the last completion and checks that every job was done exactly once.
//   eye-bench-queue check URL
//       Only the check, for a database that pgbench worked on.
//   eye-bench-queue pgbench-script URL BATCH FILE
//       Writes into FILE a pgbench script that does per transaction what a worker does per claim
//       of BATCH jobs, with the statements the library prepares (read back from
//       pg_prepared_statements after one claim, complete and write_analysis, rolled back), and
//       prints the -D variables it needs, one NAME=VALUE a line.
//   eye-bench-queue builtin DIR ROUNDS
//       Images per second of the builtin analyzer over the photos in DIR, on one and two threads.
//
// Output lines are "key value" pairs for the script; errors go to stderr. Exit: 0 done, 1 a
// check failed, 2 the bench could not run, 64 bad usage.

#include "eye/queue/queue.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "eye/analyzers/analyzer.hpp"
#include "eye/analyzers/builtin/builtin.hpp"
#include "eye/db/media.hpp"
#include "eye/db/session.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/runner/command.hpp"
#include "eye/tasks/worker/worker.hpp"
#include "pgbench_sql.hpp"

namespace {

using eye::bench::substitute;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* k_description = "queue bench: a fixed description";
constexpr int k_width = 640;
constexpr int k_height = 480;
constexpr int k_tries = 3;  // the worker's default --tries, passed to the claim as max attempts

// What the no-op analyzer returns for every image; the pgbench script writes the same columns.
eye::AnalysisResult noop_result() {
    eye::AnalysisResult result;
    result.analyzer = "noop";
    result.model_version = "noop-1";
    result.description = k_description;
    result.meta_tags = {"bench", "queue", "noop"};
    result.width = k_width;
    result.height = k_height;
    return result;
}

class NoopAnalyzer : public eye::analyzers::Analyzer {
public:
    std::string name() const override { return "noop"; }
    std::string model_version() const override { return "noop-1"; }
    eye::AnalysisResult analyze(const eye::analyzers::MediaItem&) override { return m_result; }

private:
    const eye::AnalysisResult m_result = noop_result();
};

eye::db::Session connect(const std::string& url) {
    eye::db::ConnectOptions options;
    options.url = url;
    options.application_name = "eye-bench-queue";
    return eye::db::Session::connect(options);
}

// Every job completed exactly once: one attempt each, every image completed once with the
// no-op's description, one eye.media_state row per job. Prints what it found; false on a miss.
bool check_queue(eye::db::Session& session) {
    eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
    auto jobs = tx.run_sql("check jobs",
                           "SELECT count(*), count(*) FILTER (WHERE status = 'completed'), "
                           "count(*) FILTER (WHERE attempts <> 1) FROM eye.jobs")[0];
    auto media = tx.run_sql("check media",
                            fmt::format("SELECT count(*), count(*) FILTER (WHERE "
                                        "processing_status = 'completed' AND processing_attempts "
                                        "= 1 AND description = '{}') FROM media_files",
                                        k_description))[0];
    auto state = tx.run_sql("check state",
                            "SELECT count(*), count(*) FILTER (WHERE status = 'completed' AND "
                            "analyzer = 'noop') FROM eye.media_state")[0];
    auto failed = tx.run_sql("check failed", "SELECT count(*) FROM eye.failed_jobs")[0];
    auto total = jobs[0].as<long long>();
    bool ok = total > 0 && jobs[1].as<long long>() == total && jobs[2].as<long long>() == 0 &&
              media[0].as<long long>() == total && media[1].as<long long>() == total &&
              state[0].as<long long>() == total && state[1].as<long long>() == total &&
              failed[0].as<long long>() == 0;
    std::cout << fmt::format(
        "check {} jobs {} completed {} not_one_attempt {} media {} media_completed_once {} "
        "media_state {} failed_jobs {}\n",
        ok ? "ok" : "FAILED", total, jobs[1].as<long long>(), jobs[2].as<long long>(),
        media[0].as<long long>(), media[1].as<long long>(), state[0].as<long long>(),
        failed[0].as<long long>());
    return ok;
}

int run_workers(const std::string& url, int workers, int concurrency) {
    long long queued = 0;
    {
        auto session = connect(url);
        eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
        queued = tx.run_sql("count", "SELECT count(*) FROM eye.jobs WHERE status = 'queued'")[0][0]
                     .as<long long>();
    }
    eye::tasks::WorkerOptions options;
    options.stop_when_empty = true;
    options.max_jobs = 0;
    options.max_time = eye::Milliseconds(0);
    options.concurrency = concurrency;
    options.tries = k_tries;

    eye::Config config;
    config.media_root = fs::temp_directory_path();  // the no-op analyzer opens no file
    auto analyzer = std::make_shared<NoopAnalyzer>();

    // the clock starts once every worker is connected, as pgbench's tps leaves out connecting
    std::mutex mutex;
    std::condition_variable changed;
    int connected = 0;
    bool go = false;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < workers; ++i) {
        threads.emplace_back([&] {
            bool counted = false;
            try {
                auto session = connect(url);
                std::ostringstream out;
                eye::Context context{config,
                                     out,
                                     "eye-worker",
                                     "worker",
                                     &session,
                                     {},
                                     eye::ExitCode::ok,
                                     std::chrono::system_clock::now(),
                                     false,
                                     {},
                                     {}};
                {
                    std::unique_lock lock(mutex);
                    ++connected;
                    counted = true;
                    changed.notify_all();
                    changed.wait(lock, [&] { return go; });
                }
                auto outcome = eye::tasks::run_worker_with(context, options, analyzer);
                if (outcome.exit != eye::ExitCode::ok) {
                    std::cerr << "a worker ended with " << outcome.note << "\n";
                    ++failures;
                }
            } catch (const std::exception& e) {
                std::cerr << "a worker failed: " << e.what() << "\n";
                ++failures;
                if (!counted) {
                    std::lock_guard lock(mutex);
                    ++connected;
                    changed.notify_all();
                }
            }
        });
    }
    std::chrono::system_clock::time_point started;
    Clock::time_point started_steady;
    {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return connected == workers; });
        started = std::chrono::system_clock::now();
        started_steady = Clock::now();
        go = true;
    }
    changed.notify_all();
    for (auto& thread : threads) {
        thread.join();
    }
    double joined = std::chrono::duration<double>(Clock::now() - started_steady).count();
    if (failures > 0) {
        return 2;
    }

    auto session = connect(url);
    double seconds = 0;
    long long claims = 0;
    {
        eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
        // the jobs of one claim share its worker and its started_at
        auto row = tx.run_sql("last completion",
                              "SELECT extract(epoch from max(finished_at)), "
                              "count(DISTINCT (worker_id, started_at)) FROM eye.jobs")[0];
        seconds = row[0].as<double>() - eye::to_epoch(started);
        claims = row[1].as<long long>();
    }
    std::cout << fmt::format(
        "jobs {} workers {} concurrency {} seconds {:.3f} jobs_per_second {:.1f} claims {} "
        "jobs_per_claim {:.2f} joined_seconds {:.3f}\n",
        queued, workers, concurrency, seconds, static_cast<double>(queued) / seconds, claims,
        claims > 0 ? static_cast<double>(queued) / static_cast<double>(claims) : 0.0, joined);
    return check_queue(session) ? 0 : 1;
}

int write_pgbench_script(const std::string& url, int batch, const std::string& file) {
    auto session = connect(url);
    std::map<std::string, std::string> prepared;  // name -> SQL, as the library prepared it
    std::string database_now;
    {
        // one pass through the worker's statements, rolled back: the SQL pgbench runs is the SQL
        // the library sends, not a copy that could drift from it
        eye::db::Transaction tx(session);
        auto now = eye::from_epoch(
            tx.run_sql("now", "SELECT extract(epoch from now())")[0][0].as<double>());
        database_now = tx.run_sql("now text", "SELECT now()::text")[0][0].as<std::string>();
        // a claim of the bench's batch size, so the library prepares that size's statement
        auto jobs = eye::queue::claim(tx, "bench-probe", batch, now, k_tries);
        if (jobs.empty()) {
            std::cerr << "pgbench-script: the database has no queued job to probe with\n";
            return 2;
        }
        eye::queue::complete(tx, jobs[0], "bench-probe", now);
        auto media = eye::db::MediaTable::read(tx);
        media.write_analysis(tx, jobs[0].media_id, noop_result(), now);
        for (const auto& row :
             tx.run_sql("prepared", "SELECT name, statement FROM pg_prepared_statements")) {
            prepared[row[0].as<std::string>()] = row[1].as<std::string>();
        }
    }
    auto take = [&](const std::string& prefix) {
        for (const auto& [name, sql] : prepared) {
            if (name.rfind(prefix, 0) == 0) {
                return sql;
            }
        }
        throw std::runtime_error(fmt::format("the library prepared no statement '{}'", prefix));
    };
    std::string claim = take(fmt::format("queue.claim.{}", batch));
    std::string complete = take("queue.complete");
    std::string write = take("media.write_analysis.");
    std::string upsert = take("media.upsert_state");

    // the claim's rows as one row of variables j1..jB (job ids) and m1..mB (images), 0 when the
    // claim got fewer: pgbench's \gset takes exactly one row
    auto last_select = claim.rfind("\nSELECT ");
    if (last_select == std::string::npos) {
        throw std::runtime_error("queue.claim has no final SELECT to wrap");
    }
    std::string head = claim.substr(0, last_select);
    head.erase(head.find_last_not_of(" \n") + 1);
    std::string rows = claim.substr(last_select + 1);
    rows.erase(rows.find_last_not_of(" \n") + 1);
    std::string columns;
    for (int k = 1; k <= batch; ++k) {
        columns += fmt::format(
            "{}coalesce((array_agg(id ORDER BY id))[{}], 0) AS j{}, "
            "coalesce((array_agg(media_id ORDER BY id))[{}], 0) AS m{}",
            k == 1 ? "" : ",\n       ", k, k, k, k);
    }
    claim = fmt::format("{},\nclaimed_rows AS (\n{}\n)\nSELECT {}\nFROM claimed_rows", head, rows,
                        columns);
    claim = substitute(claim, {{1, ":client_id"}, {2, ":now"}, {3, ":tries"}});

    // write_analysis: $1 the image, "col = coalesce($n, col)" per result column the table has,
    // the last one now; the no-op fills description, meta_tags, width and height, the rest NULL
    std::map<std::string, std::string> filled = {{"description", ":description"},
                                                 {"meta_tags", ":meta_tags"},
                                                 {"width", ":width"},
                                                 {"height", ":height"}};
    std::map<int, std::string> write_values;
    int highest = 0;
    std::regex setter(R"((\w+) = coalesce\(\$(\d+), \w+\))");
    for (std::sregex_iterator it(write.begin(), write.end(), setter), end; it != end; ++it) {
        int n = std::stoi((*it)[2]);
        auto found = filled.find((*it)[1]);
        write_values[n] = found == filled.end() ? "NULL" : found->second;
        highest = std::max(highest, n);
    }
    for (const auto& [column, variable] : filled) {
        if (write.find(column + " = coalesce(") == std::string::npos) {
            throw std::runtime_error(fmt::format("media_files has no column {}", column));
        }
    }

    std::ofstream out(file);
    out << "-- generated by eye-bench-queue pgbench-script: one claim of " << batch
        << " job(s), then one transaction per job, as eye-worker does\n";
    out << "BEGIN;\n" << claim << " \\gset\nCOMMIT;\n";
    for (int k = 1; k <= batch; ++k) {
        std::string job = fmt::format(":j{}", k);
        std::string image = fmt::format(":m{}", k);
        write_values[1] = image;
        write_values[highest + 1] = ":now";
        out << fmt::format("\\if :m{} > 0\nBEGIN;\n", k);
        out << substitute(complete, {{1, job}, {2, ":client_id"}, {3, ":now"}}) << ";\n";
        out << substitute(write, write_values) << ";\n";
        out << substitute(upsert,
                          {{1, image}, {2, ":analyzer"}, {3, ":model_version"}, {4, ":now"}})
            << ";\n";
        out << "COMMIT;\n\\endif\n";
    }
    out.close();
    if (!out) {
        std::cerr << "pgbench-script: cannot write " << file << "\n";
        return 2;
    }
    auto result = noop_result();
    eye::json::Writer tags;  // as write_analysis serialises meta_tags
    tags.begin_array();
    for (const auto& tag : result.meta_tags) {
        tags.value(tag);
    }
    tags.end_array();
    std::cout << "batch=" << batch << "\n"
              << "tries=" << k_tries << "\n"
              << "now=" << database_now << "\n"
              << "description=" << *result.description << "\n"
              << "meta_tags=" << tags.take() << "\n"
              << "width=" << k_width << "\n"
              << "height=" << k_height << "\n"
              << "analyzer=" << result.analyzer << "\n"
              << "model_version=" << result.model_version << "\n";
    return 0;
}

int time_builtin(const fs::path& dir, int rounds) {
    std::vector<eye::analyzers::MediaItem> items;
    for (const auto& entry : fs::directory_iterator(dir)) {
        auto ext = entry.path().extension().string();
        if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") {
            eye::analyzers::MediaItem item;
            item.id = static_cast<std::int64_t>(items.size() + 1);
            item.set_file(entry.path());
            items.push_back(item);
        }
    }
    std::sort(items.begin(), items.end(),
              [](const auto& a, const auto& b) { return a.file_path < b.file_path; });
    if (items.empty()) {
        std::cerr << "builtin: no .png or .jpg in " << dir << "\n";
        return 2;
    }
    eye::analyzers::BuiltinAnalyzer analyzer;
    for (const auto& item : items) {
        analyzer.analyze(item);  // warm-up: page cache, allocator
    }
    auto run = [&](int threads) {
        std::atomic<std::size_t> next{0};
        std::size_t total = items.size() * static_cast<std::size_t>(rounds);
        auto started = Clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&] {
                for (std::size_t i = next++; i < total; i = next++) {
                    analyzer.analyze(items[i % items.size()]);
                }
            });
        }
        for (auto& thread : pool) {
            thread.join();
        }
        double seconds = std::chrono::duration<double>(Clock::now() - started).count();
        return static_cast<double>(total) / seconds;
    };
    double one = run(1);
    double two = run(2);
    std::cout << fmt::format(
        "images {} rounds {} threads1_images_per_second {:.2f} threads2_images_per_second {:.2f} "
        "speedup {:.2f}\n",
        items.size(), rounds, one, two, two / one);
    return 0;
}

int usage() {
    std::cerr << "usage: eye-bench-queue work URL WORKERS CONCURRENCY\n"
                 "       eye-bench-queue check URL\n"
                 "       eye-bench-queue pgbench-script URL BATCH FILE\n"
                 "       eye-bench-queue builtin DIR ROUNDS\n";
    return 64;
}

int positive(const char* text) {
    int value = std::atoi(text);
    return value > 0 ? value : 0;
}

}  // namespace

int main(int argc, char** argv) {
    eye::log::configure(eye::log::Level::warning, eye::log::Format::text, "eye-bench-queue");
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 4 && args[0] == "work" && positive(argv[3]) && positive(argv[4])) {
            return run_workers(args[1], positive(argv[3]), positive(argv[4]));
        }
        if (args.size() == 2 && args[0] == "check") {
            auto session = connect(args[1]);
            return check_queue(session) ? 0 : 1;
        }
        if (args.size() == 4 && args[0] == "pgbench-script" && positive(argv[3])) {
            return write_pgbench_script(args[1], positive(argv[3]), args[3]);
        }
        if (args.size() == 3 && args[0] == "builtin" && positive(argv[3])) {
            return time_builtin(args[1], positive(argv[3]));
        }
    } catch (const std::exception& e) {
        std::cerr << "eye-bench-queue " << (args.empty() ? "" : args[0]) << ": " << e.what()
                  << "\n";
        return 2;
    }
    return usage();
}
