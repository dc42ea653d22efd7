// eye-worker --laravel-queue on a database shaped like Avinash-EYE's (tests/fixtures/
// upstream_schema.sql: pgvector, Laravel's jobs table): an upload's ProcessImageAnalysis job, as
// Laravel writes it, is taken over and analyzed, and its row ends with every column upstream's
// own job fills; other classes, unreadable payloads and videos stay in Laravel's table untouched.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/image/encode.hpp"
#include "eye/db/schema.hpp"
#include "support/database.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::FakeServices;
using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Laravel 11's payload for ProcessImageAnalysis::dispatch($id)->onQueue('image-processing'),
// as json_encode writes it (see tests/queue/test_laravel_payload.cpp for how it is built).
std::string upload_payload(long long id) {
    const std::string id_text = std::to_string(id);
    return fmt::format(
        R"({{"uuid":"5b2d8c7e-1f3a-4e6b-8d9c-0a1b2c3d4e{:02x}","displayName":"App\\Jobs\\ProcessImageAnalysis","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":3,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":300,"retryUntil":null,"data":{{"commandName":"App\\Jobs\\ProcessImageAnalysis","command":"O:29:\"App\\Jobs\\ProcessImageAnalysis\":2:{{s:11:\"imageFileId\";i:{};s:5:\"queue\";s:16:\"image-processing\";}}"}}}})",
        id % 256, id_text);
}

// A row as upstream's uploader leaves it: the file stored, its analysis not yet run.
std::string insert_upload(const TestDatabase& db, const std::string& file_path,
                          const std::string& media_type = "image") {
    return db.query_value(fmt::format(
        "INSERT INTO media_files (user_id, media_type, file_path, original_filename, mime_type, "
        "file_size, processing_status, created_at, updated_at) VALUES (1, '{}', '{}', '{}', "
        "'image/jpeg', 1, 'pending', now(), now()) RETURNING id",
        media_type, file_path, fs::path(file_path).filename().string()));
}

std::string insert_laravel_job(const TestDatabase& db, const std::string& queue,
                               const std::string& payload) {
    return db.query_value(fmt::format(
        "INSERT INTO jobs (queue, payload, attempts, available_at, created_at) VALUES ('{}', "
        "$payload${}$payload$, 0, extract(epoch from now())::int - 1, "
        "extract(epoch from now())::int - 1) RETURNING id",
        queue, payload));
}

}  // namespace

