// eye-worker: in-process runs with a scripted analyzer for the queue's guarantees, and runs of
// the built executables for what an operator sees.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <signal.h>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/analyzer.hpp"
#include "eye/analyzers/factory.hpp"
#include "eye/analyzers/media_path.hpp"
#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/db/schema.hpp"
#include "eye/queue/queue.hpp"
#include "eye/tasks/worker/worker.hpp"
#include "support/database.hpp"
#include "support/media.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::insert_media;
using eye::testing::MediaRow;
using eye::testing::TempDir;
using eye::testing::TestDatabase;
namespace fs = std::filesystem;

namespace {

// An analyzer that does what the test says and counts its calls per image.
class ScriptedAnalyzer : public eye::analyzers::Analyzer {
public:
    std::string name() const override { return "builtin"; }
    std::string model_version() const override { return "scripted-1"; }

    eye::AnalysisResult analyze(const eye::analyzers::MediaItem& item) override {
        int call = 0;
        {
            std::lock_guard lock(m_mutex);
            call = ++m_calls[item.id];
        }
        if (item.id == hang_for) {
            // a decoder stuck on a hostile file: deaf to every stop request until released
            std::unique_lock lock(m_mutex);
            m_released.wait(lock, [this] { return m_release; });
        }
        // a slow analysis that stops when the worker gives up on it, as a service request does
        auto until = std::chrono::steady_clock::now() + delay;
        while (std::chrono::steady_clock::now() < until) {
            if (m_should_abort && m_should_abort()) {
                throw eye::analyzers::AnalysisError(eye::analyzers::AnalysisError::Kind::temporary,
                                                    "analysis stopped");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (unavailable) {
            throw eye::analyzers::AnalysisError(eye::analyzers::AnalysisError::Kind::unavailable,
                                                "the service is unreachable: connection refused");
        }
        if (call <= fail_first) {
            throw eye::analyzers::AnalysisError(eye::analyzers::AnalysisError::Kind::temporary,
                                                "the service is busy");
        }
        if (fail_permanently) {
            throw eye::analyzers::AnalysisError(eye::analyzers::AnalysisError::Kind::permanent,
                                                "not an image");
        }
        eye::AnalysisResult result;
        result.analyzer = "builtin";
        result.model_version = "scripted-1";
        result.description = fmt::format("image {} described", item.id);
        result.meta_tags = {"scripted", "test"};
        result.width = 10;
        result.height = 20;
        if (embedding_length > 0) {
            result.embedding = std::vector<float>(static_cast<std::size_t>(embedding_length), 0.5f);
        }
        if (item.id == bad_embedding_for) {
            result.embedding = std::vector<float>(10, 0.5f);
        }
        if (item.id == long_description_for) {
            result.description = std::string(500, 'x');
        }
        return result;
    }

    void set_abort_check(std::function<bool()> should_abort) override {
        m_should_abort = std::move(should_abort);
    }

    std::map<std::int64_t, int> calls() {
        std::lock_guard lock(m_mutex);
        return m_calls;
    }

    // Lets the analysis of hang_for end (its thread writes nothing: the worker gave up on it).
    void release() {
        {
            std::lock_guard lock(m_mutex);
            m_release = true;
        }
        m_released.notify_all();
    }

    std::chrono::milliseconds delay{0};
    int fail_first = 0;
    bool fail_permanently = false;
    int embedding_length = 0;
    bool unavailable = false;
    std::int64_t bad_embedding_for = 0;  // this image gets an embedding too short for the column
    std::int64_t hang_for = 0;           // this image's analysis hangs until release()
    std::int64_t long_description_for = 0;

private:
    std::function<bool()> m_should_abort;
    std::mutex m_mutex;
    std::condition_variable m_released;
    bool m_release = false;
    std::map<std::int64_t, int> m_calls;
};

// Runs the worker in this process with the given analyzer, as eye-worker would.
eye::Outcome run_shared(const TestDatabase& db,
                        const std::shared_ptr<eye::analyzers::Analyzer>& analyzer,
                        eye::tasks::WorkerOptions options, const fs::path& media_root) {
    eye::Config config;
    config.media_root = media_root;
    auto session = db.connect();
    std::ostringstream out;
    eye::Context context{config,
                         out,
                         "eye-worker",
                         "worker",
                         &session,
                         {},
                         eye::ExitCode::ok,
                         std::chrono::system_clock::now(),
                         false,
                         {},
                         {}};
    return eye::tasks::run_worker_with(context, options, analyzer);
}

eye::Outcome run_in_process(const TestDatabase& db, eye::analyzers::Analyzer& analyzer,
                            eye::tasks::WorkerOptions options, const fs::path& media_root) {
    // the test owns the analyzer and outlives the run: a share that does not delete it
    return run_shared(db, std::shared_ptr<eye::analyzers::Analyzer>(&analyzer, [](auto*) {}),
                      options, media_root);
}

eye::tasks::WorkerOptions until_empty() {
    eye::tasks::WorkerOptions options;
    options.stop_when_empty = true;
    options.max_jobs = 0;
    options.sleep = std::chrono::milliseconds(50);
    options.backoff = "0";
    return options;
}

// Images (files that need not exist for the scripted analyzer) with one queued job each.
std::vector<std::int64_t> queued_images(const TestDatabase& db, int count) {
    db.execute(fmt::format(
        "INSERT INTO media_files (file_path, processing_status, created_at, updated_at) "
        "SELECT 'img/' || g || '.jpg', 'pending', now(), now() FROM generate_series(1, {}) g",
        count));
    db.execute("INSERT INTO eye.jobs (media_id, reason) SELECT id, 'test' FROM media_files");
    std::vector<std::int64_t> ids;
    auto text = db.query_value("SELECT string_agg(id::text, ',' ORDER BY id) FROM media_files");
    std::stringstream list(text);
    for (std::string id; std::getline(list, id, ',');) {
        ids.push_back(std::stoll(id));
    }
    return ids;
}

std::string fixtures() {
    return std::string(EYE_SOURCE_DIR) + "/tests/fixtures";
}

}  // namespace

TEST_CASE("the worker analyzes every queued image once and writes its results and state") {
    TestDatabase db;
    auto images = queued_images(db, 30);
    ScriptedAnalyzer analyzer;
    analyzer.embedding_length = 512;
    TempDir root;
    auto outcome = run_in_process(db, analyzer, until_empty(), root.path);
    CHECK(outcome.exit == eye::ExitCode::ok);
    auto calls = analyzer.calls();
    CHECK(calls.size() == 30);
    for (auto [id, count] : calls) {
        CHECK(count == 1);
    }
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = 'completed' "
                         "AND processing_completed_at IS NOT NULL AND description LIKE "
                         "'image % described' AND meta_tags::text = '[\"scripted\",\"test\"]' "
                         "AND width = 10 AND height = 20 AND embedding IS NOT NULL") == "30");
    CHECK(db.query_value("SELECT count(*) FROM eye.media_state WHERE analyzer = 'builtin' AND "
                         "model_version = 'scripted-1' AND status = 'completed'") == "30");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'completed'") == "30");
    CHECK(db.query_value("SELECT status || ' ' || jobs_done FROM eye.workers") == "stopped 30");
}

