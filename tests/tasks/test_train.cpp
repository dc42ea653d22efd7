// eye-train end to end: the built program against a real PostgreSQL. The gate (--min-images,
// --min-total, --force), the record in eye.models and last_training.txt, and the three trainers:
// builtin, command (with upstream's environment) and http (against a loopback server), failing
// and timing out as well as succeeding.
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/http_server.hpp"
#include "support/library_rows.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using Catch::Matchers::Contains;
using eye::testing::ProcessResult;
using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

ProcessResult train(const TestDatabase& db, const TempDir& state, std::vector<std::string> args,
                    eye::testing::Environment env = {}) {
    env["EYE_DATABASE_URL"] = db.url();
    env["EYE_STATE_DIR"] = state.str();
    return eye::testing::run("eye-train", args, env, 120s);
}

std::string models(const TestDatabase& db, const std::string& column) {
    return db.query_value(
        fmt::format("SELECT string_agg({}::text, ',' ORDER BY id) FROM eye.models", column));
}

std::string read(const fs::path& path) {
    std::ifstream in(path);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

}  // namespace

TEST_CASE("the gate: 49 new images do not train, 50 do, --force does; a failure keeps the clock") {
    TestDatabase db;
    TempDir state;
    eye::testing::insert_completed_images(db, 1, 49, "now() - interval '1 day'");

    auto few = train(db, state, {});
    INFO(few.out << few.err);
    REQUIRE(few.exit_code == 0);
    CHECK_THAT(few.out,
               Contains("not training: 49 new image(s)") && Contains("--min-images is 50"));
    CHECK(models(db, "id").empty());
    CHECK_FALSE(fs::exists(state.path / "training" / "last_training.txt"));

    eye::testing::insert_completed_images(db, 50, 50, "now() - interval '1 day'");
    auto fifty = train(db, state, {});
    INFO(fifty.out << fifty.err);
    REQUIRE(fifty.exit_code == 0);
    CHECK_THAT(fifty.out, Contains("trained tags-") && Contains("on 50 image(s)"));
    CHECK(models(db, "status") == "succeeded");
    CHECK(models(db, "new_image_count") == "50");
    CHECK(models(db, "image_count") == "50");
    CHECK(models(db, "is_current") == "true");
    CHECK(db.query_value("SELECT metrics ? 'held_out' AND metrics ? 'baseline' FROM eye.models") ==
          "t");
    const long long written = std::stoll(read(state.path / "training" / "last_training.txt"));
    const long long now = std::stoll(db.query_value("SELECT extract(epoch from now())::bigint"));
    CHECK(std::abs(now - written) < 60);

    auto none = train(db, state, {});
    REQUIRE(none.exit_code == 0);
    CHECK_THAT(none.out, Contains("not training: 0 new image(s) since the last successful "
                                  "training (tags-"));
    auto forced = train(db, state, {"--force"});
    REQUIRE(forced.exit_code == 0);
    CHECK(models(db, "status") == "succeeded,succeeded");

    // 50 more arrive; the trainer fails: exit 1, a failed row, and they are still new after
    eye::testing::insert_completed_images(db, 51, 100, "now() + interval '1 minute'");
    auto failing =
        train(db, state, {},
              {{"EYE_TRAINER", "command"}, {"EYE_TRAIN_COMMAND", "echo no GPU >&2; exit 3"}});
    INFO(failing.err);
    CHECK(failing.exit_code == 1);
    CHECK_THAT(failing.err, Contains("no GPU") && Contains("the trainer exited with 3"));
    CHECK(models(db, "status") == "succeeded,succeeded,failed");
    CHECK_THAT(models(db, "error"), Contains("exited with 3"));
    auto after = train(db, state, {"--dry-run"});
    REQUIRE(after.exit_code == 0);
    CHECK_THAT(after.out, Contains("would train with the builtin trainer: 50 new image(s)"));

    // a trainer that outlasts --timeout is stopped: exit 1, failed, still 50 new
    auto slow = train(db, state, {"--timeout=1s"},
                      {{"EYE_TRAINER", "command"}, {"EYE_TRAIN_COMMAND", "sleep 60"}});
    CHECK(slow.exit_code == 1);
    CHECK(slow.elapsed < 20s);
    CHECK_THAT(slow.err, Contains("longer than --timeout 1s"));
    CHECK(models(db, "status") == "succeeded,succeeded,failed,failed");
    auto still = train(db, state, {});
    REQUIRE(still.exit_code == 0);
    CHECK_THAT(still.out, Contains("trained tags-"));
    // eye-train records its runs like every task
    CHECK(db.query_value("SELECT count(*) FROM eye.runs WHERE task = 'train' AND status = "
                         "'failed' AND exit_code = 1") == "2");
}

