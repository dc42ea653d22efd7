// eye-monitor end to end: the built executable against a real PostgreSQL and the fake services,
// checking its output, exit code and the rows it leaves.

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/commands/commands.hpp"
#include "eye/db/conninfo.hpp"
#include "eye/json/json.hpp"
#include "eye/runner/run_record.hpp"
#include "eye/runner/runner.hpp"
#include "eye/runner/umbrella.hpp"
#include "support/database.hpp"
#include "support/http_server.hpp"
#include "support/media.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::FakeServices;
using eye::testing::insert_job;
using eye::testing::insert_media;
using eye::testing::JobRow;
using eye::testing::MediaRow;
using eye::testing::processing;
using eye::testing::ProcessResult;
using eye::testing::TempDir;
using eye::testing::TestDatabase;

namespace {

eye::testing::Environment base_env(const TestDatabase& db, const TempDir& state) {
    return {{"EYE_DATABASE_URL", db.url()}, {"EYE_STATE_DIR", state.str()}};
}

ProcessResult monitor(const TestDatabase& db, std::vector<std::string> args,
                      eye::testing::Environment extra = {}) {
    static TempDir state;
    auto env = base_env(db, state);
    for (auto& [key, value] : extra) {
        env[key] = value;
    }
    return eye::testing::run("eye-monitor", args, env);
}

// The monitor's --format=json report, parsed; fails the test when it is not JSON.
rapidjson::Document report_of(const ProcessResult& result) {
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    auto parsed = eye::json::parse(result.out);
    REQUIRE(parsed);
    return std::move(*parsed);
}

const rapidjson::Value& check_of(const rapidjson::Document& report, const std::string& name) {
    for (const auto& check : report["checks"].GetArray()) {
        if (name == check["name"].GetString()) {
            return check;
        }
    }
    FAIL("no check named " << name);
    throw std::logic_error("unreachable");
}

std::string status_of(const rapidjson::Document& report, const std::string& name) {
    return check_of(report, name)["status"].GetString();
}

std::string message_of(const rapidjson::Document& report, const std::string& name) {
    return check_of(report, name)["message"].GetString();
}

std::int64_t metric_of(const rapidjson::Document& report, const std::string& check,
                       const std::string& metric) {
    const auto& metrics = check_of(report, check)["metrics"];
    REQUIRE(metrics.HasMember(metric.c_str()));
    return metrics[metric.c_str()].GetInt64();
}

const rapidjson::Value* fix_of(const rapidjson::Document& report, const std::string& name) {
    for (const auto& fix : report["fixes"].GetArray()) {
        if (name == fix["name"].GetString()) {
            return &fix;
        }
    }
    return nullptr;
}

int count_lines_with(const std::string& text, const std::string& part) {
    int count = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        count += line.find(part) != std::string::npos ? 1 : 0;
    }
    return count;
}

}  // namespace

TEST_CASE("eye-monitor on a healthy migrated database reports every check and exits 0") {
    TestDatabase db;
    auto result = monitor(db, {"--format=json"});
    INFO(result.err);
    CHECK(result.exit_code == 0);
    auto report = report_of(result);
    CHECK(std::string(report["status"].GetString()) == "ok");
    std::vector<std::string> names;
    for (const auto& check : report["checks"].GetArray()) {
        names.push_back(check["name"].GetString());
        CHECK(check.HasMember("message"));
        CHECK(check["metrics"].IsObject());
    }
    CHECK(names == std::vector<std::string>{"database", "ai_service", "ollama", "queue",
                                            "stuck_media", "stuck_jobs", "workers", "schedule",
                                            "disk"});
    CHECK(status_of(report, "database") == "ok");
    CHECK(status_of(report, "ai_service") == "skipped");
    CHECK(status_of(report, "ollama") == "skipped");
    CHECK(report["fixes"].GetArray().Size() == 0);
    // one begin and one end line
    CHECK(count_lines_with(result.err, "eye-monitor begin:") == 1);
    CHECK(count_lines_with(result.err, "eye-monitor end: ok in ") == 1);
    // and its run is recorded
    CHECK(db.query_value(
              "SELECT status || ' ' || exit_code FROM eye.runs WHERE task = 'monitor'") == "ok 0");
}

TEST_CASE("three images stuck for 11 minutes are reported, reset once and queued once") {
    TestDatabase db;
    std::vector<std::int64_t> stuck;
    for (int i = 0; i < 3; ++i) {
        stuck.push_back(insert_media(db, processing(11)));
    }
    auto recent = insert_media(db, processing(5));

    auto first = monitor(db, {"--format=json"});
    auto report = report_of(first);
    CHECK(first.exit_code == 1);
    CHECK(status_of(report, "stuck_media") == "warning");
    CHECK(metric_of(report, "stuck_media", "stuck") == 3);
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'processing'") == "4");

    // no worker is alive, but the jobs the fix queues have only just been queued: a warning
    // for the repair, not an alarm about the workers
    auto fixed = monitor(db, {"--format=json", "--fix"});
    auto fix_report = report_of(fixed);
    CHECK(status_of(fix_report, "workers") == "ok");
    CHECK(metric_of(fix_report, "queue", "pending") == 3);
    const auto* fix = fix_of(fix_report, "stuck_media");
    REQUIRE(fix != nullptr);
    CHECK((*fix)["count"].GetInt64() == 3);
    CHECK((*fix)["jobs_queued"].GetInt64() == 3);
    CHECK(fixed.exit_code == 1);
    CHECK(db.query_value(fmt::format(
              "SELECT string_agg(id::text, ',' ORDER BY id) FROM media_files WHERE "
              "processing_status = 'pending' AND processing_error = 'Reset by monitor: stuck in "
              "processing'")) == fmt::format("{},{},{}", stuck[0], stuck[1], stuck[2]));
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     recent)) == "processing");
    CHECK(db.query_value("SELECT string_agg(media_id::text, ',' ORDER BY media_id) FROM eye.jobs "
                         "WHERE status = 'queued' AND kind = 'analyze'") ==
          fmt::format("{},{},{}", stuck[0], stuck[1], stuck[2]));

    auto again = monitor(db, {"--format=json", "--fix"});
    auto again_report = report_of(again);
    CHECK(metric_of(again_report, "stuck_media", "stuck") == 0);
    CHECK(fix_of(again_report, "stuck_media") == nullptr);
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "3");
}

