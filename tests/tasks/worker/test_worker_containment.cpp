// The worker reads images only beneath EYE_MEDIA_ROOT, with the kernel's help: a ".." or a
// symbolic link that leads outside is refused for good, as is a FIFO (without waiting on it);
// and it will not take the whole disk as its media root.
#include <filesystem>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "support/database.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("paths that leave the media root, and FIFOs, fail for good; the rest is analyzed") {
    TestDatabase db;
    TempDir dir;
    const fs::path root = dir.path / "media";
    fs::create_directories(root / "nope");
    fs::create_directories(dir.path / "private");
    fs::copy_file(eye::testing::k_images / "coffee.png", root / "ok.png");
    // a real image outside: read, it would be analyzed like any other
    fs::copy_file(eye::testing::k_images / "chelsea.png", dir.path / "private" / "secret.png");
    fs::create_directory_symlink(dir.path / "private", root / "link");
    REQUIRE(mkfifo((root / "pipe.png").c_str(), 0600) == 0);
    for (const char* path : {"ok.png", "nope/../link/secret.png", "link/secret.png", "pipe.png",
                             "../private/secret.png"}) {
        db.execute(
            fmt::format("INSERT INTO media_files (file_path, processing_status, "
                        "created_at, updated_at) VALUES ('{}', 'pending', now(), now())",
                        path));
    }
    db.execute("INSERT INTO eye.jobs (media_id, reason) SELECT id, 'test' FROM media_files");

    auto result = eye::testing::run("eye-worker", {"--stop-when-empty", "--analyzer=builtin"},
                                    {{"EYE_DATABASE_URL", db.url()},
                                     {"EYE_MEDIA_ROOT", root.string()},
                                     {"EYE_STATE_DIR", dir.str()}},
                                    60s);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.elapsed < 30s);
    auto row = [&](const std::string& path) {
        return db.query_value(
            fmt::format("SELECT processing_status || ' | ' || coalesce(processing_error, '') FROM "
                        "media_files WHERE file_path = '{}'",
                        path));
    };
    CHECK(row("ok.png") == "completed | ");
    CHECK(row("nope/../link/secret.png") ==
          "failed | file_path 'nope/../link/secret.png' leads outside EYE_MEDIA_ROOT");
    CHECK(row("link/secret.png") ==
          "failed | file_path 'link/secret.png' leads outside "
          "EYE_MEDIA_ROOT");
    CHECK(row("../private/secret.png") ==
          "failed | file_path '../private/secret.png' leads outside EYE_MEDIA_ROOT");
    CHECK_THAT(row("pipe.png"),
               Catch::Contains("failed |") && Catch::Contains("not a regular file"));
    // refused for good: one attempt each, nothing left to retry
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "4");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued'") == "0");
    CHECK(db.query_value("SELECT max(attempts) FROM eye.failed_jobs") == "1");
    // and nothing of the secret image was stored anywhere
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE width = 451") == "0");
}

TEST_CASE("eye-worker started from / with no EYE_MEDIA_ROOT refuses to start (78)") {
    TestDatabase db;
    auto result = eye::testing::run(
        "/bin/sh",
        {"-c", "cd / && exec " + eye::testing::program_path("eye-worker") + " --stop-when-empty"},
        {{"EYE_DATABASE_URL", db.url()}}, 30s);
    CHECK(result.exit_code == 78);
    CHECK_THAT(result.err,
               Catch::Contains("the media root is '/'") && Catch::Contains("EYE_MEDIA_ROOT"));
}
