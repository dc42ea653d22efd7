// media:show and media:list end to end: the built eye against a real database, eye's own
// media_files and Avinash-EYE's.

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/fixtures.hpp"
#include "support/media.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::insert_job;
using eye::testing::insert_media;
using eye::testing::JobRow;
using eye::testing::MediaRow;
using eye::testing::TempDir;
using eye::testing::TestDatabase;
namespace fs = std::filesystem;

namespace {

eye::testing::ProcessResult eye_run(const TestDatabase& db, const std::vector<std::string>& args,
                                    const std::string& media_root = "/nonexistent-media-root") {
    return eye::testing::run("eye", args,
                             {{"EYE_DATABASE_URL", db.url()}, {"EYE_MEDIA_ROOT", media_root}});
}

rapidjson::Document parsed(const eye::testing::ProcessResult& result) {
    auto document = eye::json::parse(result.out);
    if (!document) {
        FAIL("not JSON: " << result.out << "\nstderr: " << result.err);
    }
    return std::move(*document);
}

std::string str(const rapidjson::Value& value) {
    return value.IsString() ? std::string(value.GetString()) : std::string("<not a string>");
}

// The ids of a media:list --format=json report, in its order.
std::vector<std::int64_t> listed_ids(const rapidjson::Document& report) {
    std::vector<std::int64_t> ids;
    for (const auto& image : report["images"].GetArray()) {
        ids.push_back(image["id"].GetInt64());
    }
    return ids;
}

void record_analysis(const TestDatabase& db, std::int64_t media, const std::string& analyzer,
                     const std::string& model_version) {
    db.execute(fmt::format(
        "INSERT INTO eye.media_state (media_id, analyzer, model_version, status, analyzed_at, "
        "predicted_tags) VALUES ({}, '{}', '{}', 'completed', now() - interval '1 hour', "
        "'[{{\"tag\": \"cat\", \"confidence\": 0.9}}]')",
        media, analyzer, model_version));
}

std::int64_t failed_job(const TestDatabase& db, std::int64_t media, const std::string& error) {
    return std::stoll(db.query_value(
        fmt::format("INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, reason, error, "
                    "created_at, failed_at) VALUES (4242, 'analyze', {}, 3, 'import', '{}', "
                    "now() - interval '2 hours', now() - interval '1 hour') RETURNING id",
                    media, error)));
}

}  // namespace

