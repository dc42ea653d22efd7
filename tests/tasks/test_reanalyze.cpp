// eye-reanalyze: each priority picks exactly the right images from a crafted library, random is
// uniform, and bad input or a lost database leaves nothing half-done.

#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/tasks/reanalyze.hpp"
#include "support/database.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

using eye::testing::insert_media;
using eye::testing::MediaRow;
using eye::testing::TestDatabase;

namespace {

const double k_day = 24 * 60;

const eye::tasks::CurrentAnalyzer k_builtin{"builtin", "builtin-1", true};

std::vector<std::int64_t> pick(const TestDatabase& db, const std::string& priority, int batch,
                               long long max_attempts = 3,
                               const eye::tasks::CurrentAnalyzer& current = k_builtin) {
    eye::tasks::ReanalyzeOptions options;
    options.priority = priority;
    options.batch = batch;
    options.max_reanalyze_attempts = max_attempts;
    auto session = db.connect();
    eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
    std::vector<std::int64_t> ids;
    for (const auto& row : eye::tasks::select_for_reanalysis(tx, options, current)) {
        ids.push_back(row.id);
    }
    return ids;
}

std::set<std::int64_t> as_set(const std::vector<std::int64_t>& ids) {
    return {ids.begin(), ids.end()};
}

void queue_job(const TestDatabase& db, std::int64_t media, const std::string& status = "queued") {
    db.execute(
        fmt::format("INSERT INTO eye.jobs (media_id, status, worker_id, heartbeat_at) "
                    "VALUES ({}, '{}', 'w', now())",
                    media, status));
}

void analyzed_by(const TestDatabase& db, std::int64_t media, const std::string& analyzer,
                 const std::string& version, int failures = 0) {
    db.execute(
        fmt::format("INSERT INTO eye.media_state (media_id, analyzer, model_version, "
                    "status, analyzed_at, consecutive_failures) VALUES ({}, '{}', '{}', "
                    "'completed', now(), {})",
                    media, analyzer, version, failures));
}

MediaRow completed(double days_ago) {
    return MediaRow().with_status("completed").completed(days_ago * k_day).described("a photo");
}

// Pearson's chi-square of the counts against a uniform expectation; true when uniformity is
// not rejected at the 0.1 % level (normal approximation for many degrees of freedom).
bool looks_uniform(const std::map<std::int64_t, int>& counts, std::size_t bins, double expected) {
    double chi2 = 0;
    std::size_t seen = 0;
    for (const auto& [id, count] : counts) {
        chi2 += (count - expected) * (count - expected) / expected;
        ++seen;
    }
    chi2 += static_cast<double>(bins - seen) * expected;  // bins never hit
    double df = static_cast<double>(bins - 1);
    double critical = df + 3.09 * std::sqrt(2 * df);
    INFO("chi-square " << chi2 << " with " << df << " degrees of freedom, critical " << critical);
    return chi2 < critical;
}

}  // namespace

TEST_CASE(
    "--priority=oldest takes never-analyzed images first, then the least recently "
    "analyzed, ties by id") {
    TestDatabase db;
    auto never = insert_media(db, MediaRow().with_status("pending"));
    auto tie_first = insert_media(db, completed(10));
    auto tie_second = insert_media(db, completed(10));
    db.execute(
        fmt::format("UPDATE media_files SET processing_completed_at = (SELECT "
                    "processing_completed_at FROM media_files WHERE id = {}) WHERE id = {}",
                    tie_first, tie_second));
    auto recent = insert_media(db, completed(1));
    insert_media(db, MediaRow().with_status("failed"));                 // failed
    insert_media(db, completed(20).soft_deleted());                     // deleted
    insert_media(db, completed(30).of_type("video"));                   // another type
    queue_job(db, insert_media(db, completed(40)));                     // queued
    queue_job(db, insert_media(db, completed(50)), "running");          // running
    insert_media(db, MediaRow().with_status("processing").started(1));  // processing

    CHECK(pick(db, "oldest", 10) ==
          std::vector<std::int64_t>{never, tie_first, tie_second, recent});
    CHECK(pick(db, "oldest", 2) == std::vector<std::int64_t>{never, tie_first});
}