TEST_CASE("--min-total: too small a library does not train even with enough new images") {
    TestDatabase db;
    TempDir state;
    eye::testing::insert_completed_images(db, 1, 5, "now()");
    auto small = train(db, state, {"--min-images=1"});
    REQUIRE(small.exit_code == 0);
    CHECK_THAT(small.out, Contains("fewer than --min-total 10 completed images (5)"));
    auto empty_db = TestDatabase();
    auto nothing = train(empty_db, state, {"--force"});
    REQUIRE(nothing.exit_code == 0);
    CHECK_THAT(nothing.out, Contains("nothing to train on"));
}

TEST_CASE("the command trainer runs as upstream's train_model.py would, on an avinash export") {
    TestDatabase db;
    TempDir state;
    TempDir out;
    eye::testing::insert_completed_images(db, 1, 60, "now()");
    const std::string command = fmt::format(
        "cp \"$EYE_TRAINING_DATA\" {0}/data.json && cp \"$EYE_TRAINING_MANIFEST\" "
        "{0}/manifest.json && echo \"$EYE_TRAINING_DIR\" > {0}/dir",
        out.str());
    auto result =
        train(db, state, {}, {{"EYE_TRAINER", "command"}, {"EYE_TRAIN_COMMAND", command}});
    INFO(result.out << result.err);
    REQUIRE(result.exit_code == 0);
    auto data = eye::json::parse(read(out.path / "data.json"));
    REQUIRE(data);
    REQUIRE(data->IsArray());
    CHECK(data->Size() == 60);
    CHECK((*data)[0]["embedding"].IsArray());
    CHECK((*data)[0]["embedding"].Size() > 100);
    auto manifest = eye::json::parse(read(out.path / "manifest.json"));
    REQUIRE(manifest);
    CHECK((*manifest)["format"].GetString() == std::string("avinash"));
    CHECK(fs::exists(fs::path(read(out.path / "dir").substr(0, read(out.path / "dir").size() - 1)) /
                     "images_metadata.json"));
    CHECK(models(db, "trainer") == "command");
    CHECK(models(db, "status") == "succeeded");
    CHECK_THAT(models(db, "version"), Contains("command-"));
    CHECK(models(db, "is_current") == "false");  // nothing eye could apply
    CHECK(fs::exists(state.path / "training" / "last_training.txt"));
}

TEST_CASE("the http trainer posts the export's path, and reports what the service answered") {
    TestDatabase db;
    TempDir state;
    eye::testing::insert_completed_images(db, 1, 20, "now()");
    std::mutex mutex;
    std::string body;
    int status = 200;
    eye::testing::HttpServer server([&](const eye::testing::Request& request) {
        std::lock_guard lock(mutex);
        body = request.body;
        if (request.path != "/train") {
            return eye::testing::json_reply(404, R"({"detail":"Not Found"})");
        }
        return status == 200
                   ? eye::testing::json_reply(200, R"({"status":"trained","accuracy":0.9})")
                   : eye::testing::json_reply(status, R"({"detail":"no GPU here"})");
    });
    const eye::testing::Environment env = {{"EYE_TRAINER", "http"}, {"EYE_AI_URL", server.url()}};
    auto ok = train(db, state, {"--min-images=10"}, env);
    INFO(ok.out << ok.err);
    REQUIRE(ok.exit_code == 0);
    {
        std::lock_guard lock(mutex);
        auto sent = eye::json::parse(body);
        REQUIRE(sent);
        CHECK((*sent)["format"].GetString() == std::string("jsonl"));
        CHECK(fs::exists((*sent)["training_data_path"].GetString()));
        status = 500;
    }
    CHECK(db.query_value("SELECT metrics #>> '{response,accuracy}' FROM eye.models") == "0.9");

    auto failed = train(db, state, {"--force"}, env);
    CHECK(failed.exit_code == 1);
    CHECK_THAT(failed.err, Contains("answered 500: no GPU here"));
    CHECK(models(db, "status") == "succeeded,failed");

    auto unreachable = train(db, state, {"--force", "--train-url=http://127.0.0.1:9/train"}, env);
    CHECK(unreachable.exit_code == 69);
    auto no_base = train(db, state, {"--force"}, {{"EYE_TRAINER", "http"}});
    CHECK(no_base.exit_code == 78);
    CHECK_THAT(no_base.err, Contains("EYE_AI_URL"));
}