TEST_CASE("media:show finds an analyzed image by id and by path, with its analysis and jobs") {
    TestDatabase db;
    TempDir root;
    fs::create_directories(root.path / "photos");
    auto cat = insert_media(db, MediaRow().with_status("completed").at("photos/cat.jpg"));
    insert_media(db, MediaRow().with_status("completed").at("photos/dog.jpg"));
    db.execute(
        fmt::format("UPDATE media_files SET width = 640, height = 480, mime_type = 'image/jpeg', "
                    "description = 'a grey cat on a sofa', meta_tags = '[\"cat\", \"indoor\"]', "
                    "processing_completed_at = now()::timestamp WHERE id = {}",
                    cat));
    record_analysis(db, cat, "builtin", "builtin-1+tags-7");
    JobRow done(cat);
    done.status = "completed";
    auto old_job = insert_job(db, done);
    db.execute(fmt::format(
        "UPDATE eye.jobs SET reason = 'import', finished_at = now() - interval '1 hour', "
        "attempts = 1 WHERE id = {}",
        old_job));
    JobRow again(cat);
    auto new_job = insert_job(db, again);

    auto text = eye_run(db, {"media:show", std::to_string(cat)}, root.str());
    INFO(text.err);
    REQUIRE(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::Matches("(.|\n)*file_path: +photos/cat.jpg\n(.|\n)*"));
    CHECK_THAT(text.out, Catch::Matches("(.|\n)*width: +640\n(.|\n)*"));
    CHECK_THAT(text.out, Catch::Matches("(.|\n)*analyzer: +builtin\n(.|\n)*"));
    CHECK_THAT(text.out, Catch::Matches("(.|\n)*model_version: +builtin-1\\+tags-7\n(.|\n)*"));
    CHECK_THAT(text.out, Catch::Contains("a grey cat on a sofa"));
    CHECK_THAT(text.out, !Catch::Contains("dog.jpg"));
    // the job history, newest first
    auto jobs_at = text.out.find("jobs (eye.jobs");
    REQUIRE(jobs_at != std::string::npos);
    auto new_at = text.out.find(fmt::format("  {} ", new_job), jobs_at);
    auto old_at = text.out.find(fmt::format("  {} ", old_job), jobs_at);
    CHECK(new_at < old_at);
    CHECK(old_at != std::string::npos);
    CHECK_THAT(text.out, Catch::Contains("completed  1/3"));

    auto json = eye_run(db, {"media:show", std::to_string(cat), "--format=json"}, root.str());
    REQUIRE(json.exit_code == 0);
    auto report = parsed(json);
    const auto& media = report["media"];
    CHECK(media["id"].GetInt64() == cat);
    CHECK(str(media["file_path"]) == "photos/cat.jpg");
    CHECK(media["width"].GetInt64() == 640);
    CHECK(media["meta_tags"].IsArray());
    CHECK(media["meta_tags"].Size() == 2);
    CHECK(media["processing_error"].IsNull());
    CHECK(media["embedding_dimensions"].IsNull());
    CHECK(media["deleted_at"].IsNull());
    // eye's own media_files has no processing_stage: the name is kept, the value null
    CHECK(media.HasMember("processing_stage"));
    CHECK(media["processing_stage"].IsNull());
    CHECK(str(report["analysis"]["analyzer"]) == "builtin");
    CHECK(str(report["analysis"]["model_version"]) == "builtin-1+tags-7");
    CHECK(str(report["analysis"]["predicted_tags"][0]["tag"]) == "cat");
    REQUIRE(report["jobs"].Size() == 2);
    CHECK(report["jobs"][0]["id"].GetInt64() == new_job);
    CHECK(str(report["jobs"][0]["status"]) == "queued");
    CHECK(report["jobs"][0]["finished_at"].IsNull());
    CHECK(report["jobs"][1]["id"].GetInt64() == old_job);
    CHECK(str(report["jobs"][1]["reason"]) == "import");
    CHECK(report["jobs"][1]["finished_at"].IsString());
    CHECK(report["failed_jobs"].Size() == 0);
    CHECK(report["more_jobs"].GetBool() == false);

    // a path as stored, normalised, absolute under the root, and through a link to the root
    fs::create_directory_symlink(root.path, root.path.string() + "-link");
    struct Removal {
        fs::path link;
        ~Removal() {
            std::error_code ignored;
            fs::remove(link, ignored);
        }
    } removal{root.path.string() + "-link"};
    for (const auto& [argument, media_root] : std::vector<std::pair<std::string, std::string>>{
             {"photos/cat.jpg", root.str()},
             {"./photos//cat.jpg", root.str()},
             {(root.path / "photos/cat.jpg").string(), root.str()},
             {(root.path / "photos/cat.jpg").string(), root.str() + "-link"},
             {root.str() + "-link/photos/cat.jpg", root.str()}}) {
        auto by_path = eye_run(db, {"media:show", argument, "--format=json"}, media_root);
        INFO(argument << " with EYE_MEDIA_ROOT " << media_root << ": " << by_path.err);
        REQUIRE(by_path.exit_code == 0);
        CHECK(parsed(by_path)["media"]["id"].GetInt64() == cat);
    }
}