TEST_CASE(
    "--priority=failed takes failed images, oldest failure first, and skips images that "
    "keep failing") {
    TestDatabase db;
    auto older = insert_media(db, MediaRow().with_status("failed").updated(5 * k_day));
    auto newer = insert_media(db, MediaRow().with_status("failed").updated(2 * k_day));
    auto hopeless = insert_media(db, MediaRow().with_status("failed").updated(9 * k_day));
    db.execute(
        fmt::format("INSERT INTO eye.media_state (media_id, status, consecutive_failures) "
                    "VALUES ({}, 'failed', 3)",
                    hopeless));
    insert_media(db, MediaRow().with_status("failed").updated(8 * k_day).soft_deleted());
    queue_job(db, insert_media(db, MediaRow().with_status("failed").updated(7 * k_day)));
    insert_media(db, MediaRow().with_status("failed").updated(6 * k_day).of_type("video"));
    insert_media(db, completed(30));

    CHECK(pick(db, "failed", 10) == std::vector<std::int64_t>{older, newer});
    // with more attempts allowed, the hopeless one gets another chance, oldest first
    CHECK(pick(db, "failed", 10, 4) == std::vector<std::int64_t>{hopeless, older, newer});
}

TEST_CASE(
    "--priority=outdated takes completed images analyzed by another analyzer or model, "
    "or never by eye") {
    TestDatabase db;
    auto current = insert_media(db, completed(3));
    analyzed_by(db, current, "builtin", "builtin-1");
    auto other_analyzer = insert_media(db, completed(3));
    analyzed_by(db, other_analyzer, "avinash", "florence+clip");
    auto old_model = insert_media(db, completed(3));
    analyzed_by(db, old_model, "builtin", "builtin-0");
    auto by_upstream = insert_media(db, completed(3));
    auto pending = insert_media(db, MediaRow().with_status("pending"));
    auto deleted = insert_media(db, completed(3).soft_deleted());
    analyzed_by(db, deleted, "avinash", "old");
    auto queued = insert_media(db, completed(3));
    analyzed_by(db, queued, "avinash", "old");
    queue_job(db, queued);
    auto video = insert_media(db, completed(3).of_type("video"));
    analyzed_by(db, video, "avinash", "old");

    CHECK(as_set(pick(db, "outdated", 10)) ==
          std::set<std::int64_t>{other_analyzer, old_model, by_upstream});
    CHECK(pick(db, "outdated", 2).size() == 2);
    (void)pending;
}

std::vector<std::int64_t> pick_outdated(const TestDatabase& db, int batch, bool remember) {
    eye::tasks::ReanalyzeOptions options;
    options.priority = "outdated";
    options.batch = batch;
    options.walk_budget = std::chrono::seconds(60);  // the walk ends by its own rules here
    auto session = db.connect();
    eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
    std::vector<std::int64_t> ids;
    for (const auto& row : eye::tasks::select_for_reanalysis(tx, options, k_builtin, remember)) {
        ids.push_back(row.id);
    }
    return ids;
}

TEST_CASE(
    "--priority=outdated walks on from where the last run stopped, wraps around once, "
    "and never picks an image twice") {
    TestDatabase db;
    std::vector<std::int64_t> upstream;
    for (int i = 0; i < 4; ++i) {
        upstream.push_back(insert_media(db, completed(3)));
    }
    CHECK(pick_outdated(db, 2, true) == std::vector<std::int64_t>{upstream[0], upstream[1]});
    // the next run starts after the second and wraps around to the first two
    CHECK(pick_outdated(db, 100, false) ==
          std::vector<std::int64_t>{upstream[2], upstream[3], upstream[0], upstream[1]});
    CHECK(pick_outdated(db, 3, true) ==
          std::vector<std::int64_t>{upstream[2], upstream[3], upstream[0]});
    CHECK(pick_outdated(db, 1, false) == std::vector<std::int64_t>{upstream[1]});
}

TEST_CASE("--priority=outdated finds images eye never analyzed beyond its first window") {
    TestDatabase db;
    // 12,000 completed images; eye analyzed the first 11,000 with the current model
    db.execute(
        "INSERT INTO media_files (media_type, file_path, processing_status, description, "
        "processing_completed_at, created_at, updated_at) "
        "SELECT 'image', 'p' || g, 'completed', 'a photo', now(), now(), now() "
        "FROM generate_series(1, 12000) g");
    db.execute(
        "INSERT INTO eye.media_state (media_id, analyzer, model_version, status, analyzed_at) "
        "SELECT id, 'builtin', 'builtin-1', 'completed', now() FROM media_files "
        "ORDER BY id LIMIT 11000");
    auto first_upstream = std::stoll(db.query_value("SELECT min(id) + 11000 FROM media_files"));

    auto dry = pick_outdated(db, 25, false);
    REQUIRE(dry.size() == 25);
    CHECK(dry.front() == first_upstream);
    CHECK(pick_outdated(db, 25, true) == dry);
    auto next = pick_outdated(db, 25, true);
    REQUIRE(next.size() == 25);
    CHECK(next.front() == first_upstream + 25);
}