TEST_CASE("four workers at once complete every job exactly once") {
    TestDatabase db;
    auto images = queued_images(db, 2000);
    ScriptedAnalyzer analyzer;
    TempDir root;
    std::vector<std::thread> workers;
    auto options = until_empty();
    options.concurrency = 2;
    for (int i = 0; i < 4; ++i) {
        workers.emplace_back([&] { run_in_process(db, analyzer, options, root.path); });
    }
    for (auto& worker : workers) {
        worker.join();
    }
    auto calls = analyzer.calls();
    CHECK(calls.size() == 2000);
    int twice = 0;
    for (auto [id, count] : calls) {
        twice += count > 1 ? 1 : 0;
    }
    CHECK(twice == 0);
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'completed'") == "2000");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed'") == "2000");
    CHECK(db.query_value("SELECT count(DISTINCT worker_id) FROM eye.jobs") == "4");
}

TEST_CASE("a temporary failure is retried after its backoff and then succeeds") {
    TestDatabase db;
    queued_images(db, 1);
    ScriptedAnalyzer analyzer;
    analyzer.fail_first = 2;
    TempDir root;
    auto outcome = run_in_process(db, analyzer, until_empty(), root.path);
    CHECK(analyzer.calls().begin()->second == 3);
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "completed");
    CHECK(db.query_value("SELECT attempts FROM eye.jobs") == "3");
    CHECK_THAT(outcome.summary_json, Catch::Contains("\"retried\":2"));
}

