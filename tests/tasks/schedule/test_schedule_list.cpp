// eye schedule:list end to end: the schedule with next due times and last runs from eye.runs.

#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using Catch::Contains;
using eye::testing::ProcessResult;
using eye::testing::TempDir;
using eye::testing::TestDatabase;

namespace {

ProcessResult list(const TestDatabase& db, std::vector<std::string> args,
                   eye::testing::Environment env = {}) {
    env["EYE_DATABASE_URL"] = db.url();
    args.insert(args.begin(), "schedule:list");
    return eye::testing::run("eye", args, env);
}

rapidjson::Document json_of(const ProcessResult& result) {
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    auto parsed = eye::json::parse(result.out);
    REQUIRE(parsed);
    REQUIRE(parsed->IsArray());
    return std::move(*parsed);
}

const rapidjson::Value& entry(const rapidjson::Document& doc, const std::string& name) {
    for (const auto& item : doc.GetArray()) {
        if (name == item["name"].GetString()) {
            return item;
        }
    }
    FAIL("no entry " << name);
    return doc[0];
}

}  // namespace

TEST_CASE("schedule:list shows each task with its next due time, and no runs yet") {
    TestDatabase db;
    auto result = list(db, {});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Contains("NAME") && Contains("NEXT DUE") && Contains("LAST RUN"));
    CHECK_THAT(result.out, Contains("monitor ") && Contains("*/5 * * * *") &&
                               Contains("eye-monitor --fix") && Contains("never"));
    CHECK_THAT(result.out, Contains("reanalyze-failed") && Contains("30 * * * *"));
    CHECK_THAT(result.out, Contains("@always") && Contains("kept running"));
    CHECK_THAT(result.out, Contains("(in "));

    auto doc = json_of(list(db, {"--format=json"}));
    REQUIRE(doc.Size() == 7);
    for (const auto& item : doc.GetArray()) {
        for (const char* key :
             {"task", "expression", "command", "next_due", "last_run", "running"}) {
            INFO(key);
            CHECK(item.HasMember(key));
        }
        CHECK(item["last_run"].IsNull());
        CHECK_FALSE(item["running"].GetBool());
    }
    const auto& monitor = entry(doc, "monitor");
    CHECK(std::string(monitor["expression"].GetString()) == "*/5 * * * *");
    CHECK(std::string(monitor["command"].GetString()) == "eye-monitor --fix");
    std::string next = monitor["next_due"].GetString();
    // ISO 8601 with the offset, on a minute that is a multiple of 5
    CHECK(next.size() == 25);
    CHECK(next.substr(19) == "+00:00");
    CHECK((std::stoi(next.substr(14, 2)) % 5) == 0);
    const auto& worker = entry(doc, "worker");
    CHECK(worker["expression"].IsNull());
    CHECK(worker["next_due"].IsNull());
}

TEST_CASE("schedule:list reads the last run of each entry from eye.runs") {
    TestDatabase db;
    db.execute(
        "INSERT INTO eye.runs (task, host, pid, args, started_at, finished_at, status, exit_code) "
        "VALUES ('monitor', 'h', 1, '[\"--fix\"]', now() - interval '20 minutes', now(), 'ok', 0),"
        "       ('monitor', 'h', 1, '[\"--fix\"]', now() - interval '3 minutes', now(), "
        "        'warning', 1),"
        "       ('reanalyze', 'h', 1, '[\"--batch=25\", \"--priority=failed\"]', "
        "        now() - interval '10 minutes', now(), 'failed', 75),"
        "       ('reanalyze', 'h', 1, '[\"--batch=25\", \"--priority=oldest\"]', "
        "        now() - interval '2 hours', now(), 'ok', 0)");
    db.execute(
        "INSERT INTO eye.runs (task, host, pid, args, started_at, status) "
        "VALUES ('cleanup', 'h', 1, '[\"--hours=168\"]', now() - interval '1 minute', 'running')");
    auto doc = json_of(list(db, {"--format=json"}));

    const auto& monitor = entry(doc, "monitor")["last_run"];
    REQUIRE(monitor.IsObject());
    CHECK(std::string(monitor["status"].GetString()) == "warning");
    CHECK(monitor["exit_code"].GetInt() == 1);
    CHECK(std::string(monitor["started_at"].GetString()).substr(19) == "+00:00");

    const auto& failed = entry(doc, "reanalyze-failed")["last_run"];
    REQUIRE(failed.IsObject());
    CHECK(std::string(failed["status"].GetString()) == "failed");
    CHECK(failed["exit_code"].GetInt() == 75);
    const auto& oldest = entry(doc, "reanalyze")["last_run"];
    REQUIRE(oldest.IsObject());
    CHECK(std::string(oldest["status"].GetString()) == "ok");

    const auto& cleanup = entry(doc, "cleanup");
    CHECK(cleanup["running"].GetBool());
    CHECK(std::string(cleanup["last_run"]["status"].GetString()) == "running");
    CHECK(cleanup["last_run"]["exit_code"].IsNull());

    auto text = list(db, {});
    CHECK_THAT(text.out,
               Contains("warning (exit 1) 3m ago") && Contains("failed (exit 75) 10m ago"));
}

