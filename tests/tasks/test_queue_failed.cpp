// queue:failed and queue:retry end to end.

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/media.hpp"
#include "support/process.hpp"

using eye::testing::insert_media;
using eye::testing::MediaRow;
using eye::testing::TestDatabase;

namespace {

std::int64_t failed_job(const TestDatabase& db, std::int64_t media, const std::string& error,
                        const std::string& age) {
    return std::stoll(db.query_value(fmt::format(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at, "
        "failed_at) VALUES ({0}, 'analyze', {0}, 3, '{1}', now() - interval '{2}', "
        "now() - interval '{2}') RETURNING id",
        media, error, age)));
}

eye::testing::ProcessResult eye_run(const TestDatabase& db, std::vector<std::string> args) {
    return eye::testing::run("eye", args, {{"EYE_DATABASE_URL", db.url()}});
}

}  // namespace

TEST_CASE("queue:failed lists failed jobs newest first, as text or JSON") {
    TestDatabase db;
    auto older = insert_media(db, MediaRow().with_status("failed").at("a/old.jpg"));
    auto newer = insert_media(db, MediaRow().with_status("failed").at("a/new.jpg"));
    failed_job(db, older, "not a JPEG or PNG image", "2 days");
    auto newest = failed_job(db, newer, "the AI service failed: HTTP 500", "1 hour");

    auto text = eye_run(db, {"queue:failed"});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::StartsWith("FAILED ID  JOB      IMAGE    FAILED AT"));
    CHECK_THAT(text.out,
               Catch::Contains(fmt::format("\n{:<10} {:<8} {:<8} ", newest, newer, newer)));
    CHECK_THAT(text.out, Catch::Contains("HTTP 500 (a/new.jpg)"));
    CHECK_THAT(text.out, Catch::EndsWith("'eye queue:retry --media IMAGE'\n"));
    CHECK(text.out.find("a/new.jpg") < text.out.find("a/old.jpg"));

    auto json = eye_run(db, {"queue:failed", "--format=json", "--limit=1"});
    auto report = eye::json::parse(json.out);
    REQUIRE(report);
    CHECK((*report)["total"].GetInt64() == 2);
    REQUIRE((*report)["failed_jobs"].Size() == 1);
    CHECK((*report)["failed_jobs"][0]["id"].GetInt64() == newest);
    CHECK((*report)["failed_jobs"][0]["job_id"].GetInt64() == newer);
    CHECK((*report)["failed_jobs"][0]["media_id"].GetInt64() == newer);
    CHECK(std::string((*report)["failed_jobs"][0]["file_path"].GetString()) == "a/new.jpg");
}

TEST_CASE("queue:retry puts chosen failed jobs back in the queue, once per image") {
    TestDatabase db;
    auto first = insert_media(db, MediaRow().with_status("failed"));
    auto second = insert_media(db, MediaRow().with_status("failed"));
    auto third = insert_media(db, MediaRow().with_status("failed"));
    auto id1 = failed_job(db, first, "boom", "1 hour");
    failed_job(db, second, "boom", "1 hour");
    auto id3 = failed_job(db, third, "boom", "1 hour");

    auto result =
        eye_run(db, {"queue:retry", std::to_string(id1), std::to_string(id3), "--format=json"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("\"retried\":2,\"queued\":2"));
    CHECK(db.query_value("SELECT string_agg(media_id::text, ',' ORDER BY media_id) FROM "
                         "eye.jobs WHERE status = 'queued' AND reason = 'retry'") ==
          fmt::format("{},{}", first, third));
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "1");

    auto all = eye_run(db, {"queue:retry", "all"});
    CHECK(all.exit_code == 0);
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued'") == "3");
}

TEST_CASE(
    "queue:retry drops failed jobs whose image is gone, reports unknown ids, and refuses "
    "words") {
    TestDatabase db;
    auto deleted = insert_media(db, MediaRow().with_status("failed").soft_deleted());
    auto id = failed_job(db, deleted, "boom", "1 hour");
    auto result = eye_run(db, {"queue:retry", std::to_string(id), "999999", "--format=json"});
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.out, Catch::Contains("\"images_gone\":1"));
    CHECK_THAT(result.out, Catch::Contains("\"not_found\":[999999]"));
    CHECK_THAT(result.err, Catch::Contains("no failed job with id 999999"));
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "0");

    auto bad = eye_run(db, {"queue:retry", "some"});
    CHECK(bad.exit_code == 64);
    CHECK_THAT(bad.err, Catch::Contains("'some' is not a failed job id"));
    CHECK_THAT(bad.err, Catch::Contains("hint:"));
}

