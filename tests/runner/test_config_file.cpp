// The config file as an operator writes it: named by EYE_CONFIG (or --config), `key = value`
// with [default] for every command and a section per command, by its executable or its eye
// name; what no command knows is warned about by name, never silently dropped.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/database.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;

namespace {

std::string write_config(const TempDir& dir, const std::string& name, const std::string& text) {
    const auto path = dir.path / name;
    std::ofstream(path) << text;
    return path.string();
}

}  // namespace

TEST_CASE("EYE_CONFIG is read, and a section per command applies to that command alone") {
    TestDatabase db;
    TempDir dir;
    // database_url with '_' as the flag's '-': the same setting
    const std::string config = write_config(
        dir, "first.conf",
        fmt::format("database_url = \"{}\"\nstate-dir = \"{}\"\n\n[eye-monitor]\nformat = "
                    "nagios\n\n[system:monitor]\nstuck-after = \"45m\"\n\n[eye-cleanup]\n"
                    "hours = 1\n",
                    db.url(), dir.str()));
    const eye::testing::Environment env{{"EYE_CONFIG", config}};

    auto monitor = eye::testing::run("eye-monitor", {}, env, 60s);
    INFO(monitor.err);
    CHECK_THAT(monitor.out, Catch::StartsWith("EYE "));  // Nagios' one line
    CHECK(monitor.err.find("config file:") == std::string::npos);
    // [system:monitor] names the same command by its eye name
    const std::string by_name = write_config(
        dir, "by-name.conf",
        fmt::format("database-url = \"{}\"\n[system:monitor]\nformat = \"json\"\n", db.url()));
    auto json = eye::testing::run("eye-monitor", {"--config", by_name}, {}, 60s);
    CHECK_THAT(json.out, Catch::StartsWith("{"));
    // the monitor's format is not every command's: queue:failed prints its own text
    auto failed = eye::testing::run("eye", {"queue:failed"}, env, 60s);
    INFO(failed.err);
    CHECK(failed.exit_code == 0);
    CHECK_THAT(failed.out, Catch::Contains("no failed jobs") || Catch::Contains("ID"));
}

TEST_CASE("a config file named but missing is a configuration error (78)") {
    auto monitor =
        eye::testing::run("eye-monitor", {}, {{"EYE_CONFIG", "/nonexistent/eye.conf"}}, 60s);
    CHECK(monitor.exit_code == 78);
    CHECK_THAT(monitor.err, Catch::Contains("cannot read the config file") &&
                                Catch::Contains("/nonexistent/eye.conf"));
}

TEST_CASE("settings and sections no command knows are warned about by name") {
    TestDatabase db;
    TempDir dir;
    const std::string config =
        write_config(dir, "typos.conf",
                     fmt::format("database-url = \"{}\"\nstuck-aftr = \"5m\"\n\n[eye]\nlog-level = "
                                 "\"info\"\n\n[eye-monitr]\nformat = \"nagios\"\n\n[eye-worker]\n"
                                 "concurrency = 2\n",
                                 db.url()));
    auto run = eye::testing::run("eye", {"queue:failed", "--config", config}, {}, 60s);
    INFO(run.err);
    CHECK(run.exit_code == 0);
    CHECK_THAT(run.err, Catch::Contains("unknown setting 'stuck-aftr' in [default]"));
    CHECK_THAT(run.err, Catch::Contains("unknown section [eye-monitr]"));
    // another command's section and the shared [eye] are not warned about
    CHECK(run.err.find("unknown section [eye-worker]") == std::string::npos);
    CHECK(run.err.find("unknown section [eye]") == std::string::npos);
    CHECK(run.err.find("in [eye-worker]") == std::string::npos);
}

TEST_CASE("an unquoted value with spaces in a config file gets a hint to quote it") {
    TestDatabase db;
    TempDir dir;
    const std::string config =
        write_config(dir, "spaces.conf", fmt::format("database-url = {}\n", db.url()));
    REQUIRE(db.url().find(' ') != std::string::npos);  // a key=value connection string
    auto run = eye::testing::run("eye-monitor", {}, {{"EYE_CONFIG", config}});
    CHECK(run.exit_code == 64);
    CHECK_THAT(run.err, Catch::Contains("--database-url was given ") &&
                            Catch::Contains("hint: in a config file a value with spaces is split "
                                            "into several: put it in double quotes "
                                            "(database-url = \"host=db dbname=eye\")"));
    // quoted, it is one value
    write_config(dir, "spaces.conf", fmt::format("database-url = \"{}\"\n", db.url()));
    CHECK(eye::testing::run("eye-monitor", {}, {{"EYE_CONFIG", config}}).exit_code == 0);
}
