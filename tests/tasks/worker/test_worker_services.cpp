// eye-worker processes with the avinash analyzer against the fake python-ai, which counts its
// calls per image: every field in its column, exactly-once under concurrency, crash safety, and
// graceful stops.

#include <chrono>
#include <filesystem>
#include <signal.h>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/http/client.hpp"
#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/http_server.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

using eye::testing::FakeServices;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;

namespace {

std::string fixtures() {
    return std::string(EYE_SOURCE_DIR) + "/tests/fixtures";
}

// The fake AI service, sharing the fixtures as its /app/shared/.
FakeServices fake_ai(std::vector<std::string> flags = {}) {
    flags.insert(flags.end(), {"--ai-shared-root", fixtures()});
    return FakeServices(true, false, flags);
}

eye::testing::Environment worker_env(const TestDatabase& db, const FakeServices& fake) {
    return {{"EYE_DATABASE_URL", db.url()},
            {"EYE_MEDIA_ROOT", fixtures()},
            {"EYE_AI_URL", fake.ai_url()},
            {"EYE_STATE_DIR", "/tmp"}};
}

// How often the fake was asked to analyze each image path.
std::map<std::string, int> calls_of(const FakeServices& fake) {
    eye::http::Client client;
    eye::http::Request request;
    request.url = fake.ai_url() + "/_fake/calls";
    auto response = client.send(request);
    REQUIRE(response);
    auto document = eye::json::parse(response->body);
    REQUIRE(document);
    std::map<std::string, int> calls;
    for (const auto& member : document->GetObject()) {
        calls[member.name.GetString()] = member.value.GetInt();
    }
    return calls;
}

void queue_images(const TestDatabase& db, const std::string& file_path, int count) {
    db.execute(
        fmt::format("INSERT INTO media_files (file_path, processing_status, created_at, "
                    "updated_at) SELECT '{}', 'pending', now(), now() FROM "
                    "generate_series(1, {})",
                    file_path, count));
    db.execute(
        "INSERT INTO eye.jobs (media_id, reason) SELECT id, 'test' FROM media_files "
        "WHERE id NOT IN (SELECT media_id FROM eye.jobs)");
}

void wait_until(const std::function<bool()>& condition, std::chrono::milliseconds limit = 15s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(20ms);
    }
}

}  // namespace

TEST_CASE("the avinash analyzer writes every field of the AI service into its column") {
    TestDatabase db;
    auto fake = fake_ai();
    auto env = worker_env(db, fake);
    REQUIRE(eye::testing::run("eye", {"media:import", fixtures() + "/images/chelsea.png"}, env)
                .exit_code == 0);
    auto worker = eye::testing::run("eye-worker", {"--stop-when-empty"}, env);
    INFO(worker.err);
    REQUIRE(worker.exit_code == 0);
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "completed");
    CHECK(db.query_value("SELECT description FROM media_files") ==
          "A fake analysis of 'chelsea.png'.");
    CHECK_THAT(db.query_value("SELECT detailed_description FROM media_files"),
               Catch::Contains("/app/shared/images/chelsea.png"));
    CHECK(db.query_value("SELECT meta_tags::text FROM media_files") ==
          R"(["fake","chelsea","person","outdoor"])");
    // faces: upstream's Laravel reads the wrong keys and loses them; eye keeps them
    CHECK(db.query_value("SELECT face_count FROM media_files") == "2");
    CHECK(db.query_value("SELECT json_array_length(face_encodings) || ' ' || "
                         "json_array_length(face_encodings->0) FROM media_files") == "2 128");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE embedding IS NOT NULL AND "
                         "dominant_colors IS NOT NULL AND image_quality IS NOT NULL AND "
                         "quality_tier IS NOT NULL AND phash IS NOT NULL AND dhash IS NOT NULL "
                         "AND objects_detected IS NOT NULL AND scene_classification IS NOT NULL") ==
          "1");
    CHECK(db.query_value("SELECT analyzer || ' ' || model_version FROM eye.media_state") ==
          "avinash florence+clip");
    CHECK(calls_of(fake) == std::map<std::string, int>{{"/app/shared/images/chelsea.png", 1}});
}