TEST_CASE(
    "an upload's job is taken from Laravel's queue and its row filled as upstream's job "
    "fills it") {
    TestDatabase db(false);
    eye::testing::make_upstream(db);
    TempDir media;
    fs::copy_file(eye::testing::k_images / "rocket.jpg", media.path / "rocket.jpg");
    auto tagged = eye::testing::run(
        "/usr/bin/exiftool",
        {"-q", "-overwrite_original", "-Make=Canon", "-Model=EOS R5",
         "-DateTimeOriginal=2024:05:06 07:08:09", "-ExposureTime=1/250", "-FNumber=4", "-ISO=800",
         "-FocalLength=35", "-GPSLatitude=48.8583", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945",
         "-GPSLongitudeRef=E", (media.path / "rocket.jpg").string()},
        {}, 60s);
    REQUIRE(tagged.exit_code == 0);
    const std::string image = insert_upload(db, "rocket.jpg");
    const std::string job =
        insert_laravel_job(db, "image-processing", upload_payload(std::stoll(image)));

    // what the bridge must leave alone: another class, a payload it cannot read, a video, an
    // image that does not exist, and an upload in a queue it was not given
    const std::string video = insert_upload(db, "clip.mp4", "video");
    const std::string batch = insert_laravel_job(
        db, "image-processing",
        R"({"uuid":"1","displayName":"App\\Jobs\\ProcessBatchImages","job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{"commandName":"App\\Jobs\\ProcessBatchImages","command":"O:28:\"App\\Jobs\\ProcessBatchImages\":1:{s:8:\"imageIds\";a:0:{}}"}})");
    const std::string broken = insert_laravel_job(
        db, "image-processing",
        R"({"uuid":"2","displayName":"App\\Jobs\\ProcessImageAnalysis","data":{"command":"O:29:\"App\\Jobs\\ProcessImageAnalysis\":1:{s:11:\"imageFileId\";i:4"}})");
    const std::string for_video =
        insert_laravel_job(db, "default", upload_payload(std::stoll(video)));
    const std::string for_nothing = insert_laravel_job(db, "default", upload_payload(999999));
    const std::string elsewhere = insert_upload(db, "elsewhere.jpg");
    const std::string other_queue =
        insert_laravel_job(db, "emails", upload_payload(std::stoll(elsewhere)));
    const std::string untouched_before = db.query_value(
        "SELECT md5(string_agg(j::text, ',' ORDER BY id)) FROM jobs j WHERE id <> " + job);

    // and a video queued in eye by hand: its row is not an image's and is not touched either
    db.execute("INSERT INTO eye.jobs (media_id, reason) VALUES (" + video + ", 'by hand')");

    FakeServices fake(true, false, {"--ai-shared-root", media.str()});
    auto worker = eye::testing::run(
        "eye-worker",
        {"--stop-when-empty", "--analyzer=avinash", "--laravel-queue=image-processing,default"},
        {{"EYE_DATABASE_URL", db.url()},
         {"EYE_MEDIA_ROOT", media.str()},
         {"EYE_AI_URL", fake.ai_url()},
         {"EYE_STATE_DIR", media.str()}},
        120s);
    INFO(worker.err);
    REQUIRE(worker.exit_code == 0);
    CHECK_THAT(worker.err, Catch::Contains("took 1 upload(s) from Laravel's queue"));

    // the Laravel row is gone, its work done once by eye
    CHECK(db.query_value("SELECT count(*) FROM jobs WHERE id = " + job) == "0");
    CHECK(db.query_value("SELECT string_agg(status || ' ' || reason, ',' ORDER BY id) FROM "
                         "eye.jobs") == "completed by hand,completed upload");
    // the others are exactly as they were: not reserved, not attempted, not changed
    CHECK(db.query_value("SELECT md5(string_agg(j::text, ',' ORDER BY id)) FROM jobs j") ==
          untouched_before);
    CHECK(db.query_value("SELECT count(*) FROM jobs WHERE reserved_at IS NULL AND attempts = 0") ==
          "5");
    for (const auto& [id, why] : {std::pair{broken, "malformed integer 'imageFileId'"},
                                  std::pair{for_video, "another media type"},
                                  std::pair{for_nothing, "image 999999 is not a live image row"}}) {
        CHECK_THAT(worker.err,
                   Catch::Contains(fmt::format("Laravel job {} stays in its queue: ", id)) &&
                       Catch::Contains(why));
    }
    CHECK_THAT(worker.err, !Catch::Contains(fmt::format("Laravel job {} ", batch)) &&
                               !Catch::Contains(fmt::format("Laravel job {} ", other_queue)));

    // the columns upstream's ProcessImageAnalysis fills for an image, field by field: its
    // progress fields, MetadataService's metadata, the AI service's analysis, and the status
    const std::string row = "SELECT {} FROM media_files WHERE id = " + image;
    auto column = [&](const std::string& expression) {
        return db.query_value(fmt::format(row, expression));
    };
    CHECK(column("processing_status") == "completed");
    CHECK(column("processing_stage") == "saving_results");
    CHECK(column("upload_progress") == "100");
    CHECK(column("upload_completed_at IS NOT NULL") == "t");
    CHECK(column("processing_started_at <= processing_completed_at") == "t");
    CHECK(column("processing_error IS NULL") == "t");
    CHECK(column("processing_attempts") == "1");
    // MetadataService::extractComprehensiveMetadata
    CHECK(column("file_size") == std::to_string(fs::file_size(media.path / "rocket.jpg")));
    CHECK(column("mime_type") == "image/jpeg");
    CHECK(column("width || 'x' || height") == "640x427");
    CHECK(column("concat_ws(' | ', camera_make, camera_model, date_taken, exposure_time, "
                 "f_number, iso, focal_length, gps_latitude, gps_longitude)") ==
          "Canon | EOS R5 | 2024-05-06 07:08:09 | 1/250s | f/4.0 | 800 | 35.00 | 48.8583000 | "
          "2.2945000");
    CHECK(column("exif_data->'IFD0'->>'Make'") == "Canon");
    // the AI service's analysis (the fake's answer for this path)
    CHECK(column("description") == "A fake analysis of 'rocket.jpg'.");
    CHECK(column("detailed_description <> ''") == "t");
    CHECK(column("meta_tags::text") == R"(["fake","rocket","person","outdoor"])");
    CHECK(column("vector_dims(embedding)") == "512");
    CHECK(column("face_count") == "2");
    CHECK(column("json_array_length(face_encodings)") == "2");
    for (const char* filled : {"dominant_colors", "image_quality", "quality_tier", "phash", "dhash",
                               "objects_detected", "scene_classification"}) {
        INFO(filled);
        CHECK(column(fmt::format("{} IS NOT NULL", filled)) == "t");
    }
    // and what upstream's job does not fill for an image stays as it was
    for (const char* left : {"thumbnail_path", "document_type", "classification_confidence",
                             "entities", "is_favorite::text"}) {
        INFO(left);
        CHECK(column(fmt::format("coalesce({}::text, 'NULL')", left)) ==
              (std::string(left) == "is_favorite::text" ? "false" : "NULL"));
    }
    // the video's row and the image in the other queue are untouched
    CHECK(db.query_value("SELECT processing_status || coalesce(processing_stage, '') FROM "
                         "media_files WHERE id = " +
                         video) == "pending");
    CHECK(db.query_value("SELECT processing_status FROM media_files WHERE id = " + elsewhere) ==
          "pending");
}

