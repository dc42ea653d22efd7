// A wrong or vanished media root is the files' problem, not the images': the worker refuses to
// start without one (78), and stops (74) when the files go missing in a row or the root empties
// under it (a mount that dropped), giving the job back instead of failing the library.
#include <filesystem>
#include <fstream>

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

namespace {

void queue_files(const TestDatabase& db, const std::vector<std::string>& paths) {
    for (const auto& path : paths) {
        db.execute(
            fmt::format("INSERT INTO media_files (file_path, processing_status, "
                        "created_at, updated_at) VALUES ('{}', 'pending', now(), now())",
                        path));
    }
    db.execute(
        "INSERT INTO eye.jobs (media_id, reason) SELECT id, 'test' FROM media_files "
        "ORDER BY id");
}

eye::testing::ProcessResult work(const TestDatabase& db, const fs::path& root,
                                 const TempDir& state) {
    return eye::testing::run("eye-worker", {"--stop-when-empty", "--analyzer=builtin"},
                             {{"EYE_DATABASE_URL", db.url()},
                              {"EYE_MEDIA_ROOT", root.string()},
                              {"EYE_STATE_DIR", state.str()}},
                             60s);
}

}  // namespace

TEST_CASE("a media root that is missing or not a directory stops the worker before any job") {
    TestDatabase db;
    TempDir state;
    queue_files(db, {"a.jpg", "b.jpg"});
    auto missing = work(db, "/tmp/eye-no-such-media-root", state);
    CHECK(missing.exit_code == 78);
    CHECK_THAT(missing.err,
               Catch::Contains("the media root '/tmp/eye-no-such-media-root' does not exist") &&
                   Catch::Contains("EYE_MEDIA_ROOT"));
    const fs::path file = state.path / "not-a-folder";
    std::ofstream(file) << "x";
    auto not_dir = work(db, file, state);
    CHECK(not_dir.exit_code == 78);
    CHECK_THAT(not_dir.err, Catch::Contains("is not a directory"));
    // nothing was tried: the jobs wait as they were
    CHECK(db.query_value("SELECT string_agg(status || ' ' || attempts, ',') FROM eye.jobs") ==
          "queued 0,queued 0");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'pending'") == "2");
}

TEST_CASE("files missing in a row stop the worker (74) and the job in hand goes back") {
    TestDatabase db;
    TempDir root;
    TempDir state;
    fs::copy_file(eye::testing::k_images / "rocket.jpg", root.path / "here.jpg");
    // one image that is there, then ten whose files are not
    std::vector<std::string> paths = {"here.jpg"};
    for (int i = 1; i <= 10; ++i) {
        paths.push_back(fmt::format("gone/{}.jpg", i));
    }
    queue_files(db, paths);
    auto result = work(db, root.path, state);
    INFO(result.err);
    CHECK(result.exit_code == 74);
    CHECK_THAT(result.err, Catch::Contains("5 images in a row have no file under the media root"));
    // the image that was there is analyzed; four missing ones failed as any missing file does,
    // the fifth went back untried, and the rest were never claimed
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed'") == "1");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "4");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued'") == "6");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued' AND attempts = "
                         "0") == "6");
}

TEST_CASE("a media root that empties under the worker stops it at the first missing file") {
    TestDatabase db;
    TempDir root;  // an empty folder: a mount point whose mount is gone
    TempDir state;
    queue_files(db, {"a.jpg", "b.jpg", "c.jpg"});
    auto result = work(db, root.path, state);
    INFO(result.err);
    CHECK(result.exit_code == 74);
    CHECK_THAT(result.err, Catch::Contains("is empty (not mounted?)"));
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued' AND attempts = "
                         "0") == "3");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'pending'") == "3");
}