TEST_CASE(
    "--priority=missing takes pending images and completed ones without an embedding or "
    "a description") {
    TestDatabase db;
    auto pending = insert_media(db, MediaRow().with_status("pending"));
    auto no_embedding = insert_media(db, completed(1));
    auto no_description = insert_media(db, MediaRow().with_status("completed").completed(60));
    auto complete = insert_media(db, completed(1));
    auto empty_description = insert_media(db, MediaRow().with_status("completed").described(""));
    db.execute(
        fmt::format("UPDATE media_files SET embedding = array_fill(0.5::real, "
                    "ARRAY[512]){} WHERE id IN ({}, {}, {})",
                    eye::testing::server_has_pgvector() ? "::vector" : "", no_description, complete,
                    empty_description));
    insert_media(db, MediaRow().with_status("failed"));
    insert_media(db, MediaRow().with_status("pending").of_type("video"));
    insert_media(db, MediaRow().with_status("pending").soft_deleted());
    queue_job(db, insert_media(db, MediaRow().with_status("pending")));

    CHECK(pick(db, "missing", 10) ==
          std::vector<std::int64_t>{pending, no_embedding, no_description, empty_description});
}

TEST_CASE("--priority=missing does not ask again for what the current analyzer cannot give") {
    TestDatabase db;
    auto pending = insert_media(db, MediaRow().with_status("pending"));
    // four images the ollama analyzer without an embed model analyzed a moment ago
    std::vector<std::int64_t> by_ollama;
    for (int i = 0; i < 4; ++i) {
        by_ollama.push_back(insert_media(db, completed(0.01)));
        analyzed_by(db, by_ollama.back(), "ollama", "llava:latest");
    }
    // an image an older model left without a description is missing one, as ever
    auto by_old_model = insert_media(db, MediaRow().with_status("completed").completed(60));
    analyzed_by(db, by_old_model, "ollama", "llava:7b");
    // whose last analysis by this analyzer failed: worth another try
    auto failed_last = insert_media(db, MediaRow().with_status("completed").completed(60));
    analyzed_by(db, failed_last, "ollama", "llava:latest");
    db.execute(fmt::format("UPDATE eye.media_state SET status = 'failed' WHERE media_id = {}",
                           failed_last));
    const eye::tasks::CurrentAnalyzer ollama{"ollama", "llava:latest", false};
    CHECK(pick(db, "missing", 10, 3, ollama) ==
          std::vector<std::int64_t>{pending, by_old_model, failed_last});
    // an analyzer that gives embeddings still asks for the four: it would give them one
    CHECK(pick(db, "missing", 10, 3, k_builtin).size() == 7);
    // the AI service answered one of them without an embedding (an SVG): not again
    db.execute(
        fmt::format("UPDATE eye.media_state SET analyzer = 'builtin', model_version = "
                    "'builtin-1' WHERE media_id = {}",
                    by_ollama[0]));
    CHECK(pick(db, "missing", 10, 3, k_builtin).size() == 6);
}

TEST_CASE("--priority=random picks only the rows oldest would consider") {
    TestDatabase db;
    std::set<std::int64_t> candidates;
    for (int i = 0; i < 20; ++i) {
        candidates.insert(insert_media(db, completed(i)));
        insert_media(db, MediaRow().with_status("failed"));
        insert_media(db, completed(i).soft_deleted());
        insert_media(db, completed(i).of_type("video"));
        queue_job(db, insert_media(db, completed(i)));
    }
    std::set<std::int64_t> seen;
    for (int run = 0; run < 200; ++run) {
        auto ids = pick(db, "random", 5);
        REQUIRE(ids.size() == 5);
        CHECK(as_set(ids).size() == 5);
        for (auto id : ids) {
            CHECK(candidates.count(id) == 1);
            seen.insert(id);
        }
    }
    CHECK(seen == candidates);
}