TEST_CASE("--fix is not critical because of the jobs its own repair just queued") {
    TestDatabase db;
    insert_media(db, processing(11));
    auto result = monitor(db, {"--format=json", "--fix"});
    CHECK(result.exit_code == 1);
    auto report = report_of(result);
    CHECK(std::string(report["status"].GetString()) == "warning");
    CHECK(status_of(report, "stuck_media") == "warning");
    CHECK(status_of(report, "workers") == "ok");
}

TEST_CASE("images processing since a time in the future are a warning that names the zone") {
    TestDatabase db;
    // written in a zone 5 hours ahead of the one EYE_DB_TIMEZONE names
    insert_media(db, processing(-300));
    auto stuck = insert_media(db, processing(11));
    auto report = report_of(monitor(db, {"--format=json"}));
    CHECK(status_of(report, "stuck_media") == "warning");
    CHECK_THAT(message_of(report, "stuck_media"),
               Catch::StartsWith("1 image in processing for over 10m with no live job") &&
                   Catch::Contains("1 image in processing since a time up to 5h ahead") &&
                   Catch::Contains("EYE_DB_TIMEZONE"));
    CHECK(metric_of(report, "stuck_media", "future") == 1);

    db.execute(fmt::format("DELETE FROM media_files WHERE id = {}", stuck));
    auto future_only = report_of(monitor(db, {"--format=json"}));
    CHECK(status_of(future_only, "stuck_media") == "warning");
    CHECK_THAT(message_of(future_only, "stuck_media"),
               Catch::StartsWith("no image in processing for over 10m; 1 image in processing "
                                 "since a time up to "));
    // a few minutes of clock skew between hosts is not a wrong zone
    db.execute("UPDATE media_files SET processing_started_at = now() + interval '2 minutes'");
    auto skewed = report_of(monitor(db, {"--format=json"}));
    CHECK(status_of(skewed, "stuck_media") == "ok");
}

TEST_CASE("an image with a live job is not stuck however long it has been processing") {
    TestDatabase db;
    auto slow = insert_media(db, processing(40));
    insert_job(db, JobRow(slow).running(0.5));
    auto dead = insert_media(db, processing(40));
    insert_job(db, JobRow(dead).running(30));

    auto report = report_of(monitor(db, {"--format=json"}));
    CHECK(metric_of(report, "stuck_media", "stuck") == 1);
    CHECK(status_of(report, "stuck_jobs") == "warning");
    CHECK(metric_of(report, "stuck_jobs", "stuck_jobs") == 1);
}

TEST_CASE(
    "staleness is judged by updated_at when processing_started_at is NULL, and deleted "
    "images and other media types are never touched") {
    TestDatabase db;
    auto by_updated = insert_media(db, processing(std::nullopt).updated(20));
    insert_media(db, processing(std::nullopt).updated(2));
    auto deleted = insert_media(db, processing(60).soft_deleted());
    auto video = insert_media(db, processing(60).of_type("video"));
    auto result = monitor(db, {"--format=json", "--fix"});
    auto report = report_of(result);
    CHECK(fix_of(report, "stuck_media")->operator[]("count").GetInt64() == 1);
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     by_updated)) == "pending");
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     deleted)) == "processing");
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     video)) == "processing");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "1");
}

TEST_CASE("ten stuck images are critical, and --stuck-after moves the line") {
    TestDatabase db;
    for (int i = 0; i < 10; ++i) {
        insert_media(db, processing(15));
    }
    auto result = monitor(db, {"--format=json"});
    CHECK(result.exit_code == 2);
    CHECK(status_of(report_of(result), "stuck_media") == "critical");
    auto later = monitor(db, {"--format=json", "--stuck-after=20m"});
    CHECK(later.exit_code == 0);
    CHECK(metric_of(report_of(later), "stuck_media", "stuck") == 0);
}

TEST_CASE("--fix --dry-run reports what it would fix and writes nothing but its run record") {
    TestDatabase db;
    insert_media(db, processing(30));
    auto dead = insert_media(db, processing(30));
    insert_job(db, JobRow(dead).running(10));
    auto before = db.query_value(
                      "SELECT md5(string_agg(m::text, '' ORDER BY id)) FROM "
                      "media_files m") +
                  db.query_value("SELECT md5(string_agg(j::text, '' ORDER BY id)) FROM eye.jobs j");
    auto result = monitor(db, {"--format=json", "--fix", "--dry-run"});
    auto report = report_of(result);
    CHECK(fix_of(report, "stuck_media") != nullptr);
    CHECK(fix_of(report, "stuck_jobs") != nullptr);
    auto after = db.query_value(
                     "SELECT md5(string_agg(m::text, '' ORDER BY id)) FROM "
                     "media_files m") +
                 db.query_value("SELECT md5(string_agg(j::text, '' ORDER BY id)) FROM eye.jobs j");
    CHECK(before == after);
    CHECK(db.query_value("SELECT dry_run FROM eye.runs WHERE task = 'monitor'") == "t");

    // the text says what would happen, not what was fixed
    auto text = monitor(db, {"--fix", "--dry-run"});
    CHECK_THAT(text.out, Catch::Contains("would reset 2 stuck images to pending and queue "
                                         "their analyses (dry run: nothing changed)\n"));
    CHECK_THAT(text.out, Catch::Contains("would requeue 1 stuck job (dry run: nothing changed)"));
    CHECK_THAT(text.out, !Catch::Contains("fixed:"));
}

