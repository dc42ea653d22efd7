// eye-bench-laravel-bridge: the programs bench/laravel-bridge runs.
//
//   eye-bench-laravel-bridge bridge URL CLIENTS
//       Runs CLIENTS threads, each with its own session and its own
//       eye::queue::LaravelBridge({"image-processing"}, 3), as CLIENTS workers would: poll() in a
//       transaction of its own, committed, until a poll takes nothing. Prints the Laravel rows
//       moved per second from the moment every client is connected to the end of the last one.
//   eye-bench-laravel-bridge check URL UPLOADS OTHERS OTHERS_MD5
//       Checks a database that either side worked on: no ProcessImageAnalysis row left in
//       Laravel's `jobs`, UPLOADS queued analyze jobs in eye.jobs (one per image, reason upload,
//       3 attempts), and the OTHERS rows of other job classes still there, byte for byte
//       (md5 of the rows as text, OTHERS_MD5 as the template had them).
//   eye-bench-laravel-bridge pgbench-scripts URL DIR
//       Writes into DIR two pgbench scripts that do per transaction what one poll does, with the
//       statements the library prepares (read back from pg_prepared_statements after one poll,
//       rolled back): the claim, the live-image check, eye::queue::enqueue's statement and the
//       DELETE. pgbench cannot run eye's parser, so the image id is read from the payload in
//       SQL: with a regular expression in poll-regex.pgbench, with split_part() (cheaper) in
//       poll-split.pgbench. Writes the claim's SQL alone into DIR/claim.sql (for EXPLAIN) and
//       prints the -D variables the scripts need, one NAME=VALUE a line.
//
// Output lines are "key value" pairs for the script; errors go to stderr. Exit: 0 done, 1 a
// check failed, 2 the bench could not run, 64 bad usage.

#include "eye/queue/laravel_bridge.hpp"

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "eye/db/session.hpp"
#include "eye/log/log.hpp"
#include "pgbench_sql.hpp"

namespace {

using eye::bench::substitute;

using Clock = std::chrono::steady_clock;

const std::vector<std::string> k_queues = {"image-processing"};
constexpr int k_attempts = 3;  // the worker's default --tries
constexpr int k_batch = 200;   // LaravelBridge's default batch, when a probe cannot tell

eye::db::Session connect(const std::string& url) {
    eye::db::ConnectOptions options;
    options.url = url;
    options.application_name = "eye-bench-laravel-bridge";
    return eye::db::Session::connect(options);
}

std::string marker() {
    return std::string(eye::queue::k_image_job_marker);
}

struct ClientTotals {
    std::int64_t taken = 0;
    std::int64_t queued = 0;
    std::int64_t left = 0;
    std::int64_t polls = 0;
};

int run_bridge(const std::string& url, int clients) {
    std::int64_t waiting = 0;
    {
        auto session = connect(url);
        eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
        waiting = tx.run_sql("count", fmt::format("SELECT count(*) FROM jobs WHERE strpos(payload, "
                                                  "{}) > 0",
                                                  tx.raw().quote(marker())))[0][0]
                      .as<std::int64_t>();
    }

    // the clock starts once every client is connected, as pgbench's tps leaves out connecting
    std::mutex mutex;
    std::condition_variable changed;
    int connected = 0;
    bool go = false;
    std::atomic<int> failures{0};
    std::vector<ClientTotals> totals(static_cast<std::size_t>(clients));
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&, i] {
            bool counted = false;
            try {
                auto session = connect(url);
                eye::queue::LaravelBridge bridge(k_queues, k_attempts);
                {
                    std::unique_lock lock(mutex);
                    ++connected;
                    counted = true;
                    changed.notify_all();
                    changed.wait(lock, [&] { return go; });
                }
                auto& mine = totals[static_cast<std::size_t>(i)];
                for (;;) {
                    eye::db::Transaction tx(session);
                    const auto polled = bridge.poll(tx, std::chrono::system_clock::now());
                    tx.commit();
                    ++mine.polls;
                    mine.taken += polled.taken;
                    mine.queued += polled.queued;
                    mine.left += polled.left;
                    if (polled.taken == 0) {
                        break;
                    }
                }
            } catch (const std::exception& e) {
                std::cerr << "a bridge client failed: " << e.what() << "\n";
                ++failures;
                if (!counted) {
                    std::lock_guard lock(mutex);
                    ++connected;
                    changed.notify_all();
                }
            }
        });
    }
    Clock::time_point started;
    {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return connected == clients; });
        started = Clock::now();
        go = true;
    }
    changed.notify_all();
    for (auto& thread : threads) {
        thread.join();
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
    if (failures > 0) {
        return 2;
    }
    ClientTotals sum;
    std::string per_client;
    for (const auto& client : totals) {
        sum.taken += client.taken;
        sum.queued += client.queued;
        sum.left += client.left;
        sum.polls += client.polls;
        per_client += fmt::format("{}{}", per_client.empty() ? "" : ",", client.taken);
    }
    std::cout << fmt::format(
        "waiting {} clients {} seconds {:.3f} rows_per_second {:.1f} taken {} queued {} left {} "
        "polls {} taken_per_client {}\n",
        waiting, clients, seconds, static_cast<double>(sum.taken) / seconds, sum.taken, sum.queued,
        sum.left, sum.polls, per_client);
    return sum.taken == waiting && sum.left == 0 ? 0 : 1;
}