TEST_CASE("--priority=random is uniform: chi-square over 2000 batches of 25 from 10,000 rows") {
    TestDatabase db;
    // 10,000 candidates with non-candidates between them, so the ids have gaps
    db.execute(
        "INSERT INTO media_files (media_type, file_path, processing_status, "
        "processing_completed_at, created_at, updated_at, deleted_at) "
        "SELECT CASE WHEN g % 3 = 1 THEN 'video' ELSE 'image' END, 'p' || g, "
        "       CASE WHEN g % 5 = 0 THEN 'pending' ELSE 'completed' END, now(), now(), "
        "       now(), CASE WHEN g % 3 = 2 AND g % 2 = 0 THEN now() END "
        "FROM generate_series(1, 24000) g");
    db.execute(
        "DELETE FROM media_files WHERE id IN (SELECT id FROM media_files WHERE "
        "media_type = 'image' AND deleted_at IS NULL ORDER BY id DESC OFFSET 10000)");
    db.execute("ANALYZE media_files");
    REQUIRE(db.query_value("SELECT count(*) FROM media_files WHERE media_type = 'image' AND "
                           "deleted_at IS NULL") == "10000");

    std::map<std::int64_t, int> counts;
    for (int run = 0; run < 2000; ++run) {
        for (auto id : pick(db, "random", 25)) {
            ++counts[id];
        }
    }
    std::int64_t total = 0;
    for (auto& [id, count] : counts) {
        total += count;
    }
    CHECK(total == 2000 * 25);
    CHECK(looks_uniform(counts, 10000, 5.0));

    // and the same test does reject a selection that is not uniform
    std::map<std::int64_t, int> biased;
    for (int run = 0; run < 2000; ++run) {
        for (auto id : pick(db, "oldest", 25)) {
            ++biased[id];
        }
    }
    CHECK_FALSE(looks_uniform(biased, 10000, 5.0));
}

TEST_CASE("eye-reanalyze queues the batch in one go, behind new images, and reports it") {
    TestDatabase db;
    for (int i = 0; i < 5; ++i) {
        insert_media(db, completed(i + 1));
    }
    eye::testing::Environment env{{"EYE_DATABASE_URL", db.url()}};
    auto dry = eye::testing::run("eye-reanalyze", {"--batch=3", "--dry-run"}, env);
    CHECK(dry.exit_code == 0);
    CHECK_THAT(dry.out, Catch::Contains("would queue 3 image(s)"));
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "0");

    auto result = eye::testing::run("eye-reanalyze", {"--batch=3", "--format=json"}, env);
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("\"selected\":3,\"queued\":3,\"already_queued\":0"));
    CHECK(db.query_value("SELECT count(*) || ' ' || min(priority) || ' ' || min(reason) FROM "
                         "eye.jobs") == "3 200 reanalyze:oldest");
    // the next batch continues with the images not queued yet
    auto next = eye::testing::run("eye", {"ai:auto-reanalyze", "--batch=3"}, env);
    CHECK(next.exit_code == 0);
    CHECK(db.query_value("SELECT count(DISTINCT media_id) FROM eye.jobs") == "5");
}

TEST_CASE(
    "eye-reanalyze says how many images --max-reanalyze-attempts left out, and the way "
    "out") {
    TestDatabase db;
    std::vector<std::int64_t> hopeless;
    for (int i = 0; i < 5; ++i) {
        hopeless.push_back(insert_media(db, MediaRow().with_status("failed").updated(k_day)));
        db.execute(
            fmt::format("INSERT INTO eye.media_state (media_id, status, consecutive_failures) "
                        "VALUES ({}, 'failed', 3)",
                        hopeless.back()));
    }
    // one that failed once is still picked; a hopeless video is not this run's business
    auto once = insert_media(db, MediaRow().with_status("failed").updated(k_day));
    db.execute(
        fmt::format("INSERT INTO eye.media_state (media_id, status, consecutive_failures) "
                    "VALUES ({}, 'failed', 1)",
                    once));
    auto video = insert_media(db, MediaRow().with_status("failed").of_type("video"));
    db.execute(
        fmt::format("INSERT INTO eye.media_state (media_id, status, consecutive_failures) "
                    "VALUES ({}, 'failed', 5)",
                    video));
    eye::testing::Environment env{{"EYE_DATABASE_URL", db.url()}};
    auto dry = eye::testing::run("eye-reanalyze", {"--priority=failed", "--dry-run"}, env);
    INFO(dry.err);
    CHECK(dry.exit_code == 0);
    CHECK_THAT(dry.out, Catch::Contains("would queue 1 image(s) (priority failed)\n"
                                        "left out 5 images whose last 3 analyses all failed "
                                        "(--max-reanalyze-attempts=3); 'eye queue:failed' shows "
                                        "why, 'eye queue:retry --media ID' (or 'all') tries them "
                                        "again\n"));
    auto json = eye::testing::run("eye-reanalyze", {"--priority=failed", "--format=json"}, env);
    CHECK_THAT(json.out, Catch::Contains("\"left_out\":5,\"max_reanalyze_attempts\":3"));
    // the other priorities count what they would have considered
    auto oldest = eye::testing::run("eye-reanalyze", {"--dry-run"}, env);
    CHECK_THAT(oldest.out, !Catch::Contains("left out"));
    // allowed more attempts, none is left out (the image that failed once was queued above)
    auto more = eye::testing::run(
        "eye-reanalyze", {"--priority=failed", "--dry-run", "--max-reanalyze-attempts=4"}, env);
    CHECK_THAT(more.out, Catch::Contains("would queue 5 image(s) (priority failed)\n"));
    CHECK_THAT(more.out, !Catch::Contains("left out"));
}