TEST_CASE(
    "stuck jobs go back to the queue, or to failed jobs once they have lost their worker "
    "three times") {
    TestDatabase db;
    auto retry = insert_media(db, processing(3));
    auto retry_job = insert_job(db, JobRow(retry).running(3).tried(1));
    // an outage during the last attempt is not the image's fault: it gets the attempt back
    auto outage = insert_media(db, processing(3));
    auto outage_job = insert_job(db, JobRow(outage).running(3).tried(3, 3));
    auto last = insert_media(db, processing(3));
    insert_job(db, JobRow(last).running(3).tried(3, 3).rescued(2));
    // a re-analysis of a good image whose last attempt died keeps its earlier result
    auto good = insert_media(db, processing(3).described("a cat"));
    insert_job(db, JobRow(good).running(3).tried(3, 3).before("completed").rescued(2));
    auto live = insert_media(db, processing(3));
    insert_job(db, JobRow(live).running(0.2).tried(1));

    auto result = monitor(db, {"--format=json", "--fix"});
    auto report = report_of(result);
    const auto* fix = fix_of(report, "stuck_jobs");
    REQUIRE(fix != nullptr);
    CHECK((*fix)["requeued"].GetInt64() == 2);
    CHECK((*fix)["failed"].GetInt64() == 2);
    CHECK(db.query_value(fmt::format("SELECT status || ' ' || attempts || ' ' || rescues FROM "
                                     "eye.jobs WHERE id = {}",
                                     outage_job)) == "queued 2 1");
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     outage)) == "pending");
    CHECK(db.query_value(fmt::format("SELECT status || ' ' || (worker_id IS NULL) FROM eye.jobs "
                                     "WHERE id = {}",
                                     retry_job)) == "queued true");
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     retry)) == "pending");
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     last)) == "failed");
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     good)) == "completed");
    CHECK(db.query_value("SELECT string_agg(media_id::text, ',' ORDER BY media_id) FROM "
                         "eye.failed_jobs") == fmt::format("{},{}", last, good));
    CHECK(db.query_value(fmt::format("SELECT status || ' ' || consecutive_failures FROM "
                                     "eye.media_state WHERE media_id = {}",
                                     last)) == "failed 1");
    CHECK(db.query_value(fmt::format("SELECT status FROM eye.jobs WHERE media_id = {}", live)) ==
          "running");
    // the images of requeued and failed jobs are no longer processing, so none is reset again
    CHECK(fix_of(report, "stuck_media") == nullptr);
}

TEST_CASE(
    "the queue check warns above --max-pending and --max-failed and is critical above "
    "the critical limits") {
    TestDatabase db;
    db.execute("INSERT INTO eye.jobs (media_id) SELECT g FROM generate_series(1, 12) g");
    auto ok = report_of(monitor(db, {"--format=json", "--max-pending=20"}));
    CHECK(status_of(ok, "queue") == "ok");
    CHECK(metric_of(ok, "queue", "pending") == 12);
    auto warning = report_of(monitor(db, {"--format=json", "--max-pending=10"}));
    CHECK(status_of(warning, "queue") == "warning");
    auto critical =
        report_of(monitor(db, {"--format=json", "--max-pending=5", "--critical-pending=11"}));
    CHECK(status_of(critical, "queue") == "critical");

    db.execute(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at) "
        "SELECT g, 'analyze', g, 3, 'boom', now() FROM generate_series(1, 4) g");
    auto failed = report_of(monitor(db, {"--format=json", "--max-pending=100", "--max-failed=3"}));
    CHECK(status_of(failed, "queue") == "warning");
    CHECK(metric_of(failed, "queue", "failed") == 4);
}

TEST_CASE("the queue check reports Laravel's jobs and failed_jobs where they exist") {
    TestDatabase db;
    db.execute(
        "CREATE TABLE jobs (id bigserial PRIMARY KEY, queue varchar(255), payload text, "
        "attempts smallint, reserved_at int, available_at int, created_at int)");
    db.execute(
        "CREATE TABLE failed_jobs (id bigserial PRIMARY KEY, uuid varchar(255), "
        "connection text, queue text, payload text, exception text, failed_at timestamp)");
    db.execute("INSERT INTO jobs (queue, payload) VALUES ('default', '{}'), ('default', '{}')");
    db.execute(
        "INSERT INTO failed_jobs (uuid, payload, exception, failed_at) VALUES "
        "('u1', '{}', 'boom', now())");
    auto report = report_of(monitor(db, {"--format=json"}));
    CHECK(metric_of(report, "queue", "laravel_jobs") == 2);
    CHECK(metric_of(report, "queue", "laravel_failed_jobs") == 1);
    // eye's own queue is not confused with Laravel's
    CHECK(metric_of(report, "queue", "pending") == 0);
}