TEST_CASE("after --tries failed attempts the job fails for good") {
    TestDatabase db;
    queued_images(db, 1);
    ScriptedAnalyzer analyzer;
    analyzer.fail_first = 100;
    TempDir root;
    auto options = until_empty();
    options.tries = 2;
    run_in_process(db, analyzer, options, root.path);
    CHECK(analyzer.calls().begin()->second == 2);
    CHECK(db.query_value("SELECT processing_status || ': ' || processing_error FROM "
                         "media_files") == "failed: the service is busy");
    CHECK(db.query_value("SELECT attempts FROM eye.failed_jobs") == "2");
}

TEST_CASE("a permanent failure is not retried") {
    TestDatabase db;
    queued_images(db, 1);
    ScriptedAnalyzer analyzer;
    analyzer.fail_permanently = true;
    TempDir root;
    run_in_process(db, analyzer, until_empty(), root.path);
    CHECK(analyzer.calls().begin()->second == 1);
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "1");
}

TEST_CASE("backoff grows exponentially from one value and follows a list as given") {
    TestDatabase db;
    queued_images(db, 1);
    ScriptedAnalyzer analyzer;
    analyzer.fail_first = 1;
    TempDir root;
    auto options = until_empty();
    options.backoff = "60";
    run_in_process(db, analyzer, options, root.path);
    // the queue had nothing due any more, so the worker stopped with the retry waiting
    CHECK(db.query_value("SELECT status || ' ' || (available_at > now() + interval '50 seconds') "
                         "FROM eye.jobs") == "queued true");
}

TEST_CASE("an embedding that does not fit the column fails the job for good") {
    if (!eye::testing::server_has_pgvector()) {
        FAIL("this PostgreSQL server has no pgvector; scripts/setup builds it (--pgvector)");
    }
    TestDatabase db;
    queued_images(db, 1);
    ScriptedAnalyzer analyzer;
    analyzer.embedding_length = 10;
    TempDir root;
    run_in_process(db, analyzer, until_empty(), root.path);
    CHECK_THAT(db.query_value("SELECT error FROM eye.failed_jobs"),
               Catch::Contains("embedding has 10 values but media_files.embedding is "
                               "vector(512)"));
    CHECK(db.query_value("SELECT embedding IS NULL FROM media_files") == "t");
}

TEST_CASE("results written together: one the database refuses does not hold back the others") {
    if (!eye::testing::server_has_pgvector()) {
        FAIL("this PostgreSQL server has no pgvector; scripts/setup builds it (--pgvector)");
    }
    TestDatabase db;
    auto images = queued_images(db, 16);
    ScriptedAnalyzer analyzer;
    analyzer.embedding_length = 512;
    analyzer.bad_embedding_for = images[5];
    TempDir root;
    auto options = until_empty();
    options.concurrency = 8;
    run_in_process(db, analyzer, options, root.path);
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed' AND embedding IS NOT NULL") == "15");
    CHECK(db.query_value("SELECT media_id FROM eye.failed_jobs") == std::to_string(images[5]));
    CHECK(db.query_value("SELECT count(*) FROM eye.media_state WHERE status = 'completed'") ==
          "15");
}

TEST_CASE("a job taken from the worker while it runs is not written by it") {
    TestDatabase db;
    queued_images(db, 1);
    ScriptedAnalyzer analyzer;
    analyzer.delay = std::chrono::milliseconds(1500);
    TempDir root;
    auto options = until_empty();
    options.heartbeat_interval = std::chrono::milliseconds(200);
    options.max_jobs = 1;
    std::thread thief([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        // what a rescue by the monitor does when it thinks the worker is dead
        db.execute("UPDATE eye.jobs SET status = 'queued', worker_id = NULL");
    });
    auto outcome = run_in_process(db, analyzer, options, root.path);
    thief.join();
    CHECK_THAT(outcome.summary_json, Catch::Contains("\"lost\":1"));
    CHECK(db.query_value("SELECT description IS NULL FROM media_files") == "t");
    CHECK(db.query_value("SELECT status FROM eye.jobs") == "queued");
}

