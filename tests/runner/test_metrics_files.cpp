// The metrics files the tasks write with EYE_METRICS_DIR, checked by Prometheus's own promtool
// (installed by scripts/setup --test), and the last success surviving a failed run.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "support/database.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::TempDir;
using eye::testing::TestDatabase;

namespace {

// promtool unpacked by scripts/setup --test, else one on PATH.
std::string promtool() {
    auto unpacked =
        std::filesystem::path(EYE_SOURCE_DIR) / ".cache/test-tools/prometheus/usr/bin/promtool";
    if (std::filesystem::exists(unpacked)) {
        return unpacked.string();
    }
    if (std::system("command -v promtool >/dev/null 2>&1") == 0) {
        return "promtool";
    }
    FAIL("promtool is missing: run scripts/setup --test");
    return {};
}

std::string read(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The value of the sample `metric` in a metrics file's text ("" when it is not there).
std::string sample(const std::string& text, const std::string& metric) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(metric + "{", 0) == 0) {
            return line.substr(line.rfind(' ') + 1);
        }
    }
    return {};
}

struct Check {
    int exit_code;
    std::string output;
};

Check promtool_check(const std::filesystem::path& file) {
    std::string command = promtool() + " check metrics < '" + file.string() + "' 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string output;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) {
        output.append(buffer, n);
    }
    int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace

TEST_CASE("every task's metrics file passes promtool check metrics") {
    TestDatabase db;
    TempDir metrics;
    eye::testing::Environment env{{"EYE_DATABASE_URL", db.url()},
                                  {"EYE_METRICS_DIR", metrics.str()},
                                  {"EYE_MEDIA_ROOT", EYE_SOURCE_DIR "/tests/fixtures/images"}};
    db.execute(
        "INSERT INTO media_files (file_path, media_type, processing_status, created_at, "
        "updated_at) VALUES ('a.jpg', 'image', 'failed', now(), now())");
    struct Run {
        std::string program;
        std::vector<std::string> args;
        std::string file;
    };
    const Run runs[] = {
        {"eye-monitor", {"--fix"}, "eye_monitor.prom"},
        {"eye-reanalyze", {"--priority=failed"}, "eye_reanalyze.prom"},
        {"eye-worker", {"--stop-when-empty", "--analyzer=builtin"}, "eye_worker.prom"},
        {"eye-cleanup", {"--hours=168"}, "eye_cleanup.prom"},
        {"eye",
         {"media:import", EYE_SOURCE_DIR "/tests/fixtures/images/rocket.jpg"},
         "eye_media_import.prom"},
    };
    for (const auto& run : runs) {
        INFO(run.program);
        auto result = eye::testing::run(run.program, run.args, env, std::chrono::seconds(120));
        INFO(result.err);
        CHECK(result.exit_code <= 3);
        auto file = metrics.path / run.file;
        REQUIRE(std::filesystem::exists(file));
        auto check = promtool_check(file);
        INFO(read(file));
        CHECK(check.output.empty());
        CHECK(check.exit_code == 0);
    }
}

TEST_CASE("a failed run moves the last-run time and the exit code, not the last success") {
    TestDatabase db;
    TempDir metrics;
    auto file = metrics.path / "eye_cleanup.prom";
    auto ok = eye::testing::run(
        "eye-cleanup", {}, {{"EYE_DATABASE_URL", db.url()}, {"EYE_METRICS_DIR", metrics.str()}});
    REQUIRE(ok.exit_code == 0);
    std::string first = read(file);
    std::string last_success = sample(first, "eye_task_last_success_timestamp_seconds");
    REQUIRE_FALSE(last_success.empty());
    CHECK(sample(first, "eye_task_exit_code") == "0");

    // nothing listens on port 1: the database is down, a temporary failure
    auto failed = eye::testing::run(
        "eye-cleanup", {},
        {{"EYE_DATABASE_URL", "postgresql://eye@127.0.0.1:1/eye?connect_timeout=2"},
         {"EYE_METRICS_DIR", metrics.str()}});
    REQUIRE(failed.exit_code == 75);
    std::string second = read(file);
    INFO(second);
    CHECK(sample(second, "eye_task_exit_code") == "75");
    CHECK(std::stod(sample(second, "eye_task_last_run_timestamp_seconds")) >
          std::stod(sample(first, "eye_task_last_run_timestamp_seconds")));
    CHECK(sample(second, "eye_task_last_success_timestamp_seconds") == last_success);
    CHECK(promtool_check(file).exit_code == 0);

    // a dry run is a preview: the file stays as the last real run left it
    auto dry =
        eye::testing::run("eye-cleanup", {"--dry-run"},
                          {{"EYE_DATABASE_URL", db.url()}, {"EYE_METRICS_DIR", metrics.str()}});
    REQUIRE(dry.exit_code == 0);
    CHECK(read(file) == second);
}