TEST_CASE(
    "the workers check is critical when jobs wait longer than a heartbeat and no worker "
    "sends heartbeats") {
    TestDatabase db;
    db.execute(
        "INSERT INTO eye.workers (id, host, pid, heartbeat_at) VALUES "
        "('old', 'h', 1, now() - interval '10 minutes')");
    // jobs queued a moment ago (an import) are no alarm yet
    db.execute("INSERT INTO eye.jobs (media_id) SELECT generate_series(1, 14)");
    auto fresh = monitor(db, {"--format=json"});
    CHECK(fresh.exit_code == 0);
    auto fresh_report = report_of(fresh);
    CHECK(status_of(fresh_report, "workers") == "ok");
    CHECK_THAT(message_of(fresh_report, "workers"),
               Catch::StartsWith("no worker running; 14 jobs waiting, the oldest for 0s "
                                 "(critical after 2m)"));

    db.execute(
        "UPDATE eye.jobs SET available_at = now() - interval '3 minutes' WHERE media_id = 1");
    auto result = monitor(db, {"--format=json"});
    CHECK(result.exit_code == 2);
    auto report = report_of(result);
    CHECK(status_of(report, "workers") == "critical");
    CHECK_THAT(message_of(report, "workers"),
               Catch::StartsWith("14 jobs waiting, the oldest for 3m") && Catch::Contains("hint:"));

    db.execute("INSERT INTO eye.workers (id, host, pid) VALUES ('live', 'h', 2)");
    auto alive = report_of(monitor(db, {"--format=json"}));
    CHECK(status_of(alive, "workers") == "ok");
    CHECK(metric_of(alive, "workers", "workers") == 1);
}

TEST_CASE(
    "the schedule check warns about a task that has not succeeded within twice its "
    "period") {
    TestDatabase db;
    // eye-reanalyze runs every 6 hours: a last success 13 hours ago, a failure since, is late
    // (the hourly retry of failed analyses, the same task with --priority=failed, does not stand
    // in for it); eye-cleanup (weekly) succeeded 3 days ago, which is on time
    db.execute(
        "INSERT INTO eye.runs (task, host, pid, args, started_at, status, exit_code) VALUES "
        "('reanalyze', 'h', 1, '[\"--batch=25\", \"--priority=oldest\"]', "
        " now() - interval '13 hours', 'ok', 0), "
        "('reanalyze', 'h', 1, '[\"--batch=25\", \"--priority=oldest\"]', "
        " now() - interval '1 hour', 'failed', 75), "
        "('reanalyze', 'h', 1, '[\"--priority=failed\", \"--batch=25\"]', "
        " now() - interval '10 minutes', 'ok', 0), "
        "('cleanup', 'h', 1, '[\"--hours=168\"]', now() - interval '3 days', 'ok', 0)");
    auto report = report_of(monitor(db, {"--format=json"}));
    CHECK(status_of(report, "schedule") == "warning");
    CHECK_THAT(
        message_of(report, "schedule"),
        Catch::Contains("eye-reanalyze --batch=25 --priority=oldest has not succeeded since"));
    CHECK_THAT(message_of(report, "schedule"), Catch::Contains("expected every 6h"));
    CHECK_THAT(message_of(report, "schedule"), !Catch::Contains("eye-cleanup"));
    CHECK_THAT(message_of(report, "schedule"), !Catch::Contains("--priority=failed"));
    CHECK(metric_of(report, "schedule", "late_tasks") == 1);

    // a task scheduled once is matched by its name alone, whatever its arguments
    db.execute(
        "INSERT INTO eye.runs (task, host, pid, args, started_at, status, exit_code) VALUES "
        "('reanalyze', 'h', 1, '[\"--priority=oldest\"]', now() - interval '5 hours', 'ok', 0), "
        "('cleanup', 'h', 1, '[]', now() - interval '1 day', 'ok', 0)");
    auto on_time = report_of(monitor(db, {"--format=json"}));
    CHECK(status_of(on_time, "schedule") == "ok");
    CHECK(message_of(on_time, "schedule") == "3 tasks on schedule");
}

TEST_CASE("the schedule check does not judge the monitor itself") {
    TestDatabase db;
    // eye-monitor is due every 5 minutes; its own gaps are for whoever runs it to see
    db.execute(
        "INSERT INTO eye.runs (task, host, pid, started_at, status, exit_code) VALUES "
        "('monitor', 'h', 1, now() - interval '15 minutes', 'ok', 0), "
        "('monitor', 'h', 1, now() - interval '3 minutes', 'failed', 2)");
    auto report = report_of(monitor(db, {"--format=json"}));
    CHECK(status_of(report, "schedule") == "ok");
    CHECK(metric_of(report, "schedule", "late_tasks") == 0);
}

TEST_CASE("the disk check warns below --min-free and is critical below --critical-free") {
    TestDatabase db;
    auto ok = report_of(monitor(db, {"--format=json", "--min-free=1MiB", "--critical-free=1k"}));
    CHECK(status_of(ok, "disk") == "ok");
    auto warning =
        report_of(monitor(db, {"--format=json", "--min-free=1000TB", "--critical-free=1k"}));
    CHECK(status_of(warning, "disk") == "warning");
    auto critical = report_of(monitor(db, {"--format=json", "--critical-free=1000TB"}));
    CHECK(status_of(critical, "disk") == "critical");
}

TEST_CASE("the database check warns when a round trip is slower than --max-db-latency") {
    TestDatabase db;
    auto report = report_of(monitor(db, {"--format=json", "--max-db-latency=0"}));
    CHECK(status_of(report, "database") == "warning");
}

