// A newcomer's first hour, scripted: migrate, import, work, monitor in each format, find the image
// that failed and retry it, preview each re-analysis priority and the cleanup. Everything goes
// through one config file with per-command sections (EYE_CONFIG, nothing on the command line but
// what a step is about), and every check reads what eye printed: no step looks into the
// database behind eye's back.

#include <filesystem>
#include <fstream>
#include <regex>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::ProcessResult;
using eye::testing::TempDir;
using eye::testing::TestDatabase;

namespace {

// The steps, each with its output and exit code, written to a transcript file as they run: a
// failed check points to it.
struct Walk {
    eye::testing::Environment env;
    std::filesystem::path transcript;

    ProcessResult step(const std::string& program, const std::vector<std::string>& args) const {
        auto result = eye::testing::run(program, args, env);
        std::ofstream(transcript, std::ios::app)
            << fmt::format("$ {} {}\nexit {}\nstdout:\n{}stderr:\n{}\n", program,
                           fmt::join(args, " "), result.exit_code, result.out, result.err);
        return result;
    }
};

bool matches(const std::string& text, const std::string& pattern) {
    return std::regex_search(text, std::regex(pattern));
}

}  // namespace

TEST_CASE("a newcomer's walk: migrate, import, work, monitor, find and retry a failure, preview") {
    TestDatabase db(false);
    TempDir dir;
    auto media = dir.path / "photos";
    std::filesystem::create_directories(media / "2026");
    for (const char* name : {"rocket.jpg", "coffee.png", "horse.png", "coins.png"}) {
        std::filesystem::copy_file(eye::testing::k_images / name, media / "2026" / name);
    }
    // a photo cut short in its upload: a JPEG by its content, but its data ends early
    const std::string retina = eye::testing::photo("retina.jpg");
    std::ofstream(media / "2026" / "cut.jpg", std::ios::binary)
        << retina.substr(0, retina.size() / 3);
    auto config = dir.path / "eye.conf";
    std::ofstream(config) << fmt::format(
        "# shared by every command\n"
        "[default]\n"
        "database-url = \"{}\"\n"
        "media-root = \"{}\"\n"
        "state-dir = \"{}\"\n"
        "\n"
        "# the monitor alone speaks Nagios\n"
        "[eye-monitor]\n"
        "format = nagios\n"
        "\n"
        "# by its eye name: scripts read the failed jobs as JSON\n"
        "[queue:failed]\n"
        "format = json\n"
        "\n"
        "[eye-worker]\n"
        "stop-when-empty = true\n"
        "tries = 1\n",
        db.url(), media.string(), dir.str());
    const Walk walk{{{"EYE_CONFIG", config.string()}},
                    std::filesystem::path(EYE_BINARY_DIR) / "walkthrough-transcript.txt"};
    std::filesystem::remove(walk.transcript);
    INFO("every step's output: " << walk.transcript.string());

    // 1. the schema
    auto migrate = walk.step("eye", {"db:migrate"});
    CHECK(migrate.exit_code == 0);
    CHECK(matches(migrate.out, "applied|created"));
    auto again = walk.step("eye", {"db:migrate"});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Catch::Contains("schema is current (version "));

    // 2. the photos: five images, one of them cut short, and their jobs
    auto import = walk.step("eye", {"media:import", media.string()});
    CHECK(import.exit_code == 0);
    CHECK_THAT(import.out, Catch::StartsWith("imported 5 of 5 file(s) found") &&
                               Catch::Contains("queued 5 analysis job(s)"));

    // 3. the monitor before any worker ran: the jobs were queued a moment ago, no alarm
    auto waiting = walk.step("eye-monitor", {});
    CHECK(waiting.exit_code == 0);
    CHECK_THAT(waiting.out, Catch::StartsWith("EYE OK - all checks ok | ") &&
                                Catch::Contains(" pending=5;100;1000 "));

    // 4. the work: four analyses, and the cut photo failed for good, named with its way out
    auto work = walk.step("eye-worker", {});
    CHECK(work.exit_code == 0);
    CHECK(matches(work.err,
                  "\\(image [0-9]+, '2026/cut\\.jpg'\\) failed for good after 1 "
                  "attempt\\(s\\): truncated JPEG.*; hint: 'eye queue:retry --media "
                  "[0-9]+' tries the image again"));
    CHECK(matches(work.err, "4 completed, 1 failed"));

    // 5. the monitor in each format: Nagios from its section, the others by flag
    auto nagios = walk.step("eye-monitor", {});
    CHECK(nagios.exit_code == 0);
    CHECK_THAT(nagios.out, Catch::StartsWith("EYE OK - all checks ok | ") &&
                               Catch::Contains(" failed=1;10;100 "));
    auto json = walk.step("eye-monitor", {"--format=json"});
    CHECK(json.exit_code == 0);
    auto report = eye::json::parse(json.out);
    REQUIRE(report);
    CHECK(std::string((*report)["status"].GetString()) == "ok");
    auto text = walk.step("eye-monitor", {"--format=text"});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::StartsWith("CHECK") && Catch::Contains("status: OK\n") &&
                             Catch::Contains("0 queued, 0 running, 1 failed"));

    // 6. the failed image, found: in the failed jobs (JSON from its section), by status, in full
    auto failed = walk.step("eye", {"queue:failed"});
    CHECK(failed.exit_code == 0);
    auto failed_report = eye::json::parse(failed.out);
    REQUIRE(failed_report);
    REQUIRE((*failed_report)["failed_jobs"].Size() == 1);
    const auto& failure = (*failed_report)["failed_jobs"][0];
    CHECK(std::string(failure["file_path"].GetString()) == "2026/cut.jpg");
    const auto image = std::to_string(failure["media_id"].GetInt64());
    auto listed = walk.step("eye", {"media:list", "--status=failed"});
    CHECK(listed.exit_code == 0);
    CHECK(matches(listed.out, "(^|\\n)" + image + " +failed .*2026/cut\\.jpg"));
    auto shown = walk.step("eye", {"media:show", "2026/cut.jpg"});
    CHECK(shown.exit_code == 0);
    CHECK(matches(shown.out, "processing_status: +failed"));
    CHECK(matches(shown.out, "truncated|cut short|ends"));

    // 7. retried by its image id; a job id in its place says what it is
    auto wrong = walk.step("eye", {"queue:retry", std::to_string(failure["job_id"].GetInt64())});
    CHECK(wrong.exit_code == 1);
    CHECK(matches(wrong.err, "no failed job with id [0-9]+; hint: "));
    auto retry = walk.step("eye", {"queue:retry", "--media", image});
    CHECK(retry.exit_code == 0);
    CHECK_THAT(retry.out, Catch::StartsWith("1 failed job(s) back in the queue"));
    auto retried = walk.step("eye-worker", {});
    CHECK(matches(retried.err, "0 completed, 1 failed"));

    // 8. each re-analysis priority, previewed: what would be queued, and what is left out
    for (const char* priority : {"oldest", "failed", "random", "outdated", "missing"}) {
        auto dry =
            walk.step("eye-reanalyze", {fmt::format("--priority={}", priority), "--dry-run"});
        CHECK(dry.exit_code == 0);
        CHECK(matches(dry.out,
                      fmt::format("would queue [0-9]+ image\\(s\\) \\(priority {}\\)", priority)));
    }
    auto failed_dry = walk.step("eye-reanalyze", {"--priority=failed", "--dry-run"});
    CHECK_THAT(failed_dry.out, Catch::Contains("would queue 1 image(s) (priority failed)"));

    // 9. the cleanup, previewed: it says what it would delete, and deletes nothing
    auto cleanup = walk.step("eye-cleanup", {"--dry-run"});
    CHECK(cleanup.exit_code == 0);
    CHECK(matches(cleanup.out,
                  "would delete [0-9]+ row\\(s\\) in total \\(dry run: nothing "
                  "deleted\\)"));
    auto cleanup_json = walk.step("eye-cleanup", {"--dry-run", "--format=json"});
    CHECK_THAT(cleanup_json.out,
               Catch::Contains("\"would_delete\":") && !Catch::Contains("\"deleted\":"));
}