bool check(const std::string& url, std::int64_t uploads, std::int64_t others,
           const std::string& others_md5) {
    auto session = connect(url);
    eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
    const std::string is_upload = fmt::format("strpos(payload, {}) > 0", tx.raw().quote(marker()));
    auto laravel = tx.run_sql("check laravel",
                              fmt::format("SELECT count(*) FILTER (WHERE {0}), count(*) FILTER "
                                          "(WHERE NOT {0}), coalesce(md5(string_agg(j::text, ',' "
                                          "ORDER BY id) FILTER (WHERE NOT {0})), '') FROM jobs j",
                                          is_upload))[0];
    auto queued = tx.run_sql(
        "check eye.jobs",
        fmt::format("SELECT count(*), count(DISTINCT j.media_id), count(*) FILTER (WHERE "
                    "j.status = 'queued' AND j.kind = 'analyze' AND j.reason = 'upload' AND "
                    "j.max_attempts = {} AND m.media_type = 'image') FROM eye.jobs j LEFT JOIN "
                    "media_files m ON m.id = j.media_id",
                    k_attempts))[0];
    const auto left = laravel[0].as<std::int64_t>();
    const auto kept = laravel[1].as<std::int64_t>();
    const auto kept_md5 = laravel[2].as<std::string>();
    const auto jobs = queued[0].as<std::int64_t>();
    const auto images = queued[1].as<std::int64_t>();
    const auto as_expected = queued[2].as<std::int64_t>();
    const bool ok = left == 0 && kept == others && kept_md5 == others_md5 && jobs == uploads &&
                    images == uploads && as_expected == uploads;
    std::cout << fmt::format(
        "check {} uploads_left {} others_kept {} of {} others_unchanged {} eye_jobs {} "
        "distinct_images {} queued_upload_jobs {}\n",
        ok ? "ok" : "FAILED", left, kept, others, kept_md5 == others_md5 ? "yes" : "no", jobs,
        images, as_expected);
    return ok;
}

std::string trimmed(std::string text) {
    text.erase(0, text.find_first_not_of(" \n"));
    text.erase(text.find_last_not_of(" \n;") + 1);
    return text;
}

// How the pgbench scripts read the image id from a payload's serialized command.
struct IdInSql {
    const char* file;
    const char* expression;
};
const IdInSql k_id_in_sql[] = {
    {"poll-regex.pgbench", "substring(payload from 'imageFileId\\\\\";i:(\\d+);')::bigint"},
    {"poll-split.pgbench",
     "split_part(split_part(payload, 'imageFileId\\\";i:', 2), ';', 1)::bigint"},
};