TEST_CASE(
    "a database that is down is the database check's critical, and nothing else is "
    "decided") {
    int port = eye::testing::closed_port();
    auto result = eye::testing::run(
        "eye-monitor", {"--format=nagios"},
        {{"EYE_DATABASE_URL", fmt::format("postgresql://eye:secret@127.0.0.1:{}/eye", port)}});
    CHECK(result.exit_code == 2);
    CHECK_THAT(result.out, Catch::StartsWith("EYE CRITICAL - database: cannot connect"));
    CHECK_THAT(result.out, Catch::Contains("hint:"));
    CHECK_THAT(result.err, !Catch::Contains("secret"));
    auto json = eye::testing::run(
        "eye-monitor", {"--format=json"},
        {{"EYE_DATABASE_URL", fmt::format("postgresql://eye@127.0.0.1:{}/eye", port)}});
    auto report = report_of(json);
    CHECK(status_of(report, "database") == "critical");
    CHECK(status_of(report, "queue") == "unknown");
    CHECK(status_of(report, "disk") == "ok");
}

TEST_CASE("a database without the eye schema is critical with a hint to migrate") {
    TestDatabase db(false);
    auto result = monitor(db, {"--format=json"});
    CHECK(result.exit_code == 2);
    auto report = report_of(result);
    CHECK_THAT(message_of(report, "database"), Catch::Contains("eye db:migrate"));
    CHECK(status_of(report, "stuck_media") == "unknown");
    CHECK(db.query_value("SELECT to_regclass('eye.runs') IS NULL") == "t");
}

TEST_CASE("a check whose query cannot finish is unknown, and the monitor exits 3") {
    TestDatabase db;
    auto locker = db.connect();
    eye::db::Transaction hold(locker);
    hold.run_sql("lock", "LOCK TABLE eye.failed_jobs IN ACCESS EXCLUSIVE MODE");
    auto result = monitor(db, {"--format=json", "--statement-timeout=1s"});
    auto report = report_of(result);
    CHECK(status_of(report, "queue") == "unknown");
    CHECK_THAT(message_of(report, "queue"), Catch::Contains("could not check"));
    CHECK(result.exit_code == 3);
}

TEST_CASE("the AI service check maps every answer of /health to a status") {
    TestDatabase db;
    struct Case {
        std::string mode;
        std::string status;
        std::string message_part;
    };
    for (const auto& c : std::vector<Case>{{"healthy", "ok", "healthy"},
                                           {"initializing", "warning", "initializing"},
                                           {"models-not-loaded", "warning", "models loaded: no"},
                                           {"html", "critical", "not JSON"},
                                           {"not-json", "critical", "not JSON"},
                                           {"error500", "critical", "HTTP 500"},
                                           {"hang", "critical", "timed out"},
                                           {"deep-json", "critical", "nested deeper than 64"}}) {
        INFO("mode " << c.mode);
        FakeServices fake(true, false, {"--ai-mode", c.mode});
        auto result =
            monitor(db, {"--format=json", "--http-timeout=1s"}, {{"EYE_AI_URL", fake.ai_url()}});
        auto report = report_of(result);
        CHECK(status_of(report, "ai_service") == c.status);
        CHECK_THAT(message_of(report, "ai_service"), Catch::Contains(c.message_part));
        if (c.status == "critical") {
            CHECK(result.exit_code == 2);
            CHECK_THAT(message_of(report, "ai_service"), Catch::Contains("hint:"));
        }
        if (c.mode == "hang") {
            CHECK(result.elapsed < std::chrono::seconds(5));
        }
    }
    int port = eye::testing::closed_port();
    auto refused = report_of(
        monitor(db, {"--format=json"}, {{"EYE_AI_URL", fmt::format("http://127.0.0.1:{}", port)}}));
    CHECK(status_of(refused, "ai_service") == "critical");
    CHECK_THAT(message_of(refused, "ai_service"), Catch::Contains("refused"));
}

TEST_CASE("the Ollama check matches model names exactly and --fix pulls what is missing") {
    TestDatabase db;
    FakeServices fake(false, true,
                      {"--ollama-models", "llava-phi3:latest,nomic-embed-text:latest",
                       "--ollama-pullable", "llava:latest"});
    eye::testing::Environment env{{"EYE_OLLAMA_URL", fake.ollama_url()},
                                  {"EYE_OLLAMA_MODELS", "llava,nomic-embed-text"}};
    auto missing = report_of(monitor(db, {"--format=json"}, env));
    CHECK(status_of(missing, "ollama") == "warning");
    CHECK_THAT(message_of(missing, "ollama"), Catch::Contains("llava:latest"));
    CHECK(metric_of(missing, "ollama", "models_missing") == 1);

    auto fixed = monitor(db, {"--format=json", "--fix"}, env);
    auto fixed_report = report_of(fixed);
    const auto* fix = fix_of(fixed_report, "ollama_pull");
    REQUIRE(fix != nullptr);
    CHECK((*fix)["count"].GetInt64() == 1);
    CHECK(metric_of(fixed_report, "ollama", "models_missing") == 0);
    CHECK_THAT(fixed.err, Catch::Contains("pulling 'llava:latest'"));

    auto after = report_of(monitor(db, {"--format=json"}, env));
    CHECK(status_of(after, "ollama") == "ok");
}