TEST_CASE("an analysis longer than --timeout fails the attempt and the job is retried") {
    TestDatabase db;
    queued_images(db, 1);
    ScriptedAnalyzer analyzer;
    analyzer.delay = std::chrono::milliseconds(1200);
    TempDir root;
    auto options = until_empty();
    options.timeout = std::chrono::milliseconds(300);
    options.tries = 1;
    run_in_process(db, analyzer, options, root.path);
    CHECK_THAT(db.query_value("SELECT error FROM eye.failed_jobs"),
               Catch::Contains("took longer than 300ms"));
}

TEST_CASE("a service that becomes unreachable: the job goes back untried and the worker exits 69") {
    TestDatabase db;
    queued_images(db, 3);
    ScriptedAnalyzer analyzer;
    analyzer.unavailable = true;
    TempDir root;
    auto outcome = run_in_process(db, analyzer, until_empty(), root.path);
    CHECK(outcome.exit == eye::ExitCode::unavailable);
    CHECK(analyzer.calls().size() == 1);
    CHECK(db.query_value("SELECT string_agg(status || attempts, ',') FROM eye.jobs") ==
          "queued0,queued0,queued0");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'pending'") == "3");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
}

TEST_CASE("--max-jobs stops the worker after that many jobs") {
    TestDatabase db;
    queued_images(db, 10);
    ScriptedAnalyzer analyzer;
    TempDir root;
    auto options = until_empty();
    options.max_jobs = 4;
    auto outcome = run_in_process(db, analyzer, options, root.path);
    CHECK(analyzer.calls().size() == 4);
    CHECK_THAT(outcome.note, Catch::Contains("--max-jobs 4"));
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued'") == "6");
}

TEST_CASE("an idle worker wakes at once when a job is queued") {
    TestDatabase db;
    ScriptedAnalyzer analyzer;
    TempDir root;
    auto options = until_empty();
    options.stop_when_empty = false;
    options.max_jobs = 1;
    options.sleep = std::chrono::seconds(30);
    auto media = insert_media(db, MediaRow().at("late.jpg"));
    std::chrono::steady_clock::time_point queued_at;
    std::thread producer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(700));
        auto session = db.connect();
        eye::db::Transaction tx(session);
        eye::queue::EnqueueOptions enqueue;
        enqueue.reason = "test";
        queued_at = std::chrono::steady_clock::now();
        eye::queue::enqueue(tx, {media}, enqueue, std::chrono::system_clock::now());
        tx.commit();
    });
    run_in_process(db, analyzer, options, root.path);
    auto finished = std::chrono::steady_clock::now();
    producer.join();
    CHECK(finished - queued_at < std::chrono::seconds(3));
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "completed");
}

TEST_CASE("SIGTERM: the worker claims nothing more and finishes the job in hand") {
    TestDatabase db;
    queued_images(db, 3);
    ScriptedAnalyzer analyzer;
    analyzer.delay = std::chrono::milliseconds(800);
    TempDir root;
    auto options = until_empty();
    options.grace = std::chrono::seconds(5);
    eye::stop::reset();
    std::thread stopper([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        eye::stop::request(SIGTERM);
    });
    auto outcome = run_in_process(db, analyzer, options, root.path);
    stopper.join();
    eye::stop::reset();
    CHECK(outcome.exit == eye::ExitCode::ok);
    CHECK(analyzer.calls().size() == 1);
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed'") == "1");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued'") == "2");
}

TEST_CASE("SIGTERM with a job that outlasts --grace gives the job back to the queue") {
    TestDatabase db;
    queued_images(db, 1);
    ScriptedAnalyzer analyzer;
    analyzer.delay = std::chrono::milliseconds(3000);
    TempDir root;
    auto options = until_empty();
    options.grace = std::chrono::milliseconds(400);
    eye::stop::reset();
    std::thread stopper([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        eye::stop::request(SIGTERM);
    });
    auto started = std::chrono::steady_clock::now();
    auto outcome = run_in_process(db, analyzer, options, root.path);
    auto took = std::chrono::steady_clock::now() - started;
    stopper.join();
    eye::stop::reset();
    CHECK(outcome.exit == eye::ExitCode::ok);
    CHECK(took < std::chrono::milliseconds(1500));
    CHECK(db.query_value("SELECT status || ' ' || attempts FROM eye.jobs") == "queued 0");
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "pending");
}