TEST_CASE("while an upload is analyzed its row shows the stage upstream's page shows") {
    TestDatabase db(false);
    eye::testing::make_upstream(db);
    TempDir media;
    fs::copy_file(eye::testing::k_images / "coffee.png", media.path / "coffee.png");
    const std::string image = insert_upload(db, "coffee.png");
    insert_laravel_job(db, "image-processing", upload_payload(std::stoll(image)));
    // a slow model: the analysis takes 3 s
    FakeServices fake(true, false, {"--ai-shared-root", media.str(), "--analyze-delay", "3000"});
    eye::testing::Process worker(
        "eye-worker",
        {"--stop-when-empty", "--analyzer=avinash", "--laravel-queue=image-processing"},
        {{"EYE_DATABASE_URL", db.url()},
         {"EYE_MEDIA_ROOT", media.str()},
         {"EYE_AI_URL", fake.ai_url()},
         {"EYE_STATE_DIR", media.str()}});
    const std::string row =
        "SELECT processing_status || ' ' || coalesce(processing_stage, '-') || "
        "' ' || upload_progress || ' ' || (upload_completed_at IS NOT NULL) "
        "FROM media_files WHERE id = " +
        image;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (db.query_value(row).rfind("pending", 0) == 0) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(50ms);
    }
    CHECK(db.query_value(row) == "processing analyzing 100 true");
    auto result = worker.wait(60s);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(db.query_value(row) == "completed saving_results 100 true");
}