TEST_CASE("an Ollama pull that fails after a 200 leaves the model missing and says why") {
    TestDatabase db;
    FakeServices fake(false, true, {"--ollama-models", "llava:latest"});
    eye::testing::Environment env{{"EYE_OLLAMA_URL", fake.ollama_url()},
                                  {"EYE_OLLAMA_MODELS", "llava,moondream:1.8b"}};
    auto result = monitor(db, {"--format=json", "--fix"}, env);
    auto report = report_of(result);
    CHECK(status_of(report, "ollama") == "warning");
    CHECK_THAT(message_of(report, "ollama"), Catch::Contains("moondream:1.8b"));
    CHECK_THAT(message_of(report, "ollama"), Catch::Contains("file does not exist"));
    CHECK(fix_of(report, "ollama_pull")->operator[]("count").GetInt64() == 0);
}

TEST_CASE("an Ollama that does not answer is critical") {
    TestDatabase db;
    FakeServices fake(false, true, {"--ollama-mode", "hang"});
    auto result = monitor(db, {"--format=json", "--http-timeout=1s"},
                          {{"EYE_OLLAMA_URL", fake.ollama_url()}});
    CHECK(result.exit_code == 2);
    CHECK(status_of(report_of(result), "ollama") == "critical");
}

TEST_CASE("two monitors started at once: one runs and one skips") {
    TestDatabase db;
    // the AI fake never answers, so each monitor holds its lock for the whole timeout
    FakeServices fake(true, false, {"--ai-mode", "hang"});
    TempDir state;
    auto env = base_env(db, state);
    env["EYE_AI_URL"] = fake.ai_url();
    // only repairing runs take the lock; a read-only monitor never waits or skips
    eye::testing::Process first("eye-monitor", {"--fix", "--http-timeout=2s"}, env);
    eye::testing::Process second("eye-monitor", {"--fix", "--http-timeout=2s"}, env);
    auto a = first.wait();
    auto b = second.wait();
    const ProcessResult& skipped = a.err.find("skipped:") != std::string::npos ? a : b;
    const ProcessResult& ran = &skipped == &a ? b : a;
    const eye::testing::Process& runner = &ran == &a ? first : second;
    CHECK(skipped.exit_code == 0);
    CHECK(ran.exit_code == 2);
    CHECK_THAT(skipped.err,
               Catch::Contains(fmt::format("skipped: eye-monitor is already running (host ")));
    CHECK_THAT(skipped.err, Catch::Contains(fmt::format("pid {}, since ", runner.pid())));
    CHECK(db.query_value("SELECT string_agg(status, ',' ORDER BY status) FROM eye.runs") ==
          "failed,skipped");

    eye::testing::Process third("eye-monitor", {"--fix", "--http-timeout=2s"}, env);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto locked = eye::testing::run("eye-monitor", {"--fix", "--fail-if-locked"}, env);
    CHECK(locked.exit_code == 75);
    // a read-only monitor meanwhile runs its checks and answers
    auto reader = eye::testing::run("eye-monitor", {"--http-timeout=1s", "--format=nagios"}, env);
    CHECK(reader.exit_code == 2);
    CHECK_THAT(reader.out, Catch::StartsWith("EYE CRITICAL - ai_service"));
    third.wait();
}

TEST_CASE("--fix takes the lock however it is given: --fix=true or fix = true in the config") {
    TestDatabase db;
    insert_media(db, processing(12));
    // another repairing monitor holds the lock
    auto holder = db.connect();
    REQUIRE(eye::run_record::try_lock(holder, "monitor"));
    TempDir dir;
    std::string config = (dir.path / "eye.conf").string();
    std::ofstream(config) << "fix = true\n";
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"--fix", "--fail-if-locked"},
                                               {"--fix=true", "--fail-if-locked"},
                                               {"--config", config, "--fail-if-locked"}}) {
        INFO(fmt::format("{}", fmt::join(args, " ")));
        auto result = monitor(db, args);
        CHECK(result.exit_code == 75);
        CHECK_THAT(result.err, Catch::Contains("skipped: eye-monitor is already running"));
    }
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "processing");
    // a read-only run is not held up by the lock
    CHECK(monitor(db, {"--fail-if-locked"}).exit_code == 1);
}

TEST_CASE("a monitor that cannot start its checks still prints its format's line or document") {
    TestDatabase db;
    TempDir dir;
    const auto url = eye::db::ConnInfo::parse(db.url());
    REQUIRE(url);
    struct Case {
        std::string what;
        eye::testing::Environment env;
        std::vector<std::string> args;
        std::string names;  // a part of the message that names the problem
    };
    const std::vector<Case> cases = {
        {"a database that does not exist",
         {{"EYE_DATABASE_URL", url->with("dbname", "no_such_database").to_string()}},
         {},
         "no_such_database"},
        {"a role that does not exist",
         {{"EYE_DATABASE_URL", url->with("user", "no_such_role").to_string()}},
         {},
         "no_such_role"},
        {"a URL that is not one",
         {{"EYE_DATABASE_URL", "garbage://x"}},
         {},
         "invalid database URL"},
        {"a missing --config file",
         {},
         {"--config", (dir.path / "missing.conf").string()},
         "cannot read the config file"},
        {"a missing EYE_CONFIG file",
         {{"EYE_CONFIG", (dir.path / "missing.conf").string()}},
         {},
         "cannot read the config file"},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        auto args = c.args;
        args.push_back("--format=nagios");
        auto nagios = monitor(db, args, c.env);
        INFO("stderr: " << nagios.err);
        CHECK(nagios.exit_code == 3);
        CHECK_THAT(nagios.out, Catch::StartsWith("EYE UNKNOWN - "));
        CHECK_THAT(nagios.out, Catch::Contains(c.names));
        CHECK(count_lines_with(nagios.out, "") == 1);

        args.back() = "--format=json";
        auto json = monitor(db, args, c.env);
        CHECK(json.exit_code == 78);
        auto report = report_of(json);
        CHECK(std::string(report["status"].GetString()) == "unknown");
        CHECK_THAT(report["message"].GetString(), Catch::Contains(c.names));
        CHECK(report["checks"].GetArray().Size() == 0);

        args.back() = "--format=text";
        auto text = monitor(db, args, c.env);
        CHECK(text.exit_code == 78);
        CHECK(text.out.empty());
        CHECK_THAT(text.err, Catch::Contains(c.names));
    }
    // the format may come from the environment when the file that would say more is missing
    auto from_env =
        monitor(db, {"--config", (dir.path / "missing.conf").string()}, {{"EYE_FORMAT", "nagios"}});
    CHECK(from_env.exit_code == 3);
    CHECK_THAT(from_env.out, Catch::StartsWith("EYE UNKNOWN - cannot read the config file"));
}