TEST_CASE("media:import and eye-worker analyze the sample photos with the builtin analyzer") {
    TestDatabase db;
    eye::testing::Environment env{
        {"EYE_DATABASE_URL", db.url()}, {"EYE_MEDIA_ROOT", fixtures()}, {"EYE_STATE_DIR", "/tmp"}};
    auto import = eye::testing::run("eye", {"media:import", fixtures() + "/images"}, env);
    INFO(import.err);
    REQUIRE(import.exit_code == 0);
    // SOURCES.md is the one file there that is not an image
    CHECK_THAT(import.out, Catch::Contains("imported 14 of 15 file(s) found"));
    CHECK_THAT(import.out, Catch::Contains("1 not images"));
    auto worker = eye::testing::run("eye-worker", {"--stop-when-empty", "--concurrency=2"}, env);
    INFO(worker.err);
    REQUIRE(worker.exit_code == 0);
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed'") == "14");
    CHECK(db.query_value("SELECT width || 'x' || height || ' ' || (meta_tags::jsonb ? 'color') "
                         "|| ' ' || (meta_tags::jsonb ? 'landscape') FROM media_files WHERE "
                         "file_path = 'images/chelsea.png'") == "451x300 true true");
    CHECK(db.query_value("SELECT (meta_tags::jsonb ? 'grayscale') || ' ' || (meta_tags::jsonb ? "
                         "'square') FROM media_files WHERE file_path = 'images/camera.png'") ==
          "true true");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE length(phash) = 16 AND "
                         "length(dhash) = 16 AND length(file_hash) = 64 AND quality_tier IS NOT "
                         "NULL AND description IS NOT NULL AND embedding IS NOT NULL AND "
                         "jsonb_array_length(dominant_colors) > 0") == "14");
    CHECK(db.query_value("SELECT count(*) FROM eye.media_state WHERE analyzer = 'builtin' AND "
                         "model_version = 'builtin-2'") == "14");
}

TEST_CASE("a truncated JPEG and a text file named .jpg fail for good with a clear error") {
    TestDatabase db;
    TempDir root;
    std::ifstream rocket(fixtures() + "/images/rocket.jpg", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(rocket)), {});
    std::ofstream(root.path / "half.jpg", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    std::ofstream(root.path / "notes.jpg") << "this is not an image\n";
    auto half = insert_media(db, MediaRow().at("half.jpg"));
    auto notes = insert_media(db, MediaRow().at("notes.jpg"));
    db.execute("INSERT INTO eye.jobs (media_id) SELECT id FROM media_files");
    auto worker =
        eye::testing::run("eye-worker", {"--stop-when-empty", "--backoff=0"},
                          {{"EYE_DATABASE_URL", db.url()}, {"EYE_MEDIA_ROOT", root.path.string()}});
    INFO(worker.err);
    CHECK(worker.exit_code == 0);
    CHECK_THAT(db.query_value(fmt::format(
                   "SELECT processing_status || ': ' || processing_error FROM media_files "
                   "WHERE id = {}",
                   half)),
               Catch::StartsWith("failed: ") && Catch::Contains("truncated"));
    CHECK_THAT(db.query_value(fmt::format(
                   "SELECT processing_status || ': ' || processing_error FROM media_files "
                   "WHERE id = {}",
                   notes)),
               Catch::StartsWith("failed: ") && Catch::Contains("not a supported image"));
    CHECK(db.query_value("SELECT string_agg(attempts::text, ',') FROM eye.failed_jobs") == "1,1");
}

TEST_CASE("a file_path that leads outside EYE_MEDIA_ROOT is refused for good") {
    TestDatabase db;
    TempDir root;
    insert_media(db, MediaRow().at("../../etc/passwd"));
    db.execute("INSERT INTO eye.jobs (media_id) SELECT id FROM media_files");
    auto worker =
        eye::testing::run("eye-worker", {"--stop-when-empty"},
                          {{"EYE_DATABASE_URL", db.url()}, {"EYE_MEDIA_ROOT", root.path.string()}});
    CHECK(worker.exit_code == 0);
    CHECK_THAT(db.query_value("SELECT error FROM eye.failed_jobs"),
               Catch::Contains("leads outside EYE_MEDIA_ROOT"));
}