TEST_CASE("media:show of a failed image shows its error and its failed job") {
    TestDatabase db;
    auto broken = insert_media(db, MediaRow().with_status("failed").at("broken.png"));
    db.execute(
        fmt::format("UPDATE media_files SET processing_error = 'not an image: truncated PNG', "
                    "processing_attempts = 3 WHERE id = {}",
                    broken));
    db.execute(fmt::format(
        "INSERT INTO eye.media_state (media_id, status, failed_at, consecutive_failures, "
        "last_error) VALUES ({}, 'failed', now(), 3, 'not an image: truncated PNG')",
        broken));
    auto failed = failed_job(db, broken, "not an image: truncated PNG");

    auto text = eye_run(db, {"media:show", "broken.png"});
    INFO(text.err);
    REQUIRE(text.exit_code == 0);
    CHECK_THAT(text.out,
               Catch::Matches("(.|\n)*processing_error: +not an image: truncated PNG\n(.|\n)*"));
    CHECK_THAT(text.out, Catch::Matches("(.|\n)*consecutive_failures: +3\n(.|\n)*"));
    auto failed_at = text.out.find("failed jobs (eye.failed_jobs");
    REQUIRE(failed_at != std::string::npos);
    CHECK(text.out.find(fmt::format("  {} ", failed), failed_at) != std::string::npos);
    CHECK(text.out.find("truncated PNG", failed_at) != std::string::npos);

    auto report = parsed(eye_run(db, {"media:show", std::to_string(broken), "--format=json"}));
    CHECK(str(report["media"]["processing_status"]) == "failed");
    CHECK(str(report["media"]["processing_error"]) == "not an image: truncated PNG");
    CHECK(report["media"]["processing_attempts"].GetInt64() == 3);
    CHECK(str(report["analysis"]["status"]) == "failed");
    CHECK(report["analysis"]["analyzer"].IsNull());
    CHECK(report["analysis"]["consecutive_failures"].GetInt64() == 3);
    REQUIRE(report["failed_jobs"].Size() == 1);
    CHECK(report["failed_jobs"][0]["id"].GetInt64() == failed);
    CHECK(report["failed_jobs"][0]["job_id"].GetInt64() == 4242);
    CHECK(str(report["failed_jobs"][0]["error"]) == "not an image: truncated PNG");
    CHECK(report["jobs"].Size() == 0);
}

TEST_CASE("media:show of an unknown id or path exits 1 and says what it looked for") {
    TestDatabase db;
    auto gone = insert_media(db, MediaRow().with_status("completed").at("gone.jpg").soft_deleted());

    auto by_id = eye_run(db, {"media:show", "999999"});
    CHECK(by_id.exit_code == 1);
    CHECK(by_id.out.empty());
    CHECK_THAT(by_id.err, Catch::Contains("no image with id 999999; hint:"));
    CHECK_THAT(by_id.err, Catch::Contains("eye media:list"));

    auto by_path = eye_run(db, {"media:show", "holiday/beach.jpg"}, "/srv/media");
    INFO(by_path.err);
    CHECK(by_path.exit_code == 1);
    CHECK_THAT(by_path.err, Catch::Contains("no image at 'holiday/beach.jpg'"));
    CHECK_THAT(by_path.err, Catch::Contains("EYE_MEDIA_ROOT ('/srv/media')"));

    // a soft-deleted image: not by its path, which names live images, but by its id
    auto deleted_path = eye_run(db, {"media:show", "gone.jpg"});
    CHECK(deleted_path.exit_code == 1);
    CHECK_THAT(deleted_path.err, Catch::Contains("no image at 'gone.jpg'"));
    auto deleted_id = eye_run(db, {"media:show", std::to_string(gone), "--format=json"});
    REQUIRE(deleted_id.exit_code == 0);
    CHECK(parsed(deleted_id)["media"]["deleted_at"].IsString());

    auto huge = eye_run(db, {"media:show", "99999999999999999999999"});
    CHECK(huge.exit_code == 64);
    CHECK_THAT(huge.err, Catch::Contains("is not an image id"));
    auto empty = eye_run(db, {"media:show", ""});
    CHECK(empty.exit_code == 64);
    CHECK_THAT(empty.err, Catch::Contains("it is empty"));
}