TEST_CASE("a monitor skipped for the lock says so in its format, and Nagios reads UNKNOWN") {
    TestDatabase db;
    auto holder = db.connect();
    REQUIRE(eye::run_record::try_lock(holder, "monitor"));
    auto nagios = monitor(db, {"--fix", "--format=nagios"});
    CHECK(nagios.exit_code == 3);
    CHECK_THAT(nagios.out, Catch::StartsWith("EYE UNKNOWN - skipped: eye-monitor is already "
                                             "running (host "));
    auto json = monitor(db, {"--fix", "--format=json"});
    CHECK(json.exit_code == 0);
    auto report = report_of(json);
    CHECK(std::string(report["status"].GetString()) == "skipped");
    CHECK_THAT(report["message"].GetString(),
               Catch::StartsWith("eye-monitor is already running (host "));
    auto text = monitor(db, {"--fix"});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::StartsWith("status: SKIPPED - eye-monitor is already running"));
}

TEST_CASE("a slow model pull holds a lock of its own: the next runs check, repair and report it") {
    TestDatabase db;
    // 7 lines 2 s apart: the pull takes about 14 s
    FakeServices fake(false, true,
                      {"--ollama-models", "nomic-embed-text:latest", "--ollama-pullable",
                       "llava:latest", "--ollama-pull-delay", "2000"});
    TempDir state;
    auto env = base_env(db, state);
    env["EYE_OLLAMA_URL"] = fake.ollama_url();
    env["EYE_OLLAMA_MODELS"] = "llava,nomic-embed-text";
    eye::testing::Process pulling("eye-monitor", {"--fix", "--format=json"}, env);
    // wait until the pull has published its progress
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (db.query_value("SELECT count(*) FROM eye.runs WHERE status = 'running' AND "
                          "summary ? 'pulling'") != "1") {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto stuck = insert_media(db, processing(12));
    // a second repairing run is not skipped: it resets the stuck image and reports the pull
    auto second = eye::testing::run("eye-monitor", {"--fix", "--format=json"}, env);
    INFO("second: " << second.err);
    CHECK(pulling.running());
    auto report = report_of(second);
    CHECK(status_of(report, "ollama") == "warning");
    CHECK_THAT(message_of(report, "ollama"),
               Catch::Matches(".*missing llava:latest; a pull is in progress: llava:latest "
                              "[0-9]+ % \\(host .*, pid [0-9]+, since .*\\)"));
    CHECK(fix_of(report, "ollama_pull") == nullptr);
    REQUIRE(fix_of(report, "stuck_media") != nullptr);
    CHECK((*fix_of(report, "stuck_media"))["count"].GetInt64() == 1);
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     stuck)) == "pending");
    // Nagios meanwhile reads the real state, not a skip
    auto nagios = eye::testing::run("eye-monitor", {"--fix", "--format=nagios"}, env);
    CHECK(nagios.exit_code == 1);
    CHECK_THAT(nagios.out, Catch::StartsWith("EYE WARNING - ollama: "));

    auto pulled = pulling.wait();
    INFO("pulling: " << pulled.err);
    auto pulled_report = report_of(pulled);
    REQUIRE(fix_of(pulled_report, "ollama_pull") != nullptr);
    CHECK((*fix_of(pulled_report, "ollama_pull"))["count"].GetInt64() == 1);
    CHECK(metric_of(pulled_report, "ollama", "models_missing") == 0);
    // the runs that went on meanwhile did not take the pulling run for abandoned
    CHECK(db.query_value("SELECT string_agg(status, ',' ORDER BY id) FROM eye.runs") ==
          "warning,warning,warning");
}

TEST_CASE("--format=nagios gives one status line with perfdata") {
    TestDatabase db;
    for (int i = 0; i < 3; ++i) {
        insert_media(db, processing(12));
    }
    db.execute("INSERT INTO eye.workers (id, host, pid) VALUES ('live', 'h', 1)");
    auto result = monitor(db, {"--format=nagios", "--fix"});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.out, Catch::StartsWith("EYE WARNING - stuck_media: 3 stuck images reset"));
    CHECK_THAT(result.out, Catch::Contains("| "));
    CHECK_THAT(result.out, Catch::Contains(" stuck=3;1;10 "));
    CHECK_THAT(result.out, Catch::Contains(" pending=3;100;1000 "));
    // free space is bad when low: Nagios' "alert below" range
    CHECK_THAT(result.out, Catch::Matches(".* disk_free_bytes=[0-9]+;1073741824:;104857600:\n"));
    CHECK(count_lines_with(result.out, "EYE ") == 1);
}