TEST_CASE("schedule:list reads times on --timezone and a schedule from --schedule") {
    TestDatabase db;
    TempDir dir;
    auto file = dir.path / "schedule";
    std::ofstream(file) << "# two tasks\n"
                           "nightly  0 2 * * *  eye-cleanup --hours=24\n"
                           "always   @always    eye-worker\n";
    auto doc = json_of(
        list(db, {"--format=json", "--timezone=America/New_York", "--schedule=" + file.string()}));
    REQUIRE(doc.Size() == 2);
    std::string next = entry(doc, "nightly")["next_due"].GetString();
    CHECK(next.substr(11) == "02:00:00-05:00");  // winter in New York; December for years to come

    // the same through the variables
    auto by_env =
        json_of(list(db, {"--format=json"},
                     {{"EYE_TIMEZONE", "Europe/Berlin"}, {"EYE_SCHEDULE", file.string()}}));
    CHECK(std::string(entry(by_env, "nightly")["next_due"].GetString()).substr(11) ==
          "02:00:00+01:00");
}

TEST_CASE("schedule:list refuses a bad schedule file or time zone with exit 78") {
    TestDatabase db;
    TempDir dir;
    auto file = dir.path / "schedule";
    std::ofstream(file) << "fine @hourly eye-monitor\nbroken 0 25 * * * eye-cleanup\n";
    auto bad_file = list(db, {"--schedule=" + file.string()});
    CHECK(bad_file.exit_code == 78);
    CHECK_THAT(bad_file.err, Contains("line 2") && Contains("hour field") && Contains("'25'"));
    CHECK(bad_file.out.empty());

    auto missing = list(db, {"--schedule=" + (dir.path / "nope").string()});
    CHECK(missing.exit_code == 78);
    CHECK_THAT(missing.err, Contains("cannot read the schedule file"));

    auto zone = list(db, {"--timezone=Europe/Atlantis"});
    CHECK(zone.exit_code == 78);
    CHECK_THAT(zone.err, Contains("unknown time zone 'Europe/Atlantis'"));
}

TEST_CASE("schedule:list without a database still lists the schedule, and exits 75") {
    auto result = eye::testing::run(
        "eye", {"schedule:list"},
        {{"EYE_DATABASE_URL", "postgresql://eye@127.0.0.1:1/eye?connect_timeout=2"}});
    CHECK(result.exit_code == 75);
    CHECK_THAT(result.out, Contains("eye-monitor --fix") && Contains("unknown: no database"));
    CHECK_THAT(result.err, Contains("the last runs are unknown"));
}

TEST_CASE("the monitor's schedule check reads the same schedule") {
    TestDatabase db;
    TempDir dir;
    auto file = dir.path / "schedule";
    // one task due hourly that last succeeded five hours ago
    std::ofstream(file) << "hourly @hourly eye-cleanup --hours=24\n";
    db.execute(
        "INSERT INTO eye.runs (task, host, pid, args, started_at, finished_at, status, exit_code) "
        "VALUES ('cleanup', 'h', 1, '[\"--hours=24\"]', now() - interval '5 hours', now(), 'ok', "
        "0)");
    auto result =
        eye::testing::run("eye-monitor", {"--format=json"},
                          {{"EYE_DATABASE_URL", db.url()}, {"EYE_SCHEDULE", file.string()}});
    INFO(result.out << result.err);
    CHECK_THAT(result.out, Contains("eye-cleanup --hours=24 has not succeeded since") &&
                               Contains("expected every 1h"));
}