TEST_CASE(
    "a column renamed under a running worker stops it (78) with every job in hand given back") {
    TestDatabase db;
    queued_images(db, 5);
    ScriptedAnalyzer analyzer;
    analyzer.delay = std::chrono::milliseconds(600);
    TempDir root;
    auto options = until_empty();
    options.concurrency = 5;
    std::thread upgrade([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        // what an upstream migration could do while the worker runs
        db.execute("ALTER TABLE media_files RENAME COLUMN description TO summary");
    });
    CHECK_THROWS_AS(run_in_process(db, analyzer, options, root.path), eye::ConfigError);
    upgrade.join();
    CHECK(analyzer.calls().size() == 5);
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
    CHECK(db.query_value("SELECT string_agg(DISTINCT status || attempts, ',') FROM eye.jobs") ==
          "queued0");
    CHECK(db.query_value("SELECT string_agg(DISTINCT processing_status, ',') FROM media_files") ==
          "pending");
}

TEST_CASE("a trigger that fails every write stops the worker (70) instead of failing the queue") {
    TestDatabase db;
    queued_images(db, 3);
    db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.processing_status = 'completed' THEN RAISE EXCEPTION 'audit log is full'; END IF; "
        "RETURN NEW; END $$; "
        "CREATE TRIGGER refuse BEFORE UPDATE ON media_files FOR EACH ROW EXECUTE FUNCTION "
        "refuse()");
    ScriptedAnalyzer analyzer;
    TempDir root;
    try {
        run_in_process(db, analyzer, until_empty(), root.path);
        FAIL("the worker went on");
    } catch (const eye::Error& e) {
        CHECK(e.code() == eye::ExitCode::software);
        CHECK_THAT(e.what(), Catch::Contains("audit log is full"));
    }
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
    CHECK(db.query_value(
              "SELECT count(*) FROM eye.jobs WHERE status = 'queued' AND attempts = 0") == "3");
}

TEST_CASE("a value too long for its column fails that image only, and the worker goes on") {
    TestDatabase db;
    auto images = queued_images(db, 3);
    db.execute("ALTER TABLE media_files ALTER COLUMN description TYPE varchar(100)");
    ScriptedAnalyzer analyzer;
    analyzer.long_description_for = images[1];
    TempDir root;
    auto outcome = run_in_process(db, analyzer, until_empty(), root.path);
    CHECK(outcome.exit == eye::ExitCode::ok);
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed'") == "2");
    CHECK(db.query_value("SELECT media_id FROM eye.failed_jobs") == std::to_string(images[1]));
    CHECK_THAT(db.query_value("SELECT error FROM eye.failed_jobs"),
               Catch::Contains("value too long"));
}

TEST_CASE("an analysis stuck past --timeout frees its slot, and never holds up the exit") {
    TestDatabase db;
    auto images = queued_images(db, 3);
    auto analyzer = std::make_shared<ScriptedAnalyzer>();
    analyzer->hang_for = images[0];
    TempDir root;
    auto options = until_empty();
    options.timeout = std::chrono::milliseconds(300);
    options.tries = 1;
    eye::stop::reset();
    auto started = std::chrono::steady_clock::now();
    auto outcome = run_shared(db, analyzer, options, root.path);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
    // one slot, and the other two images were analyzed while the first one hung in it
    CHECK(outcome.exit == eye::ExitCode::ok);
    CHECK(took < 300 + 1000 + 1500);
    CHECK(db.query_value(fmt::format("SELECT processing_status FROM media_files WHERE id = {}",
                                     images[0])) == "failed");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed'") == "2");
    CHECK(eye::stop::threads_left_behind());
    // what the stuck analysis returns once it ends is dropped: its job failed already
    analyzer->release();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(db.query_value(fmt::format("SELECT description IS NULL FROM media_files WHERE id = {}",
                                     images[0])) == "t");
    eye::stop::reset();
}