TEST_CASE("media:list lists one status, most recent first, and says when more exist") {
    TestDatabase db;
    const std::string long_error = "the AI service failed: " + std::string(150, 'x') + " END";
    auto failed_old =
        insert_media(db, MediaRow().with_status("failed").at("f/old.jpg").updated(300));
    auto failed_new = insert_media(db, MediaRow().with_status("failed").at("f/new.jpg").updated(5));
    auto failed_mid =
        insert_media(db, MediaRow().with_status("failed").at("f/mid.jpg").updated(60));
    db.execute(fmt::format("UPDATE media_files SET processing_error = '{}' WHERE id = {}",
                           long_error, failed_new));
    auto pending_a = insert_media(db, MediaRow().at("p/a.jpg"));
    auto pending_b = insert_media(db, MediaRow().at("p/b.jpg"));
    auto busy_early = insert_media(db, eye::testing::processing(30).at("r/early.jpg"));
    auto busy_late = insert_media(db, eye::testing::processing(2).at("r/late.jpg"));
    std::vector<std::int64_t> completed;
    for (int i = 0; i < 4; ++i) {
        completed.push_back(
            insert_media(db, MediaRow().with_status("completed").at(fmt::format("c/{}.jpg", i))));
    }
    record_analysis(db, completed[3], "avinash", "florence+clip");
    insert_media(db, MediaRow().with_status("completed").at("c/deleted.jpg").soft_deleted());
    insert_media(db, MediaRow().with_status("completed").at("c/clip.mp4").of_type("video"));

    auto failed = parsed(eye_run(db, {"media:list", "--status=failed", "--format=json"}));
    CHECK(listed_ids(failed) == std::vector<std::int64_t>{failed_new, failed_mid, failed_old});
    CHECK(failed["shown"].GetInt64() == 3);
    CHECK(failed["more"].GetBool() == false);
    CHECK(str(failed["images"][0]["processing_error"]) == long_error);
    CHECK(str(failed["images"][0]["status"]) == "failed");
    CHECK(str(failed["images"][0]["file_path"]) == "f/new.jpg");
    CHECK(failed["images"][0]["analyzer"].IsNull());
    CHECK(failed["images"][0]["updated_at"].IsString());

    auto failed_text = eye_run(db, {"media:list", "--status=failed"});
    REQUIRE(failed_text.exit_code == 0);
    CHECK_THAT(failed_text.out, Catch::Contains("f/new.jpg  error: the AI service failed: xxx"));
    CHECK_THAT(failed_text.out, Catch::Contains("x..."));
    CHECK_THAT(failed_text.out, !Catch::Contains("END"));
    CHECK_THAT(failed_text.out, Catch::EndsWith("\n3 failed images\n"));

    auto newest = eye_run(db, {"media:list", "--status=completed", "--limit=2"});
    REQUIRE(newest.exit_code == 0);
    CHECK_THAT(newest.out, Catch::Contains("avinash/florence+clip"));
    CHECK(newest.out.find("c/3.jpg") < newest.out.find("c/2.jpg"));
    CHECK_THAT(newest.out, !Catch::Contains("c/1.jpg"));
    CHECK_THAT(newest.out,
               Catch::EndsWith("showing 2 completed images (more exist; --limit to see more)\n"));
    auto limited =
        parsed(eye_run(db, {"media:list", "--status=completed", "--limit=2", "--format=json"}));
    CHECK(listed_ids(limited) == std::vector<std::int64_t>{completed[3], completed[2]});
    CHECK(limited["more"].GetBool() == true);
    CHECK(str(limited["images"][0]["analyzer"]) == "avinash");
    CHECK(str(limited["images"][0]["model_version"]) == "florence+clip");
    auto exact =
        parsed(eye_run(db, {"media:list", "--status=completed", "--limit=4", "--format=json"}));
    CHECK(exact["shown"].GetInt64() == 4);
    CHECK(exact["more"].GetBool() == false);

    auto pending = parsed(eye_run(db, {"media:list", "--status=pending", "--format=json"}));
    CHECK(listed_ids(pending) == std::vector<std::int64_t>{pending_b, pending_a});
    auto busy = parsed(eye_run(db, {"media:list", "--status=processing", "--format=json"}));
    CHECK(listed_ids(busy) == std::vector<std::int64_t>{busy_late, busy_early});

    // all: every live image, newest first; not the deleted one, not the video
    auto all = parsed(eye_run(db, {"media:list", "--format=json", "--limit=100"}));
    CHECK(all["shown"].GetInt64() == 11);
    CHECK(all["images"][0]["id"].GetInt64() == completed[3]);
    auto all_text = eye_run(db, {"media:list"});
    CHECK_THAT(all_text.out, Catch::EndsWith("\n11 images\n"));
    CHECK_THAT(all_text.out, !Catch::Contains("deleted.jpg"));
    CHECK_THAT(all_text.out, !Catch::Contains("clip.mp4"));

    db.execute(
        "UPDATE media_files SET processing_status = 'completed' WHERE "
        "processing_status = 'processing'");
    auto none = eye_run(db, {"media:list", "--status=processing"});
    CHECK(none.exit_code == 0);
    CHECK(none.out == "no processing images\n");
}