TEST_CASE("eye-reanalyze refuses bad input with exit 64 and queues nothing") {
    TestDatabase db;
    insert_media(db, completed(1));
    eye::testing::Environment env{{"EYE_DATABASE_URL", db.url()}};
    for (const auto& args : std::vector<std::vector<std::string>>{{"--batch=0"},
                                                                  {"--batch=-5"},
                                                                  {"--batch=lots"},
                                                                  {"--priority=bogus"},
                                                                  {"--media-type"},
                                                                  {"--media-type=video"}}) {
        auto result = eye::testing::run("eye-reanalyze", args, env);
        INFO(args[0] << ": " << result.err);
        CHECK(result.exit_code == 64);
        CHECK_THAT(result.err, Catch::Contains("hint:"));
    }
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "0");
    CHECK(db.query_value("SELECT count(*) FROM eye.runs") == "0");
}

TEST_CASE("a database that goes away mid-run: exit 75 and nothing half-queued") {
    TestDatabase db;
    for (int i = 0; i < 5; ++i) {
        insert_media(db, completed(i + 1));
    }
    // hold the queue, so the run waits inside its enqueue, then cut its connection there
    auto holder = db.connect();
    eye::db::Transaction hold(holder);
    hold.run_sql("lock", "LOCK TABLE eye.jobs IN EXCLUSIVE MODE");
    eye::testing::Process run("eye-reanalyze", {"--batch=5"}, {{"EYE_DATABASE_URL", db.url()}});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (db.query_value("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                          "'eye-reanalyze%' AND wait_event_type = 'Lock'") != "1") {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    db.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name "
        "LIKE 'eye-reanalyze%' AND datname = current_database()");
    auto result = run.wait();
    hold.commit();
    CHECK(result.exit_code == 75);
    CHECK_THAT(result.err, Catch::Contains("lost the database connection"));
    CHECK_THAT(result.err, Catch::Contains("hint:"));
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "0");
}

TEST_CASE("a queueing that fails leaves the outdated walk where it was") {
    TestDatabase db;
    std::vector<std::int64_t> upstream;
    for (int i = 0; i < 5; ++i) {
        upstream.push_back(insert_media(db, completed(i + 1)));  // analyzed before eye
    }
    db.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'the queue is closed'; END $$; "
        "CREATE TRIGGER refuse BEFORE INSERT ON eye.jobs FOR EACH ROW EXECUTE FUNCTION refuse()");
    eye::testing::Environment env{{"EYE_DATABASE_URL", db.url()}};
    auto failed = eye::testing::run("eye-reanalyze", {"--priority=outdated", "--batch=3"}, env);
    CHECK(failed.exit_code == 70);
    CHECK(db.query_value("SELECT count(*) FROM eye.cursors") == "0");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "0");
    db.execute("DROP TRIGGER refuse ON eye.jobs");
    auto result = eye::testing::run("eye-reanalyze", {"--priority=outdated", "--batch=3"}, env);
    CHECK(result.exit_code == 0);
    CHECK(
        db.query_value("SELECT string_agg(media_id::text, ',' ORDER BY media_id) FROM eye.jobs") ==
        fmt::format("{},{},{}", upstream[0], upstream[1], upstream[2]));
}
