// eye-cleanup end to end: the built executable against a real PostgreSQL, checking which rows it
// leaves, its report, its run record and its exit code.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::ProcessResult;
using eye::testing::TempDir;
using eye::testing::TestDatabase;

namespace {

eye::testing::Environment env_for(const TestDatabase& db, eye::testing::Environment extra = {}) {
    extra["EYE_DATABASE_URL"] = db.url();
    return extra;
}

ProcessResult cleanup(const TestDatabase& db, const std::vector<std::string>& args,
                      eye::testing::Environment extra = {}) {
    return eye::testing::run("eye-cleanup", args, env_for(db, std::move(extra)),
                             std::chrono::seconds(120));
}

rapidjson::Document report_of(const ProcessResult& result) {
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    auto parsed = eye::json::parse(result.out);
    REQUIRE(parsed);
    return std::move(*parsed);
}

const rapidjson::Value& table_of(const rapidjson::Document& report, const std::string& name) {
    for (const auto& table : report["tables"].GetArray()) {
        if (name == table["table"].GetString()) {
            return table;
        }
    }
    FAIL("no table named " << name << " in the report");
    throw std::logic_error("unreachable");
}

std::int64_t deleted_in(const rapidjson::Document& report, const std::string& table) {
    return table_of(report, table)["deleted"].GetInt64();
}

std::vector<std::string> table_names(const rapidjson::Document& report) {
    std::vector<std::string> names;
    for (const auto& table : report["tables"].GetArray()) {
        names.push_back(table["table"].GetString());
    }
    return names;
}

int count_lines_with(const std::string& text, const std::string& part) {
    int count = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        count += line.find(part) != std::string::npos ? 1 : 0;
    }
    return count;
}

void insert_failed_job(const TestDatabase& db, const std::string& error, const std::string& age) {
    db.execute(fmt::format(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at, "
        "failed_at) VALUES (1, 'analyze', 1, 3, '{}', now() - interval '30 days', "
        "now() - interval '{}')",
        error, age));
}

// Failed jobs, completed and unfinished queue jobs, runs and workers on either side of each
// default cutoff; the name of each row says whether it must survive.
void seed_history(const TestDatabase& db) {
    insert_failed_job(db, "old", "169 hours");
    insert_failed_job(db, "older", "400 days");
    insert_failed_job(db, "keep", "167 hours");
    insert_failed_job(db, "keep-new", "1 minute");

    db.execute(
        "INSERT INTO eye.jobs (media_id, status, finished_at, created_at, reason) VALUES "
        "(1, 'completed', now() - interval '8 days', now() - interval '9 days', 'old'), "
        "(2, 'completed', now() - interval '100 days', now() - interval '100 days', 'old'), "
        "(3, 'completed', now() - interval '6 days', now() - interval '9 days', 'keep'), "
        "(4, 'queued', NULL, now() - interval '30 days', 'keep-queued'), "
        "(5, 'running', NULL, now() - interval '30 days', 'keep-running')");
    // an old running job that once finished (a retry): not completed, so it stays
    db.execute(
        "INSERT INTO eye.jobs (media_id, status, finished_at, created_at, reason) VALUES "
        "(6, 'running', now() - interval '30 days', now() - interval '30 days', "
        "'keep-running-finished')");

    db.execute(
        "INSERT INTO eye.runs (task, host, pid, started_at, finished_at, status, exit_code) "
        "VALUES "
        "('monitor', 'old', 1, now() - interval '91 days', now() - interval '91 days', 'ok', 0), "
        "('monitor', 'keep', 1, now() - interval '89 days', now() - interval '89 days', 'ok', 0), "
        "('monitor', 'keep-recent', 1, now() - interval '1 day', now() - interval '1 day', 'ok', "
        "0), "
        "('train', 'old', 1, now() - interval '200 days', now() - interval '200 days', 'failed', "
        "1), "
        "('train', 'keep-newest-of-task', 1, now() - interval '150 days', "
        "now() - interval '150 days', 'ok', 0), "
        "('export', 'keep-running', 1, now() - interval '120 days', NULL, 'running', NULL), "
        "('export', 'keep', 1, now() - interval '1 day', now() - interval '1 day', 'ok', 0)");

    db.execute(
        "INSERT INTO eye.workers (id, host, pid, started_at, heartbeat_at, stopped_at, status) "
        "VALUES "
        "('old-stopped', 'h', 1, now() - interval '9 days', now() - interval '8 days', "
        "now() - interval '8 days', 'stopped'), "
        "('old-silent', 'h', 2, now() - interval '9 days', now() - interval '8 days', NULL, "
        "'running'), "
        "('keep-stopped', 'h', 3, now() - interval '9 days', now() - interval '6 days', "
        "now() - interval '6 days', 'stopped'), "
        "('keep-live', 'h', 4, now() - interval '9 days', now() - interval '10 seconds', NULL, "
        "'running'), "
        "('keep-stopped-late', 'h', 5, now() - interval '9 days', now() - interval '8 days', "
        "now() - interval '1 day', 'stopped')");
}