TEST_CASE("media:list refuses a status it does not know and a limit out of range") {
    TestDatabase db;
    auto bad = eye_run(db, {"media:list", "--status=broken"});
    CHECK(bad.exit_code == 64);
    CHECK_THAT(bad.err, Catch::Contains("--status"));
    CHECK(bad.out.empty());
    auto zero = eye_run(db, {"media:list", "--limit=0"});
    CHECK(zero.exit_code == 64);
    auto too_many = eye_run(db, {"media:list", "--limit=10001"});
    CHECK(too_many.exit_code == 64);
}

TEST_CASE("media:list and media:show read Avinash-EYE's own media_files") {
    TestDatabase db(false);
    eye::testing::make_upstream(db);
    auto upload = std::stoll(db.query_value(
        "INSERT INTO media_files (user_id, media_type, file_path, original_filename, mime_type, "
        "file_size, processing_status, processing_stage, camera_make, embedding, created_at, "
        "updated_at) VALUES (1, 'image', 'public/uploads/tree.jpg', 'tree.jpg', 'image/jpeg', "
        "2048, 'pending', 'analyzing', 'FUJIFILM', array_fill(0.5::real, ARRAY[512])::vector, "
        "now(), now()) RETURNING id"));
    auto failure = std::stoll(db.query_value(
        "INSERT INTO media_files (user_id, media_type, file_path, processing_status, "
        "processing_error, created_at, updated_at) VALUES (1, 'image', 'public/uploads/x.gif', "
        "'failed', 'Python AI service error', now(), now()) RETURNING id"));

    auto pending = parsed(eye_run(db, {"media:list", "--status=pending", "--format=json"}));
    CHECK(listed_ids(pending) == std::vector<std::int64_t>{upload});
    auto failed = parsed(eye_run(db, {"media:list", "--status=failed", "--format=json"}));
    CHECK(listed_ids(failed) == std::vector<std::int64_t>{failure});
    CHECK(str(failed["images"][0]["processing_error"]) == "Python AI service error");

    auto shown = eye_run(db, {"media:show", "public/uploads/tree.jpg", "--format=json"});
    INFO(shown.err);
    REQUIRE(shown.exit_code == 0);
    auto report = parsed(shown);
    CHECK(report["media"]["id"].GetInt64() == upload);
    CHECK(str(report["media"]["processing_stage"]) == "analyzing");
    CHECK(str(report["media"]["original_filename"]) == "tree.jpg");
    CHECK(str(report["media"]["camera_make"]) == "FUJIFILM");
    CHECK(report["media"]["embedding_dimensions"].GetInt64() == 512);
    CHECK(report["analysis"].IsNull());

    auto text = eye_run(db, {"media:show", std::to_string(upload)});
    REQUIRE(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::Matches("(.|\n)*processing_stage: +analyzing\n(.|\n)*"));
    CHECK_THAT(text.out, Catch::Matches("(.|\n)*embedding: +512 values\n(.|\n)*"));
    CHECK_THAT(text.out, Catch::Matches("(.|\n)*camera_make: +FUJIFILM\n(.|\n)*"));
    CHECK_THAT(text.out, !Catch::Contains("lens_model"));
}