TEST_CASE(
    "a file the AI service cannot find fails for good; busy and broken answers are "
    "retried") {
    TestDatabase db;
    SECTION("404 is permanent") {
        auto fake = fake_ai();
        queue_images(db, "images/not-there.jpg", 1);
        auto worker = eye::testing::run("eye-worker", {"--stop-when-empty", "--backoff=0"},
                                        worker_env(db, fake));
        CHECK(worker.exit_code == 0);
        CHECK(db.query_value("SELECT attempts FROM eye.failed_jobs") == "1");
        // the operator's record has the whole story; what the web app shows its users names
        // neither the AI service's paths nor its address
        CHECK_THAT(db.query_value("SELECT error FROM eye.failed_jobs"),
                   Catch::Contains("cannot find '/app/shared/images/not-there.jpg'"));
        auto shown = db.query_value("SELECT processing_error FROM media_files");
        CHECK_THAT(shown, Catch::Contains("cannot find 'images/not-there.jpg'"));
        CHECK_THAT(shown, !Catch::Contains("/app/shared") && !Catch::Contains("127.0.0.1"));
    }
    for (const std::string mode : {"busy503", "error500", "html"}) {
        SECTION(mode + " is temporary") {
            auto fake = fake_ai({"--analyze-mode", mode});
            queue_images(db, "images/chelsea.png", 1);
            auto worker =
                eye::testing::run("eye-worker", {"--stop-when-empty", "--backoff=0", "--tries=2"},
                                  worker_env(db, fake));
            CHECK(worker.exit_code == 0);
            CHECK(db.query_value("SELECT attempts FROM eye.failed_jobs") == "2");
            CHECK(db.query_value("SELECT processing_status FROM media_files") == "failed");
        }
    }
    SECTION("an answer nested deeper than any parser's stack is permanent, not a crash") {
        auto fake = fake_ai({"--analyze-mode", "deep-json"});
        queue_images(db, "images/chelsea.png", 1);
        auto worker = eye::testing::run("eye-worker", {"--stop-when-empty", "--backoff=0"},
                                        worker_env(db, fake));
        CHECK(worker.exit_code == 0);
        CHECK(db.query_value("SELECT attempts FROM eye.failed_jobs") == "1");
        CHECK_THAT(db.query_value("SELECT error FROM eye.failed_jobs"),
                   Catch::Contains("nested deeper than 64 levels"));
    }
    SECTION("an embedding of the wrong length is permanent") {
        auto fake = fake_ai({"--analyze-mode", "wrong-dim"});
        queue_images(db, "images/chelsea.png", 1);
        auto worker = eye::testing::run("eye-worker", {"--stop-when-empty", "--backoff=0"},
                                        worker_env(db, fake));
        CHECK(worker.exit_code == 0);
        CHECK(db.query_value("SELECT attempts FROM eye.failed_jobs") == "1");
        CHECK_THAT(db.query_value("SELECT error FROM eye.failed_jobs"),
                   Catch::Contains("768 values"));
    }
}

TEST_CASE("a worker whose AI service is down exits 69 before claiming anything") {
    TestDatabase db;
    queue_images(db, "images/chelsea.png", 3);
    auto env = eye::testing::Environment{
        {"EYE_DATABASE_URL", db.url()},
        {"EYE_MEDIA_ROOT", fixtures()},
        {"EYE_AI_URL", fmt::format("http://127.0.0.1:{}", eye::testing::closed_port())}};
    auto worker = eye::testing::run("eye-worker", {"--stop-when-empty"}, env);
    CHECK(worker.exit_code == 69);
    CHECK_THAT(worker.err, Catch::Contains("the AI service is unavailable"));
    CHECK_THAT(worker.err, Catch::Contains("hint:"));
    CHECK(db.query_value("SELECT string_agg(DISTINCT status || attempts, ',') FROM eye.jobs") ==
          "queued0");
}

TEST_CASE("four worker processes on 20,000 jobs analyze every image exactly once") {
    TestDatabase db;
    // one distinct path per image, so the fake's count per path is a count per image
    db.execute(
        "INSERT INTO media_files (file_path, processing_status, created_at, updated_at) "
        "SELECT 'images/many/' || g || '.jpg', 'pending', now(), now() "
        "FROM generate_series(1, 20000) g");
    db.execute("INSERT INTO eye.jobs (media_id, reason) SELECT id, 'test' FROM media_files");
    // without a shared root the fake takes every path as existing
    FakeServices lenient(true, false, {});
    auto env = worker_env(db, lenient);
    std::vector<std::unique_ptr<eye::testing::Process>> workers;
    for (int i = 0; i < 4; ++i) {
        workers.push_back(std::make_unique<eye::testing::Process>(
            "eye-worker",
            std::vector<std::string>{"--stop-when-empty", "--max-jobs=0", "--concurrency=4"}, env));
    }
    for (auto& worker : workers) {
        auto result = worker->wait(std::chrono::minutes(5));
        INFO(result.err);
        CHECK(result.exit_code == 0);
    }
    auto calls = calls_of(lenient);
    CHECK(calls.size() == 20000);
    int more_than_once = 0;
    for (const auto& [path, count] : calls) {
        more_than_once += count > 1 ? 1 : 0;
    }
    CHECK(more_than_once == 0);
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed'") == "20000");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'completed'") == "20000");
    CHECK(db.query_value("SELECT count(DISTINCT worker_id) FROM eye.jobs") == "4");
}