std::string survivors(const TestDatabase& db, const std::string& table, const std::string& label,
                      const std::string& where = "true") {
    return db.query_value(fmt::format("SELECT string_agg({1}, ',' ORDER BY {1}) FROM {0} WHERE {2}",
                                      table, label, where));
}

// Laravel's failed_jobs as its migration creates it.
void create_laravel_failed_jobs(const TestDatabase& db, const std::string& schema = "public") {
    db.execute(fmt::format(
        "CREATE TABLE {}.failed_jobs (id bigserial PRIMARY KEY, uuid varchar(255) NOT NULL "
        "UNIQUE, connection text NOT NULL, queue text NOT NULL, payload text NOT NULL, "
        "exception text NOT NULL, failed_at timestamp(0) without time zone NOT NULL DEFAULT "
        "CURRENT_TIMESTAMP)",
        schema));
}

// Inserts one Laravel failed job whose failed_at is `age` ago as a wall-clock time in `zone`,
// as Laravel writes it in an application whose time zone is `zone`.
void insert_laravel_failed_job(const TestDatabase& db, const std::string& uuid,
                               const std::string& age, const std::string& zone,
                               const std::string& schema = "public") {
    db.execute(fmt::format(
        "INSERT INTO {}.failed_jobs (uuid, connection, queue, payload, exception, failed_at) "
        "VALUES ('{}', 'database', 'default', '{{}}', 'boom', "
        "(now() AT TIME ZONE '{}') - interval '{}')",
        schema, uuid, zone, age));
}

}  // namespace

// A database session named as the export run's process would name it, so that run counts as
// alive (a 'running' run without one is abandoned, closed and pruned like any other).
eye::db::Session alive_export(const TestDatabase& db) {
    eye::db::ConnectOptions options;
    options.url = db.url();
    options.application_name = "eye-export pid=1 host=keep-running";
    return eye::db::Session::connect(options);
}

TEST_CASE("eye-cleanup deletes every row older than each cutoff and keeps every newer row") {
    TestDatabase db;
    seed_history(db);
    auto export_session = alive_export(db);
    TempDir metrics;
    auto result = cleanup(db, {"--format=json"}, {{"EYE_METRICS_DIR", metrics.str()}});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);

    CHECK(survivors(db, "eye.failed_jobs", "error") == "keep,keep-new");
    CHECK(survivors(db, "eye.jobs", "reason") ==
          "keep,keep-queued,keep-running,keep-running-finished");
    // the run of this cleanup is recorded too
    CHECK(survivors(db, "eye.runs", "host", "task <> 'cleanup'") ==
          "keep,keep,keep-newest-of-task,keep-recent,keep-running");
    CHECK(survivors(db, "eye.workers", "id") == "keep-live,keep-stopped,keep-stopped-late");

    auto report = report_of(result);
    CHECK(report["dry_run"].GetBool() == false);
    CHECK(report["complete"].GetBool() == true);
    CHECK(table_names(report) ==
          std::vector<std::string>{"eye.failed_jobs", "eye.jobs", "eye.runs", "eye.workers"});
    CHECK(deleted_in(report, "eye.failed_jobs") == 2);
    CHECK(deleted_in(report, "eye.jobs") == 2);
    CHECK(deleted_in(report, "eye.runs") == 2);
    CHECK(deleted_in(report, "eye.workers") == 2);
    CHECK(report["deleted"].GetInt64() == 8);

    // the run record carries the summary, and the metrics file the counts per table
    CHECK(db.query_value("SELECT status || ' ' || exit_code || ' ' || (summary->>'deleted') "
                         "FROM eye.runs WHERE task = 'cleanup'") == "ok 0 8");
    std::ifstream prom(metrics.path / "eye_cleanup.prom");
    std::stringstream text;
    text << prom.rdbuf();
    CHECK_THAT(text.str(), Catch::Contains("eye_cleanup_failed_jobs_deleted{task=\"cleanup\"} 2"));
    CHECK_THAT(text.str(), Catch::Contains("eye_cleanup_workers_deleted{task=\"cleanup\"} 2"));
    CHECK_THAT(text.str(), Catch::Contains("eye_cleanup_deleted{task=\"cleanup\"} 8"));

    // nothing left to do: a second run deletes nothing
    auto again = report_of(cleanup(db, {"--format=json"}));
    CHECK(again["deleted"].GetInt64() == 0);
}