TEST_CASE(
    "SIGTERM with an analysis deaf to it: exit within --grace plus a second, job given back") {
    TestDatabase db;
    auto images = queued_images(db, 1);
    auto analyzer = std::make_shared<ScriptedAnalyzer>();
    analyzer->hang_for = images[0];
    TempDir root;
    auto options = until_empty();
    options.timeout = std::chrono::milliseconds(0);
    options.grace = std::chrono::milliseconds(400);
    eye::stop::reset();
    std::thread stopper([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        eye::stop::request(SIGTERM);
    });
    auto started = std::chrono::steady_clock::now();
    auto outcome = run_shared(db, analyzer, options, root.path);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - started)
                    .count();
    stopper.join();
    CHECK(outcome.exit == eye::ExitCode::ok);
    CHECK(took < 300 + 400 + 1000 + 800);
    CHECK(db.query_value("SELECT status || ' ' || attempts FROM eye.jobs") == "queued 0");
    CHECK(eye::stop::threads_left_behind());
    analyzer->release();
    eye::stop::reset();
}

TEST_CASE("losing the database while an analysis hangs ends the worker within seconds (75)") {
    TestDatabase db;
    auto images = queued_images(db, 1);
    auto analyzer = std::make_shared<ScriptedAnalyzer>();
    analyzer->hang_for = images[0];
    TempDir root;
    auto options = until_empty();
    options.timeout = std::chrono::milliseconds(0);
    options.heartbeat_interval = std::chrono::milliseconds(100);
    eye::stop::reset();
    std::thread outage([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(400));
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()");
    });
    auto started = std::chrono::steady_clock::now();
    try {
        run_shared(db, analyzer, options, root.path);
        FAIL("the worker did not notice");
    } catch (const eye::Error& e) {
        CHECK(e.code() == eye::ExitCode::temp_fail);
    }
    outage.join();
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(4));
    analyzer->release();
    eye::stop::reset();
}

TEST_CASE("the heartbeat must come well inside --heartbeat-timeout even with --rescue-after 0") {
    eye::Config config;
    eye::tasks::WorkerOptions options;
    options.rescue_after = std::chrono::milliseconds(0);
    options.heartbeat_interval = std::chrono::minutes(1);
    CHECK_THROWS_AS(eye::tasks::validate_worker_options(config, options), eye::UsageError);
    options.heartbeat_timeout = std::chrono::minutes(5);
    CHECK_NOTHROW(eye::tasks::validate_worker_options(config, options));
    options.rescue_after = std::chrono::minutes(2);
    CHECK_THROWS_AS(eye::tasks::validate_worker_options(config, options), eye::UsageError);
}

TEST_CASE("a job for a row that is not an image completes without touching the row") {
    TestDatabase db;
    db.execute(
        "INSERT INTO media_files (media_type, file_path, processing_status, "
        "processing_completed_at, created_at, updated_at) "
        "VALUES ('video', 'clips/a.mp4', 'completed', '2026-01-01', now(), '2026-01-01')");
    db.execute("INSERT INTO eye.jobs (media_id, reason) SELECT id, 'by hand' FROM media_files");
    ScriptedAnalyzer analyzer;
    TempDir root;
    auto outcome = run_in_process(db, analyzer, until_empty(), root.path);
    CHECK(outcome.exit == eye::ExitCode::ok);
    CHECK(analyzer.calls().empty());
    CHECK(db.query_value("SELECT status FROM eye.jobs") == "completed");
    CHECK_THAT(db.query_value("SELECT last_error FROM eye.jobs"),
               Catch::Contains("'video', not an image"));
    CHECK(db.query_value("SELECT processing_status || ' ' || updated_at::date || ' ' || "
                         "processing_attempts FROM media_files") == "completed 2026-01-01 0");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
}

TEST_CASE("an error shown to the application's users names no path or address of this host") {
    using eye::analyzers::message_for_users;
    CHECK(message_for_users("cannot read '/srv/media/images/a.jpg': No such file or directory",
                            "/srv/media", "/app/shared/") ==
          "cannot read 'images/a.jpg': No such file or directory");
    CHECK(message_for_users("the AI service cannot find '/app/shared/images/a.jpg': Image not "
                            "found: /app/shared/images/a.jpg",
                            "/srv/media", "/app/shared/") ==
          "the AI service cannot find 'images/a.jpg': Image not found: images/a.jpg");
    CHECK(message_for_users("the AI service did not answer: POST "
                            "http://python-ai:8000/analyze-image: timed out after 10s",
                            "/srv/media", "/app/shared/") ==
          "the AI service did not answer: POST /analyze-image: timed out after 10s");
    CHECK(message_for_users("not a JPEG or PNG image (looks like text)", "/", "") ==
          "not a JPEG or PNG image (looks like text)");
}
