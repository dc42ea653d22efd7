// What a newcomer types wrong, answered in words: "did you mean" for a misspelt command or flag,
// --version on every program, and a retention without its unit.
#include <catch2/catch.hpp>

#include "eye/json/json.hpp"
#include "eye/runner/suggest.hpp"
#include "support/process.hpp"

using eye::nearest_word;

TEST_CASE("nearest_word suggests a near candidate, never a far or an ambiguous one") {
    const std::vector<std::string> flags = {"--stuck-after", "--stuck-jobs", "--format", "--fix"};
    CHECK(nearest_word("--stuck-aftr", flags) == std::string("--stuck-after"));
    CHECK(nearest_word("--formt", flags) == std::string("--format"));
    CHECK_FALSE(nearest_word("--database", flags).has_value());
    CHECK_FALSE(nearest_word("--fox", {"--fix", "--fax"}).has_value());  // two as near
    CHECK(nearest_word("queue:faild", {"queue:failed", "queue:retry", "queue:work"}) ==
          std::string("queue:failed"));
}

TEST_CASE("every program answers --version, and misspellings get a suggestion") {
    for (const char* program :
         {"eye-monitor", "eye-worker", "eye-cleanup", "eye-export", "eye-train", "eye-reanalyze"}) {
        INFO(program);
        auto version = eye::testing::run(program, {"--version"});
        CHECK(version.exit_code == 0);
        CHECK_THAT(version.out, Catch::StartsWith("eye "));
    }
    auto flag = eye::testing::run("eye-monitor", {"--stuck-aftr=5m"});
    CHECK(flag.exit_code == 64);
    CHECK_THAT(flag.err, Catch::Contains("did you mean --stuck-after?"));
    auto command = eye::testing::run("eye", {"queue:faild"});
    CHECK(command.exit_code == 64);
    CHECK_THAT(command.err, Catch::Contains("did you mean 'queue:failed'?"));
    auto keep = eye::testing::run("eye-cleanup", {"--keep-completed=7"});
    CHECK(keep.exit_code == 64);
    CHECK_THAT(keep.err, Catch::Contains("7 what? write 7d"));
    // Laravel's flags take a unit too: no usage error (the run then needs a database)
    auto max_time = eye::testing::run("eye-worker", {"--max-time=1h", "--timeout=5m"},
                                      {{"EYE_DATABASE_URL", "postgresql:///nonexistent"}});
    CHECK(max_time.exit_code != 64);
    CHECK(max_time.err.find("--max-time") == std::string::npos);
    CHECK(max_time.err.find("--timeout") == std::string::npos);
}

TEST_CASE("the parser's own texts are said in plain words") {
    using eye::plain_parse_error;
    CHECK(plain_parse_error("--format: At Most 1 required but received 2") ==
          "--format was given 2 times; give it once");
    CHECK(plain_parse_error("--batch: 1 required N missing") == "--batch needs a value (N)");
    CHECK(plain_parse_error("Could not convert: --dry-run = maybe") ==
          "--dry-run: invalid value 'maybe': expected true or false, or the flag alone");
    CHECK(plain_parse_error("The following argument was not expected: extra") ==
          "unexpected argument(s): extra");
    CHECK(plain_parse_error("The following arguments were not expected: a b") ==
          "unexpected argument(s): a b");
    CHECK(plain_parse_error("The following argument was not expected: --stuck-aftr=5m") ==
          "unknown option(s): --stuck-aftr=5m");
    CHECK(plain_parse_error("--batch: invalid value '0'") == "--batch: invalid value '0'");

    // as the programs print them
    for (const auto& [args, said] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"--format=json", "--format=text"}, "--format was given 2 times; give it once"},
             {{"--batch"}, "--batch needs a value (N)"},
             {{"--dry-run=maybe"}, "--dry-run: invalid value 'maybe'"},
             {{"extra"}, "unexpected argument(s): extra"}}) {
        auto run = eye::testing::run("eye-reanalyze", args);
        INFO(run.err);
        CHECK(run.exit_code == 64);
        CHECK_THAT(run.err, Catch::Contains("eye-reanalyze: " + said));
        CHECK_THAT(run.err, !Catch::Contains("required but") && !Catch::Contains("convert"));
    }
}

TEST_CASE("no database URL at all is said to be unset, a configuration error (78)") {
    auto run = eye::testing::run(
        "/usr/bin/env", {"-u", "PGHOST", "-u", "PGDATABASE", "-u", "PGSERVICE", "-u",
                         "DATABASE_URL", "PGPORT=1", eye::testing::program_path("eye-monitor")});
    CHECK(run.exit_code == 78);
    CHECK_THAT(run.err, Catch::Contains("no database URL is set") &&
                            Catch::Contains("hint: set EYE_DATABASE_URL"));
}

TEST_CASE("a service URL without its scheme names the variable it came from") {
    auto run =
        eye::testing::run("eye-monitor", {},
                          {{"EYE_DATABASE_URL", "postgresql:///x"}, {"EYE_AI_URL", "127.0.0.1:9"}});
    CHECK(run.exit_code == 78);
    CHECK_THAT(run.err, Catch::Contains("EYE_AI_URL (--ai-url) '127.0.0.1:9' is not an http://"));
}

TEST_CASE("JSON log lines carry the hint in a field of its own") {
    auto run = eye::testing::run("eye-monitor", {"--stuck-aftr=5m"}, {{"EYE_LOG_FORMAT", "json"}});
    CHECK(run.exit_code == 64);
    auto line = eye::json::parse(run.err.substr(0, run.err.find('\n')));
    REQUIRE(line);
    CHECK(std::string((*line)["message"].GetString()) == "unknown option(s): --stuck-aftr=5m");
    CHECK(std::string((*line)["hint"].GetString()) ==
          "did you mean --stuck-after? see 'eye-monitor --help'");
}