TEST_CASE("the text table shows every check and the overall status") {
    TestDatabase db;
    auto result = monitor(db, {});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::StartsWith("CHECK"));
    CHECK_THAT(result.out, Catch::Contains("database     ok"));
    CHECK_THAT(result.out, Catch::Contains("status: OK"));
}

TEST_CASE(
    "bad input gives a one-line error with a hint, the right exit code, and writes "
    "nothing") {
    TestDatabase db;
    struct Case {
        std::vector<std::string> args;
        eye::testing::Environment env;
        int exit_code;
        std::string part;
    };
    std::vector<Case> cases = {
        {{"--stuck-after=-5"}, {}, 64, "--stuck-after"},
        {{"--format=xml"}, {}, 64, "--format"},
        {{"--no-such-flag"}, {}, 64, "--no-such-flag"},
        {{"--max-pending=lots"}, {}, 64, "--max-pending"},
        {{}, {{"EYE_STUCK_AFTER", "soon"}}, 78, "EYE_STUCK_AFTER"},
        {{"--database-url=postgresql://u:pw@db:notaport/x"}, {}, 78, "invalid database URL"},
        {{}, {{"EYE_DATABASE_URL", "host=db port=99999"}}, 78, "invalid database URL"},
        {{"--config=/nonexistent/eye.conf"}, {}, 78, "config file"},
        {{}, {{"EYE_DB_TIMEZONE", "Mars/Olympus"}}, 78, "EYE_DB_TIMEZONE"},
        {{}, {{"EYE_DATABASE_URL", db.url() + "?sslmode=bogus"}}, 78, "sslmode"},
    };
    for (const auto& c : cases) {
        auto env = c.env;
        if (env.count("EYE_DATABASE_URL") == 0) {
            env["EYE_DATABASE_URL"] = db.url();
        }
        std::vector<std::string> args = c.args;
        bool overrides_url = !args.empty() && args[0].rfind("--database-url", 0) == 0;
        if (overrides_url) {
            env.erase("EYE_DATABASE_URL");
        }
        auto result = eye::testing::run("eye-monitor", args, env);
        INFO(result.err);
        CHECK(result.exit_code == c.exit_code);
        CHECK(count_lines_with(result.err, "ERROR") == 1);
        CHECK(count_lines_with(result.err, "\n") <= 1);
        CHECK_THAT(result.err, Catch::Contains(c.part));
        CHECK_THAT(result.err, Catch::Contains("hint:"));
        CHECK(result.out.empty());
    }
    CHECK(db.query_value("SELECT count(*) FROM eye.runs") == "0");
}

TEST_CASE("reset_stuck_media leaves an image that a worker finished meanwhile alone") {
    TestDatabase db;
    auto racing = insert_media(db, processing(30));
    auto stuck = insert_media(db, processing(30));
    db.execute("INSERT INTO eye.workers (id, host, pid) VALUES ('live', 'h', 1)");

    // the "worker" holds the image's row while it writes its result
    auto worker = db.connect();
    eye::db::Transaction finish(worker);
    finish.run_sql("finish", fmt::format("UPDATE media_files SET processing_status = "
                                         "'completed', processing_completed_at = now() "
                                         "WHERE id = {}",
                                         racing));

    std::ostringstream out;
    int exit_code = -1;
    std::thread monitor_thread([&] {
        exit_code = eye::run_command(
            *eye::find_command(eye::commands(), "system:monitor"),
            {"--fix", "--format=json", "--database-url=" + db.url(), "--state-dir=/tmp"}, out);
    });
    // the monitor's guarded UPDATE now waits for the worker's row lock
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (db.query_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND query LIKE '%Reset by monitor%'") != "1") {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    finish.commit();
    monitor_thread.join();

    auto report = eye::json::parse(out.str());
    REQUIRE(report);
    CHECK(fix_of(*report, "stuck_media")->operator[]("count").GetInt64() == 1);
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     racing)) == "completed");
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     stuck)) == "pending");
    CHECK(db.query_value(
              fmt::format("SELECT count(*) FROM eye.jobs WHERE media_id = {}", racing)) == "0");
    CHECK(exit_code == 1);
}

TEST_CASE("rescuing stuck jobs leaves a job whose worker sent a heartbeat meanwhile alone") {
    TestDatabase db;
    auto media = insert_media(db, processing(5));
    auto job = insert_job(db, JobRow(media).running(5).tried(1));
    auto worker = db.connect();
    eye::db::Transaction beat(worker);
    beat.run_sql("heartbeat",
                 fmt::format("UPDATE eye.jobs SET heartbeat_at = now() WHERE id = {}", job));

    std::ostringstream out;
    std::thread monitor_thread([&] {
        eye::run_command(
            *eye::find_command(eye::commands(), "system:monitor"),
            {"--fix", "--format=json", "--database-url=" + db.url(), "--state-dir=/tmp"}, out);
    });
    // the rescue skips the locked row rather than waiting; commit the heartbeat afterwards
    monitor_thread.join();
    beat.commit();
    CHECK(db.query_value(fmt::format("SELECT status FROM eye.jobs WHERE id = {}", job)) ==
          "running");
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     media)) == "processing");

    // and once the heartbeat is fresh, a later rescue finds nothing stale
    std::ostringstream again;
    eye::run_command(*eye::find_command(eye::commands(), "system:monitor"),
                     {"--fix", "--format=json", "--database-url=" + db.url(), "--state-dir=/tmp"},
                     again);
    auto report = eye::json::parse(again.str());
    REQUIRE(report);
    CHECK(fix_of(*report, "stuck_jobs") == nullptr);
}