TEST_CASE("queue:retry --media takes image ids, and an id of the other kind says what it is") {
    TestDatabase db;
    auto failed = insert_media(db, MediaRow().with_status("failed"));
    auto other = insert_media(db, MediaRow().with_status("failed"));
    auto never_failed = insert_media(db, MediaRow().with_status("completed"));
    // the worker logged "job 500 (image <failed>)"; queue:failed lists FAILED ID <fid>, a
    // number apart from both
    db.execute("SELECT setval('eye.failed_jobs_id_seq', 100)");
    auto fid = std::stoll(db.query_value(fmt::format(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at) "
        "VALUES (500, 'analyze', {}, 3, 'boom', now()) RETURNING id",
        failed)));
    auto other_fid = failed_job(db, other, "boom", "1 hour");
    db.execute("INSERT INTO eye.jobs (id, media_id, status) VALUES (700, 1000000, 'queued')");

    // the job id the worker logged
    auto by_job = eye_run(db, {"queue:retry", "500"});
    CHECK(by_job.exit_code == 1);
    CHECK_THAT(by_job.err, Catch::Contains(fmt::format(
                               "no failed job with id 500; hint: job 500 failed for good as "
                               "failed job {0}: run 'eye queue:retry {0}'",
                               fid)));
    // an image id with a failed job
    auto by_image = eye_run(db, {"queue:retry", std::to_string(failed)});
    CHECK(by_image.exit_code == 1);
    CHECK_THAT(by_image.err, Catch::Contains(fmt::format(
                                 "hint: {0} is an image id, and image {0} has failed job(s) "
                                 "{1}: run 'eye queue:retry --media {0}'",
                                 failed, fid)));
    // a job that is still queued
    auto queued = eye_run(db, {"queue:retry", "700"});
    CHECK_THAT(queued.err, Catch::Contains("hint: 700 is the id of a job that is queued, not "
                                           "failed"));
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "2");

    // by image: its failed job goes back; an image without one gets a new analysis
    auto result = eye_run(db, {"queue:retry", "--media", fmt::format("{},{}", failed, never_failed),
                               "--format=json"});
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out,
               Catch::Contains("\"retried\":1,\"queued\":2,\"already_queued\":0,\"images_gone\":0,"
                               "\"images_without_failed_job\":1"));
    CHECK(db.query_value("SELECT string_agg(id::text, ',') FROM eye.failed_jobs") ==
          std::to_string(other_fid));
    CHECK(db.query_value("SELECT string_agg(media_id::text, ',' ORDER BY media_id) FROM eye.jobs "
                         "WHERE reason = 'retry'") == fmt::format("{},{}", failed, never_failed));

    // an image id that is no image
    auto missing = eye_run(db, {"queue:retry", "--media", "999999"});
    CHECK(missing.exit_code == 1);
    CHECK_THAT(missing.err, Catch::Contains("no image with id 999999; hint:"));
    // one way at a time
    auto both = eye_run(db, {"queue:retry", "all", "--media", "1"});
    CHECK(both.exit_code == 64);
    CHECK_THAT(both.err, Catch::Contains("give either FAILED IDs (or 'all') or --media, not both"));
    auto neither = eye_run(db, {"queue:retry"});
    CHECK(neither.exit_code == 64);
    CHECK_THAT(neither.err, Catch::Contains("say what to retry; hint: 'eye queue:retry 2 5'"));
}

TEST_CASE("queue:retry --dry-run changes nothing") {
    TestDatabase db;
    auto image = insert_media(db, MediaRow().with_status("failed"));
    failed_job(db, image, "boom", "1 hour");
    auto result = eye_run(db, {"queue:retry", "all", "--dry-run"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("would put 1 failed job(s) back"));
    auto json = eye_run(db, {"queue:retry", "all", "--dry-run", "--format=json"});
    CHECK_THAT(json.out, Catch::Contains("\"dry_run\":true,\"would_retry\":1,\"would_queue\":1,"));
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "1");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "0");
}