TEST_CASE("each retention flag moves its own line") {
    TestDatabase db;
    seed_history(db);
    auto export_session = alive_export(db);
    auto result = cleanup(db, {"--format=json", "--hours=24", "--keep-completed=1d",
                               "--keep-runs-days=30", "--keep-workers=2d"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(survivors(db, "eye.failed_jobs", "error") == "keep-new");
    CHECK(survivors(db, "eye.jobs", "reason") == "keep-queued,keep-running,keep-running-finished");
    // the monitor's run of 89 days ago goes; the newest of each task stays however old
    CHECK(survivors(db, "eye.runs", "host", "task <> 'cleanup'") ==
          "keep,keep-newest-of-task,keep-recent,keep-running");
    CHECK(survivors(db, "eye.workers", "id") == "keep-live,keep-stopped-late");
}

TEST_CASE("the umbrella's queue:prune-failed is the same command") {
    TestDatabase db;
    insert_failed_job(db, "old", "200 hours");
    insert_failed_job(db, "keep", "100 hours");
    auto result = eye::testing::run("eye", {"queue:prune-failed", "--hours=150"}, env_for(db));
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK(survivors(db, "eye.failed_jobs", "error") == "keep");
    CHECK(db.query_value("SELECT count(*) FROM eye.runs WHERE task = 'cleanup'") == "1");
}

TEST_CASE(
    "Laravel's failed_jobs is pruned by --hours in the application's time zone, in batches "
    "over its primary key") {
    TestDatabase db;
    create_laravel_failed_jobs(db);
    // old and new rows interleaved, so every batch has to walk past rows it keeps
    for (int i = 0; i < 10; ++i) {
        insert_laravel_failed_job(db, fmt::format("old-{:02}", i), "169 hours", "Asia/Tokyo");
        insert_laravel_failed_job(db, fmt::format("keep-{:02}", i), "167 hours", "Asia/Tokyo");
    }
    // a failed_jobs table in another schema is not the application's: left alone
    db.execute("CREATE SCHEMA other");
    create_laravel_failed_jobs(db, "other");
    insert_laravel_failed_job(db, "other-old", "500 hours", "UTC", "other");
    insert_failed_job(db, "eye-old", "169 hours");

    auto result =
        cleanup(db, {"--format=json", "--batch-size=3"}, {{"EYE_DB_TIMEZONE", "Asia/Tokyo"}});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(db.query_value("SELECT count(*) FROM public.failed_jobs WHERE uuid LIKE 'old-%'") == "0");
    CHECK(db.query_value("SELECT count(*) FROM public.failed_jobs WHERE uuid LIKE 'keep-%'") ==
          "10");
    CHECK(db.query_value("SELECT count(*) FROM other.failed_jobs") == "1");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");

    auto report = report_of(result);
    CHECK(table_names(report) == std::vector<std::string>{"eye.failed_jobs", "public.failed_jobs",
                                                          "eye.jobs", "eye.runs", "eye.workers"});
    CHECK(deleted_in(report, "public.failed_jobs") == 10);
    CHECK(table_of(report, "public.failed_jobs")["batches"].GetInt64() == 4);
    CHECK(deleted_in(report, "eye.failed_jobs") == 1);
}

TEST_CASE("Laravel's failed_jobs is found in media_files' schema, whatever its name") {
    TestDatabase db(false);
    db.execute("CREATE SCHEMA \"App Data\"");
    db.execute("ALTER DATABASE " + db.name() + " SET search_path = \"App Data\", public");
    {
        auto session = db.connect();
        eye::db::migrate(session, {});
    }
    REQUIRE(db.query_value("SELECT to_regclass('\"App Data\".media_files') IS NOT NULL") == "t");
    create_laravel_failed_jobs(db, "\"App Data\"");
    insert_laravel_failed_job(db, "old", "169 hours", "UTC", "\"App Data\"");
    insert_laravel_failed_job(db, "keep", "167 hours", "UTC", "\"App Data\"");
    auto result = cleanup(db, {"--format=json"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(db.query_value("SELECT string_agg(uuid, ',') FROM \"App Data\".failed_jobs") == "keep");
    CHECK(deleted_in(report_of(result), "App Data.failed_jobs") == 1);
}

TEST_CASE("without Laravel's failed_jobs the prune covers eye's tables only") {
    TestDatabase db;
    insert_failed_job(db, "old", "169 hours");
    auto result = cleanup(db, {"--format=json"});
    INFO(result.err);
    CHECK(result.exit_code == 0);
    auto report = report_of(result);
    CHECK(table_names(report) ==
          std::vector<std::string>{"eye.failed_jobs", "eye.jobs", "eye.runs", "eye.workers"});
    CHECK(report["skipped"].GetArray().Size() == 0);
}

TEST_CASE("a failed_jobs table eye does not recognise is skipped with a warning, not touched") {
    TestDatabase db;
    db.execute("CREATE TABLE failed_jobs (uuid text PRIMARY KEY, failed_at timestamp)");
    db.execute("INSERT INTO failed_jobs VALUES ('x', now() - interval '1 year')");
    insert_failed_job(db, "old", "169 hours");
    auto result = cleanup(db, {"--format=json"});
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK(db.query_value("SELECT count(*) FROM failed_jobs") == "1");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
    auto report = report_of(result);
    REQUIRE(report["skipped"].GetArray().Size() == 1);
    CHECK(std::string(report["skipped"][0]["table"].GetString()) == "public.failed_jobs");
    CHECK(count_lines_with(result.err, " WARN ") == 1);
    CHECK_THAT(result.err, Catch::Contains("no integer 'id' column"));
    CHECK(db.query_value("SELECT status FROM eye.runs WHERE task = 'cleanup'") == "warning");
}

TEST_CASE("--dry-run counts what would go, deletes nothing and records its own run") {
    TestDatabase db;
    seed_history(db);
    auto export_session = alive_export(db);
    create_laravel_failed_jobs(db);
    insert_laravel_failed_job(db, "old", "169 hours", "UTC");
    auto count_all = [&] {
        return db.query_value(
            "SELECT (SELECT count(*) FROM eye.failed_jobs) || ',' || (SELECT count(*) FROM "
            "eye.jobs) || ',' || (SELECT count(*) FROM eye.runs) || ',' || (SELECT count(*) "
            "FROM eye.workers) || ',' || (SELECT count(*) FROM public.failed_jobs)");
    };
    auto before = count_all();
    CHECK(before == "4,6,7,5,1");
    auto result = cleanup(db, {"--format=json", "--dry-run", "--batch-size=1"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    // the same rows, plus this run's record
    CHECK(count_all() == "4,6,8,5,1");
    CHECK(db.query_value("SELECT dry_run::text || ' ' || status FROM eye.runs WHERE task = "
                         "'cleanup'") == "true ok");

    auto report = report_of(result);
    CHECK(report["dry_run"].GetBool() == true);
    // nothing was deleted: the counts say what would be, and no field says "deleted"
    auto would = [&](const std::string& table) {
        return table_of(report, table)["would_delete"].GetInt64();
    };
    CHECK(would("eye.failed_jobs") == 2);
    CHECK(would("public.failed_jobs") == 1);
    CHECK(would("eye.jobs") == 2);
    CHECK(would("eye.runs") == 2);
    CHECK(would("eye.workers") == 2);
    CHECK(report["would_delete"].GetInt64() == 9);
    CHECK_FALSE(report.HasMember("deleted"));
    CHECK_FALSE(table_of(report, "eye.jobs").HasMember("deleted"));
    // the batches the deletion would take
    CHECK(table_of(report, "eye.failed_jobs")["batches"].GetInt64() == 2);

    auto text = cleanup(db, {"--dry-run"});
    CHECK_THAT(text.out, Catch::Contains("WOULD DELETE"));
    CHECK_THAT(text.out, Catch::Contains("would delete 9 row(s) in total"));
    // and what the dry run counted is what a real run deletes
    auto real = report_of(cleanup(db, {"--format=json"}));
    CHECK(real["deleted"].GetInt64() == 9);
}

TEST_CASE("50 old rows with --batch-size=7 go in 8 batches") {
    TestDatabase db;
    db.execute(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at, "
        "failed_at) SELECT g, 'analyze', g, 3, 'old', now(), now() - interval '30 days' "
        "FROM generate_series(1, 50) g");
    auto result = cleanup(db, {"--format=json", "--batch-size=7"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    auto report = report_of(result);
    CHECK(deleted_in(report, "eye.failed_jobs") == 50);
    CHECK(table_of(report, "eye.failed_jobs")["batches"].GetInt64() == 8);
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");

    auto text = cleanup(db, {"--batch-size=7"});
    CHECK_THAT(text.out, Catch::StartsWith("TABLE"));
    CHECK_THAT(text.out, Catch::Contains("deleted 0 row(s) in total"));
}

TEST_CASE("the JSON report has every field of the contract") {
    TestDatabase db;
    insert_failed_job(db, "old", "169 hours");
    auto result = cleanup(db, {"--format=json"});
    REQUIRE(result.exit_code == 0);
    auto report = report_of(result);
    CHECK(report["dry_run"].IsBool());
    CHECK(report["deleted"].IsInt64());
    CHECK(report["complete"].IsBool());
    CHECK(report["skipped"].IsArray());
    REQUIRE(report["tables"].IsArray());
    for (const auto& table : report["tables"].GetArray()) {
        for (const char* field : {"table", "cutoff", "deleted", "batches", "seconds",
                                  "rows_per_second", "longest_batch_seconds"}) {
            INFO(field);
            CHECK(table.HasMember(field));
        }
        CHECK(table["table"].IsString());
        CHECK(table["cutoff"].IsString());
        CHECK(table["deleted"].IsInt64());
        CHECK(table["batches"].IsInt64());
        CHECK(table["seconds"].IsNumber());
        CHECK(table["rows_per_second"].IsNumber());
        CHECK(table["longest_batch_seconds"].IsNumber());
    }
    // the cutoff is the run's now less --hours, in ISO 8601 with an offset
    std::string cutoff = table_of(report, "eye.failed_jobs")["cutoff"].GetString();
    CHECK(cutoff.size() == 25);
    CHECK(cutoff.substr(19) == "+00:00");
    CHECK(db.query_value(fmt::format(
              "SELECT abs(extract(epoch from (SELECT started_at FROM eye.runs WHERE task = "
              "'cleanup') - interval '168 hours' - '{}'::timestamptz)) < 2",
              cutoff)) == "t");
}

TEST_CASE("bad input exits 64 with a one-line error and deletes nothing") {
    TestDatabase db;
    insert_failed_job(db, "old", "169 hours");
    struct Case {
        std::vector<std::string> args;
        eye::testing::Environment env;
        int exit_code;
        std::string part;
    };
    std::vector<Case> cases = {
        {{"--hours=abc"}, {}, 64, "--hours"},
        {{"--hours=-5"}, {}, 64, "--hours"},
        {{"--batch-size=0"}, {}, 64, "--batch-size"},
        {{"--batch-size=1000001"}, {}, 64, "--batch-size"},
        {{"--keep-completed=soon"}, {}, 64, "--keep-completed"},
        {{"--keep-workers=1m"}, {}, 64, "--keep-workers"},
        {{"--format=xml"}, {}, 64, "--format"},
        {{}, {{"EYE_BATCH_SIZE", "0"}}, 78, "EYE_BATCH_SIZE"},
    };
    for (const auto& c : cases) {
        auto result = cleanup(db, c.args, c.env);
        INFO(result.err);
        CHECK(result.exit_code == c.exit_code);
        CHECK(count_lines_with(result.err, "ERROR") == 1);
        CHECK(count_lines_with(result.err, "\n") <= 1);
        CHECK_THAT(result.err, Catch::Contains(c.part));
        CHECK_THAT(result.err, Catch::Contains("hint:"));
        CHECK(result.out.empty());
    }
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "1");
    CHECK(db.query_value("SELECT count(*) FROM eye.runs") == "0");
}

TEST_CASE("200,000 failed jobs: the old half goes in batches that each take under a second") {
    TestDatabase db;
    db.execute(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at, "
        "failed_at) "
        "SELECT g, 'analyze', g, 3, 'analysis failed: the AI service answered 500', "
        "       now() - interval '60 days', "
        "       CASE WHEN g % 2 = 0 THEN now() - interval '8 days' - g * interval '1 second' "
        "            ELSE now() - interval '6 days' + g * interval '1 millisecond' END "
        "FROM generate_series(1, 200000) g");
    db.execute("ANALYZE eye.failed_jobs");
    auto result = cleanup(db, {"--format=json"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs WHERE job_id % 2 = 0") == "0");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs WHERE job_id % 2 = 1") == "100000");
    auto report = report_of(result);
    const auto& table = table_of(report, "eye.failed_jobs");
    CHECK(table["deleted"].GetInt64() == 100000);
    CHECK(table["batches"].GetInt64() == 10);
    double longest = table["longest_batch_seconds"].GetDouble();
    INFO("longest batch: " << longest << " s");
    CHECK(longest > 0);
    CHECK(longest < 1.0);
    CHECK(table["rows_per_second"].GetDouble() > 0);
}

TEST_CASE("SIGTERM stops after the batch in hand, exits 75, and the next run finishes") {
    TestDatabase db;
    db.execute(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at, "
        "failed_at) SELECT g, 'analyze', g, 3, 'old', now(), now() - interval '30 days' - g * "
        "interval '1 second' FROM generate_series(1, 100000) g");
    eye::testing::Process run("eye-cleanup", {"--format=json", "--batch-size=20"}, env_for(db));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (db.query_value("SELECT count(*) FROM eye.failed_jobs") == "100000" &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    run.signal(SIGTERM);
    auto result = run.wait();
    INFO(result.err);
    CHECK(result.exit_code == 75);
    auto left = std::stoll(db.query_value("SELECT count(*) FROM eye.failed_jobs"));
    CHECK(left > 0);
    CHECK(left < 100000);
    // whole batches only, and the oldest first
    CHECK((100000 - left) % 20 == 0);
    CHECK(db.query_value(fmt::format("SELECT min(job_id) FROM eye.failed_jobs")) == "1");
    auto report = report_of(result);
    CHECK(report["complete"].GetBool() == false);
    CHECK(report["deleted"].GetInt64() == 100000 - left);
    CHECK(db.query_value("SELECT status || ' ' || exit_code FROM eye.runs WHERE task = "
                         "'cleanup'") == "failed 75");
    CHECK_THAT(result.err, Catch::Contains("SIGTERM"));

    auto rest = cleanup(db, {"--format=json", "--batch-size=10000"});
    CHECK(rest.exit_code == 0);
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
}

TEST_CASE("a database that goes away mid-run: exit 75, and only whole batches are gone") {
    TestDatabase db;
    db.execute(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at, "
        "failed_at) SELECT g, 'analyze', g, 3, 'old', now(), now() - interval '30 days' - g * "
        "interval '1 second' FROM generate_series(1, 100000) g");
    eye::testing::Process run("eye-cleanup", {"--format=json", "--batch-size=20"}, env_for(db));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (db.query_value("SELECT count(*) FROM eye.failed_jobs") == "100000" &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    CHECK(db.query_value(fmt::format(
              "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = "
              "'{}' AND application_name LIKE 'eye-cleanup%'",
              db.name())) == "1");
    auto result = run.wait();
    INFO(result.err);
    CHECK(result.exit_code == 75);
    CHECK(count_lines_with(result.err, "ERROR") == 1);
    CHECK_THAT(result.err, Catch::Contains("hint:"));
    auto left = std::stoll(db.query_value("SELECT count(*) FROM eye.failed_jobs"));
    CHECK(left > 0);
    CHECK((100000 - left) % 20 == 0);
    auto report = report_of(result);
    CHECK(report["complete"].GetBool() == false);
    // the batch in flight may have committed just before the connection dropped, unconfirmed
    auto reported = report["deleted"].GetInt64();
    CHECK((reported == 100000 - left || reported == 100000 - left - 20));
    CHECK(report.HasMember("error"));

    // the next run closes the abandoned record and finishes the job
    auto rest = cleanup(db, {"--format=json"});
    INFO(rest.err);
    CHECK(rest.exit_code == 0);
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
    CHECK(db.query_value("SELECT string_agg(status, ',' ORDER BY id) FROM eye.runs WHERE task = "
                         "'cleanup'") == "failed,ok");
}