TEST_CASE(
    "a worker killed with SIGKILL mid-job: the monitor requeues its job once the "
    "heartbeat is stale, and the image is analyzed once more") {
    TestDatabase db;
    auto fake = fake_ai({"--analyze-delay", "1500"});
    auto env = worker_env(db, fake);
    queue_images(db, "images/rocket.jpg", 1);
    {
        eye::testing::Process worker("eye-worker",
                                     {"--stop-when-empty", "--heartbeat-interval=200ms"}, env);
        wait_until([&] { return calls_of(fake).size() == 1; });
        worker.signal(SIGKILL);
        worker.wait();
    }
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "processing");
    CHECK(db.query_value("SELECT status FROM eye.jobs") == "running");

    // while the heartbeat is fresh the monitor leaves the job alone
    auto early = eye::testing::run("eye-monitor", {"--fix", "--heartbeat-timeout=30s"}, env);
    CHECK(db.query_value("SELECT status FROM eye.jobs") == "running");
    std::this_thread::sleep_for(1500ms);
    auto rescue = eye::testing::run("eye-monitor", {"--fix", "--heartbeat-timeout=1s"}, env);
    INFO(rescue.err);
    CHECK(db.query_value("SELECT status || ' ' || attempts FROM eye.jobs") == "queued 1");
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "pending");

    auto worker = eye::testing::run("eye-worker", {"--stop-when-empty"}, env);
    CHECK(worker.exit_code == 0);
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "completed");
    CHECK(calls_of(fake) == std::map<std::string, int>{{"/app/shared/images/rocket.jpg", 2}});
    (void)early;
}

TEST_CASE("SIGTERM during a slow analysis: exit 0 within --grace, the job completed") {
    TestDatabase db;
    auto fake = fake_ai({"--analyze-delay", "1500"});
    auto env = worker_env(db, fake);
    queue_images(db, "images/coins.png", 2);
    eye::testing::Process worker("eye-worker", {"--grace=10s"}, env);
    wait_until([&] { return calls_of(fake).size() == 1; });
    auto signalled = std::chrono::steady_clock::now();
    worker.signal(SIGTERM);
    auto result = worker.wait();
    CHECK(result.exit_code == 0);
    CHECK(std::chrono::steady_clock::now() - signalled < 10s);
    CHECK(db.query_value("SELECT string_agg(processing_status, ',' ORDER BY id) FROM "
                         "media_files") == "completed,pending");
    CHECK(db.query_value("SELECT string_agg(status, ',' ORDER BY id) FROM eye.jobs") ==
          "completed,queued");
}

TEST_CASE("SIGTERM when the analysis outlasts --grace: exit 0, the job back in the queue") {
    TestDatabase db;
    auto fake = fake_ai({"--analyze-delay", "5000"});
    auto env = worker_env(db, fake);
    queue_images(db, "images/coins.png", 1);
    eye::testing::Process worker("eye-worker", {"--grace=500ms"}, env);
    wait_until([&] { return calls_of(fake).size() == 1; });
    auto signalled = std::chrono::steady_clock::now();
    worker.signal(SIGTERM);
    auto result = worker.wait();
    CHECK(result.exit_code == 0);
    CHECK(std::chrono::steady_clock::now() - signalled < 2s);
    CHECK(db.query_value("SELECT status || ' ' || attempts FROM eye.jobs") == "queued 0");
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "pending");
}

TEST_CASE(
    "Ctrl-C on a busy worker says at once what it does; Ctrl-C again gives the job back "
    "now") {
    TestDatabase db;
    auto fake = fake_ai({"--analyze-delay", "20000"});
    auto env = worker_env(db, fake);
    queue_images(db, "images/coins.png", 1);
    eye::testing::Process worker("eye-worker", {"--grace=30s"}, env);
    wait_until([&] { return calls_of(fake).size() == 1; });
    worker.signal(SIGINT);
    // the notice comes at once, not when the 20 s analysis ends
    wait_until([&] { return worker.err_so_far().find("stopping on SIGINT") != std::string::npos; });
    CHECK_THAT(worker.err_so_far(),
               Catch::Contains("stopping on SIGINT: finishing 1 job, up to --grace 30s; Ctrl-C "
                               "(or SIGTERM) again to give it back now"));
    CHECK(worker.running());
    auto second = std::chrono::steady_clock::now();
    worker.signal(SIGINT);
    auto result = worker.wait();
    CHECK(std::chrono::steady_clock::now() - second < 3s);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.err, Catch::Contains("SIGINT again: giving the jobs in hand back now"));
    CHECK_THAT(result.err, Catch::Contains("gave 1 unfinished job(s) back to the queue"));
    CHECK(db.query_value("SELECT status || ' ' || attempts FROM eye.jobs") == "queued 0");
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "pending");
}

TEST_CASE("a worker whose database goes away mid-run exits 75 without crashing") {
    TestDatabase db;
    auto fake = fake_ai({"--analyze-delay", "1500"});
    auto env = worker_env(db, fake);
    queue_images(db, "images/coins.png", 2);
    eye::testing::Process worker("eye-worker", {"--stop-when-empty"}, env);
    wait_until([&] { return calls_of(fake).size() == 1; });
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name "
        "LIKE 'eye-worker%' AND datname = current_database()");
    auto result = worker.wait();
    INFO(result.err);
    CHECK(result.signal == 0);
    CHECK(result.exit_code == 75);
    CHECK_THAT(result.err, Catch::Contains("lost the database connection"));
    CHECK_THAT(result.err, Catch::Contains("eye-worker end: failed (exit 75)"));
    // the job in hand stays running until its heartbeat is stale; nothing is lost
    CHECK(db.query_value("SELECT string_agg(status, ',' ORDER BY id) FROM eye.jobs") ==
          "running,queued");
}