int write_pgbench_scripts(const std::string& url, const std::string& dir) {
    auto session = connect(url);
    std::map<std::string, std::string> prepared;  // name -> SQL, as the library prepared it
    std::int64_t batch = k_batch;
    {
        // one poll, rolled back: the SQL pgbench runs is the SQL the library sends, not a copy
        // that could drift from it
        eye::db::Transaction tx(session);
        eye::queue::LaravelBridge bridge(k_queues, k_attempts);
        const auto polled = bridge.poll(tx, std::chrono::system_clock::now());
        if (polled.taken == 0 || polled.left > 0) {
            std::cerr << "pgbench-scripts: the probe took " << polled.taken << " row(s) and left "
                      << polled.left << "; it needs upload rows the bridge can take\n";
            return 2;
        }
        if (polled.full) {
            batch = polled.taken;  // the worker's batch size, as the bridge has it
        }
        for (const auto& row :
             tx.run_sql("prepared", "SELECT name, statement FROM pg_prepared_statements")) {
            prepared[row[0].as<std::string>()] = row[1].as<std::string>();
        }
    }
    auto take = [&](const std::string& prefix) {
        for (const auto& [name, sql] : prepared) {
            if (name.rfind(prefix, 0) == 0) {
                return trimmed(sql);
            }
        }
        throw std::runtime_error(fmt::format("the library prepared no statement '{}'", prefix));
    };
    const std::string claim = take("laravel.claim");
    const std::string live = take("laravel.live_images");
    const std::string enqueue = take("queue.enqueue");
    const std::string remove = take("laravel.delete");

    // the bridge pairs each live image with its Laravel row in C++; here SQL does it
    const std::string live_script = fmt::format(
        "WITH live AS (\n{}\n)\n"
        "SELECT coalesce((SELECT array_agg(id) FROM live), '{{}}') AS live,\n"
        "       coalesce((SELECT array_agg(c.id) FROM unnest(:ids::bigint[], :media::bigint[]) "
        "AS c(id, media_id)\n"
        "                 WHERE c.media_id IN (SELECT id FROM live)), '{{}}') AS taken \\gset\n",
        substitute(live, {{1, ":media"}}));
    const std::string enqueue_script = substitute(enqueue, {{1, ":live"},
                                                            {2, ":reason"},
                                                            {3, ":priority"},
                                                            {4, ":attempts"},
                                                            {5, ":now"},
                                                            {6, ":channel"}});
    const std::string delete_script = substitute(remove, {{1, ":taken"}});
    const std::string claim_sql =
        substitute(claim, {{1, ":queues"}, {2, ":now_epoch"}, {3, ":after"}, {4, ":marker"}});

    for (const auto& id_in_sql : k_id_in_sql) {
        // pgbench's \gset takes one row: the claimed rows come back as arrays, with the image
        // ids read from the payloads, and the cursor the bridge keeps (the last id seen)
        const std::string claim_script = fmt::format(
            "SELECT count(*) AS claimed,\n"
            "       coalesce(max(id), :after) AS after,\n"
            "       coalesce(array_agg(id ORDER BY id), '{{}}') AS ids,\n"
            "       coalesce(array_agg({} ORDER BY id), '{{}}') AS media\n"
            "FROM (\n{}\n) AS claimed_rows \\gset\n",
            id_in_sql.expression, claim_sql);
        const std::string file = dir + "/" + id_in_sql.file;
        std::ofstream out(file);
        out << "-- generated by eye-bench-laravel-bridge pgbench-scripts: one transaction per poll "
               "of\n-- eye::queue::LaravelBridge, with the statements the library prepares; a "
               "client\n-- ends at its first claim that finds nothing (1 / 0 aborts it)\n";
        out << "BEGIN;\n"
            << claim_script << "\\set stop 1 / :claimed\n"
            << live_script << enqueue_script << ";\n"
            << delete_script << ";\n"
            << "COMMIT;\n";
        out.close();
        if (!out) {
            std::cerr << "pgbench-scripts: cannot write " << file << "\n";
            return 2;
        }
    }
    std::ofstream claim_out(dir + "/claim.sql");
    claim_out << claim << "\n";
    claim_out.close();
    if (!claim_out) {
        std::cerr << "pgbench-scripts: cannot write " << dir << "/claim.sql\n";
        return 2;
    }
    std::cout << "batch=" << batch << "\n"
              << "after=0\n"
              << "queues={" << k_queues[0] << "}\n"
              << "marker=" << marker() << "\n"
              << "reason=upload\n"
              << "priority=100\n"
              << "attempts=" << k_attempts << "\n"
              << "channel=eye_jobs\n";
    return 0;
}

int usage() {
    std::cerr << "usage: eye-bench-laravel-bridge bridge URL CLIENTS\n"
                 "       eye-bench-laravel-bridge check URL UPLOADS OTHERS OTHERS_MD5\n"
                 "       eye-bench-laravel-bridge pgbench-scripts URL DIR\n";
    return 64;
}

long long count_arg(const std::string& text) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        return -1;
    }
    return std::atoll(text.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    eye::log::configure(eye::log::Level::warning, eye::log::Format::text,
                        "eye-bench-laravel-bridge");
    const std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 3 && args[0] == "bridge" && count_arg(args[2]) > 0) {
            return run_bridge(args[1], static_cast<int>(count_arg(args[2])));
        }
        if (args.size() == 5 && args[0] == "check" && count_arg(args[2]) >= 0 &&
            count_arg(args[3]) >= 0) {
            return check(args[1], count_arg(args[2]), count_arg(args[3]), args[4]) ? 0 : 1;
        }
        if (args.size() == 3 && args[0] == "pgbench-scripts") {
            return write_pgbench_scripts(args[1], args[2]);
        }
    } catch (const std::exception& e) {
        std::cerr << "eye-bench-laravel-bridge " << (args.empty() ? "" : args[0]) << ": "
                  << e.what() << "\n";
        return 2;
    }
    return usage();
}