TEST_CASE("3 eye-workers and a PHP worker share 10,000 uploads: each analyzed exactly once") {
    TestDatabase db(false);
    eye::testing::make_upstream(db);
    db.execute("CREATE TABLE laravel_analyses (media_id bigint NOT NULL)");
    TempDir media;
    {
        const auto tiny = eye::testing::solid_halves(32, 24, {200, 60, 30}, {20, 90, 220});
        std::ofstream(media.path / "tiny.jpg", std::ios::binary)
            << eye::analyzers::encode_jpeg(tiny, 0, 80);
    }
    constexpr int k_uploads = 10'000;
    db.execute(fmt::format(
        "INSERT INTO media_files (user_id, media_type, file_path, original_filename, "
        "processing_status, created_at, updated_at) SELECT 1, 'image', 'tiny.jpg', 'tiny.jpg', "
        "'pending', now(), now() FROM generate_series(1, {})",
        k_uploads));
    std::string payload = upload_payload(123456789);
    payload.replace(payload.find("123456789"), 9, "__ID__");
    db.execute(
        "INSERT INTO jobs (queue, payload, attempts, available_at, created_at) SELECT "
        "'image-processing', replace($payload$" +
        payload +
        "$payload$, '__ID__', id::text), 0, extract(epoch from now())::int - 1, "
        "extract(epoch from now())::int - 1 FROM media_files ORDER BY id");

    const eye::testing::Environment env{{"EYE_DATABASE_URL", db.url()},
                                        {"EYE_MEDIA_ROOT", media.str()},
                                        {"EYE_STATE_DIR", media.str()}};
    eye::testing::Process php("tests/eye-test-laravel-worker",
                              {db.url(), "image-processing", "3000"}, {});
    std::vector<std::unique_ptr<eye::testing::Process>> workers;
    for (int i = 0; i < 3; ++i) {
        workers.push_back(std::make_unique<eye::testing::Process>(
            "eye-worker",
            std::vector<std::string>{"--stop-when-empty", "--analyzer=builtin", "--max-jobs=0",
                                     "--laravel-queue=image-processing", "--sleep=1"},
            env));
    }
    for (auto& worker : workers) {
        auto result = worker->wait(300s);
        INFO(result.err.substr(0, 4000));
        REQUIRE(result.exit_code == 0);
    }
    auto stand_in = php.wait(60s);
    INFO(stand_in.err);
    REQUIRE(stand_in.exit_code == 0);
    const long by_php = std::stol(stand_in.out);

    // no Laravel row lost or left reserved; every image analyzed by exactly one side, once
    CHECK(db.query_value("SELECT count(*) FROM jobs") == "0");
    const std::string by_eye =
        db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'completed'");
    WARN("of " << k_uploads << " uploads, eye analyzed " << by_eye << ", the PHP stand-in "
               << by_php);
    CHECK(std::stol(by_eye) + by_php == k_uploads);
    CHECK(db.query_value("SELECT count(*) FROM (SELECT media_id FROM eye.jobs UNION ALL SELECT "
                         "media_id FROM laravel_analyses) a GROUP BY media_id HAVING count(*) <> "
                         "1") == "");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'completed'") == std::to_string(k_uploads));
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status <> 'completed' OR attempts "
                         "<> 1") == "0");
    CHECK(by_php > 0);
    CHECK(std::stol(by_eye) > 0);
}

TEST_CASE("the monitor counts the uploads nobody took for 10 minutes") {
    TestDatabase db(false);
    eye::testing::make_upstream(db);
    const std::string video = insert_upload(db, "clip.mp4", "video");
    const std::string image = insert_upload(db, "new.jpg");
    // one waiting for an hour (a video's: the bridge leaves it), one just queued
    db.execute(
        fmt::format("INSERT INTO jobs (queue, payload, attempts, available_at, created_at) VALUES "
                    "('default', $p${}$p$, 0, extract(epoch from now())::int - 3600, "
                    "extract(epoch from now())::int - 3600), ('default', $p${}$p$, 0, "
                    "extract(epoch from now())::int, extract(epoch from now())::int)",
                    upload_payload(std::stoll(video)), upload_payload(std::stoll(image))));
    auto monitor =
        eye::testing::run("eye-monitor", {"--format=json"}, {{"EYE_DATABASE_URL", db.url()}}, 60s);
    INFO(monitor.err);
    CHECK_THAT(monitor.out, Catch::Contains("2 in jobs") &&
                                Catch::Contains("1 upload job(s) waiting over 10 min") &&
                                Catch::Contains("\"laravel_uploads_waiting\""));
}

TEST_CASE("--laravel-queue on a database without Laravel's jobs table refuses to start (78)") {
    TestDatabase db;
    auto worker =
        eye::testing::run("eye-worker", {"--stop-when-empty", "--laravel-queue=default"},
                          {{"EYE_DATABASE_URL", db.url()}, {"EYE_MEDIA_ROOT", "/tmp"}}, 60s);
    CHECK(worker.exit_code == 78);
    CHECK_THAT(worker.err,
               Catch::Contains("--laravel-queue: this database has no Laravel jobs table"));
}