TEST_CASE("media:show leaves out the columns a least-privilege role may not read") {
    eye::testing::TestRole role(fmt::format("eye_media_show_{}", getpid()), "show-pw-42");
    TestDatabase db;
    auto granted = eye::testing::run(std::string(EYE_SOURCE_DIR) + "/scripts/grant",
                                     {role.name(), "--database-url", db.url()});
    INFO(granted.err);
    REQUIRE(granted.exit_code == 0);
    auto image = insert_media(db, MediaRow().with_status("completed").at("a/b.jpg"));
    db.execute(fmt::format(
        "UPDATE media_files SET original_filename = 'IMG_0001.JPG', width = 10 WHERE id = {}",
        image));

    eye::testing::Environment env{{"EYE_DATABASE_URL", role.conninfo(db)}};
    auto json = eye::testing::run("eye", {"media:show", "a/b.jpg", "--format=json"}, env);
    INFO(json.err);
    REQUIRE(json.exit_code == 0);
    auto report = parsed(json);
    CHECK(report["media"]["width"].GetInt64() == 10);
    CHECK(report["media"]["original_filename"].IsNull());
    auto text = eye::testing::run("eye", {"media:show", std::to_string(image)}, env);
    REQUIRE(text.exit_code == 0);
    CHECK_THAT(text.out, !Catch::Contains("original_filename"));
    CHECK_THAT(text.out, !Catch::Contains("IMG_0001"));
    auto listed = eye::testing::run("eye", {"media:list", "--format=json"}, env);
    REQUIRE(listed.exit_code == 0);
    CHECK(listed_ids(parsed(listed)) == std::vector<std::int64_t>{image});
}

TEST_CASE("media:list and media:show read the rows they show, not the table") {
    TestDatabase db;
    // the rarer statuses at the lowest ids, behind 2000 newer completed images: a plan that
    // walks the table (or the primary key) newest first reads them all before it finds one
    db.execute(
        "INSERT INTO media_files (media_type, file_path, processing_status, description, "
        "processing_started_at, created_at, updated_at) "
        "SELECT 'image', 'lib/' || g || '.jpg', CASE WHEN g <= 10 THEN 'failed' "
        "  WHEN g <= 20 THEN 'processing' WHEN g <= 30 THEN 'pending' ELSE 'completed' END, "
        "  CASE WHEN g > 30 THEN 'a photo' END, now(), now(), now() "
        "FROM generate_series(1, 2030) g");
    db.execute("ANALYZE media_files");
    struct Reads {
        long long seq_scans = 0;
        long long rows = 0;  // read by sequential scans, or fetched through indexes
        long long index_scans = 0;
    };
    // the server's counts for media_files, which a backend reports as its session ends
    auto reads = [&db] {
        auto row = db.query_value(
            "SELECT concat_ws(' ', seq_scan, seq_tup_read + coalesce(idx_tup_fetch, 0), "
            "coalesce(idx_scan, 0)) FROM pg_stat_user_tables "
            "WHERE relid = 'media_files'::regclass");
        Reads counts;
        std::istringstream(row) >> counts.seq_scans >> counts.rows >> counts.index_scans;
        return counts;
    };
    // with sequential scans priced out, so that a small table is read as a large one would be
    auto run_counted = [&](const std::vector<std::string>& args) {
        Reads before = reads();
        auto result = eye::testing::run(
            "eye", args, {{"EYE_DATABASE_URL", db.url()}, {"PGOPTIONS", "-c enable_seqscan=off"}});
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        Reads after = reads();
        while (after.index_scans == before.index_scans &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            after = reads();
        }
        INFO(fmt::format("{}: {}", fmt::join(args, " "), result.err));
        CHECK(result.exit_code == 0);
        CHECK(after.index_scans > before.index_scans);
        CHECK(after.seq_scans == before.seq_scans);
        CHECK(after.rows - before.rows <= 12);
        return result;
    };
    for (const char* status : {"pending", "processing", "completed", "failed", "all"}) {
        auto listed = run_counted({"media:list", fmt::format("--status={}", status), "--limit=5"});
        CHECK_THAT(listed.out, Catch::Contains("(more exist; --limit to see more)"));
    }
    run_counted({"media:show", "lib/3.jpg"});
    run_counted({"media:show", "4"});
}
