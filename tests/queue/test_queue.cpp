// The queue's statements against a real PostgreSQL: enqueue, claim, heartbeat, complete, fail,
// release, rescue, each guarded against the races design §5 names.

#include <chrono>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/queue/queue.hpp"
#include "support/database.hpp"
#include "support/media.hpp"

using eye::testing::insert_media;
using eye::testing::MediaRow;
using eye::testing::TestDatabase;
namespace queue = eye::queue;

namespace {

eye::TimePoint db_now(eye::db::Session& session) {
    eye::db::Transaction tx(session, eye::db::Transaction::Mode::autocommit);
    return eye::from_epoch(
        std::stod(tx.run_sql("now", "SELECT extract(epoch from now())")[0][0].as<std::string>()));
}

queue::EnqueueOptions because(std::string reason, int priority = 100) {
    queue::EnqueueOptions options;
    options.reason = std::move(reason);
    options.priority = priority;
    return options;
}

std::vector<std::int64_t> make_images(const TestDatabase& db, int count,
                                      const std::string& status = "pending") {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < count; ++i) {
        ids.push_back(
            insert_media(db, MediaRow().with_status(status).at(fmt::format("{}.jpg", i))));
    }
    return ids;
}

}  // namespace

TEST_CASE("enqueue queues one job per image and skips images already queued or running") {
    TestDatabase db;
    auto images = make_images(db, 3);
    auto session = db.connect();
    auto now = db_now(session);
    {
        eye::db::Transaction tx(session);
        auto first = queue::enqueue(tx, {images[0], images[1], images[1]}, because("test"), now);
        CHECK(first.queued == 2);
        CHECK(first.already_queued == 0);
        auto second = queue::enqueue(tx, images, because("test"), now);
        CHECK(second.queued == 1);
        CHECK(second.already_queued == 2);
        tx.commit();
    }
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "3");
    // a completed job does not block a new one
    db.execute(
        fmt::format("UPDATE eye.jobs SET status = 'completed' WHERE media_id = {}", images[0]));
    eye::db::Transaction tx(session);
    CHECK(queue::enqueue(tx, {images[0]}, because("test"), now).queued == 1);
}

TEST_CASE("enqueue wakes listening workers with a notification") {
    TestDatabase db;
    auto images = make_images(db, 1);
    auto listener = db.connect();
    {
        eye::db::Transaction tx(listener, eye::db::Transaction::Mode::autocommit);
        tx.run_sql("listen", "LISTEN eye_jobs");
    }
    auto session = db.connect();
    auto now = db_now(session);
    {
        eye::db::Transaction tx(session);
        queue::enqueue(tx, images, because("test"), now);
        tx.commit();
    }
    CHECK(listener.wait_for_notification(std::chrono::seconds(5)) >= 1);
}

TEST_CASE("claim takes due jobs by priority, due time and id, and marks their images") {
    TestDatabase db;
    auto images = make_images(db, 4, "completed");
    auto session = db.connect();
    auto now = db_now(session);
    {
        eye::db::Transaction tx(session);
        queue::enqueue(tx, {images[0]}, because("low", 200), now);
        queue::enqueue(tx, {images[1]}, because("high", 10), now);
        queue::enqueue(tx, {images[2]}, because("later", 10), now + std::chrono::hours(1));
        queue::enqueue(tx, {images[3]}, because("normal", 100), now);
        tx.commit();
    }
    eye::db::Transaction tx(session);
    auto jobs = queue::claim(tx, "w1", 10, now, 5);
    tx.commit();
    REQUIRE(jobs.size() == 3);
    CHECK(jobs[0].media_id == images[0]);  // sorted by id in the answer
    std::set<std::int64_t> claimed;
    for (const auto& job : jobs) {
        claimed.insert(job.media_id);
        CHECK(job.attempts == 1);
        CHECK(job.max_attempts == 5);
        CHECK(job.previous_status == "completed");
        CHECK(job.file_path.find(".jpg") != std::string::npos);
    }
    CHECK(claimed.count(images[2]) == 0);  // not due yet
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                         "'processing' AND processing_attempts = 1 AND processing_started_at "
                         "IS NOT NULL") == "3");

    TestDatabase order_db;
    auto ordered = make_images(order_db, 3);
    auto order_session = order_db.connect();
    {
        eye::db::Transaction otx(order_session);
        queue::enqueue(otx, {ordered[0]}, because("low", 200), now);
        queue::enqueue(otx, {ordered[1]}, because("high", 10), now);
        queue::enqueue(otx, {ordered[2]}, because("normal", 100), now);
        otx.commit();
    }
    eye::db::Transaction one(order_session);
    CHECK(queue::claim(one, "w", 1, now, 3).at(0).media_id == ordered[1]);
    CHECK(queue::claim(one, "w", 1, now, 3).at(0).media_id == ordered[2]);
    CHECK(queue::claim(one, "w", 1, now, 3).at(0).media_id == ordered[0]);
}

TEST_CASE("two sessions claiming at once never get the same job") {
    TestDatabase db;
    auto images = make_images(db, 200);
    auto setup = db.connect();
    auto now = db_now(setup);
    {
        eye::db::Transaction tx(setup);
        queue::enqueue(tx, images, because("test"), now);
        tx.commit();
    }
    std::vector<std::int64_t> got[2];
    auto claimer = [&](int which) {
        auto session = db.connect();
        while (true) {
            eye::db::Transaction tx(session);
            auto jobs = queue::claim(tx, fmt::format("w{}", which), 7, now, 3);
            tx.commit();
            if (jobs.empty()) {
                return;
            }
            for (const auto& job : jobs) {
                got[which].push_back(job.id);
            }
        }
    };
    std::thread a(claimer, 0);
    std::thread b(claimer, 1);
    a.join();
    b.join();
    std::set<std::int64_t> all(got[0].begin(), got[0].end());
    all.insert(got[1].begin(), got[1].end());
    CHECK(got[0].size() + got[1].size() == 200);
    CHECK(all.size() == 200);
}

TEST_CASE("complete is refused once the job was taken from the worker") {
    TestDatabase db;
    auto images = make_images(db, 1);
    auto session = db.connect();
    auto now = db_now(session);
    eye::db::Transaction tx(session);
    queue::enqueue(tx, images, because("test"), now);
    auto job = queue::claim(tx, "w1", 1, now, 3).at(0);
    CHECK_FALSE(queue::complete(tx, job, "someone-else", now));
    CHECK(queue::complete(tx, job, "w1", now));
    CHECK_FALSE(queue::complete(tx, job, "w1", now));  // not twice
    tx.commit();
}

TEST_CASE("a temporary failure with attempts left goes back to the queue after the backoff") {
    TestDatabase db;
    auto images = make_images(db, 1, "completed");
    auto session = db.connect();
    auto now = db_now(session);
    eye::db::Transaction tx(session);
    queue::enqueue(tx, images, because("test"), now);
    auto job = queue::claim(tx, "w1", 1, now, 3).at(0);
    auto outcome = queue::fail(tx, job, "w1", {queue::FailureKind::temporary, "busy", "busy"},
                               std::chrono::seconds(30), now);
    tx.commit();
    CHECK(outcome.retried);
    CHECK(db.query_value("SELECT status || ' ' || attempts || ' ' || (available_at > now() + "
                         "interval '20 seconds') FROM eye.jobs") == "queued 1 true");
    // the image is back to what it was, its good analysis untouched
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "completed");
}

TEST_CASE("the last failed attempt moves the job to failed_jobs and the image to failed") {
    TestDatabase db;
    auto images = make_images(db, 1);
    auto session = db.connect();
    auto now = db_now(session);
    eye::db::Transaction tx(session);
    queue::enqueue(tx, images, because("test"), now);
    auto job = queue::claim(tx, "w1", 1, now, 1).at(0);
    auto outcome =
        queue::fail(tx, job, "w1", {queue::FailureKind::temporary, "still busy", "still busy"},
                    std::chrono::seconds(1), now);
    tx.commit();
    CHECK(outcome.gave_up);
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "0");
    CHECK(db.query_value("SELECT error || ' ' || attempts FROM eye.failed_jobs") == "still busy 1");
    CHECK(db.query_value("SELECT processing_status || ': ' || processing_error FROM "
                         "media_files") == "failed: still busy");
    CHECK(db.query_value("SELECT status || ' ' || consecutive_failures FROM eye.media_state") ==
          "failed 1");
}

TEST_CASE("a permanent failure of a re-analysis keeps the good earlier analysis") {
    TestDatabase db;
    auto image = insert_media(db, MediaRow().with_status("completed").described("a cat"));
    auto session = db.connect();
    auto now = db_now(session);
    eye::db::Transaction tx(session);
    queue::enqueue(tx, {image}, because("reanalyze"), now);
    auto job = queue::claim(tx, "w1", 1, now, 3).at(0);
    auto outcome =
        queue::fail(tx, job, "w1", {queue::FailureKind::permanent, "corrupt file", "corrupt file"},
                    std::chrono::seconds(1), now);
    tx.commit();
    CHECK(outcome.gave_up);
    CHECK(db.query_value("SELECT processing_status || ' ' || description || ' ' || "
                         "(processing_error IS NULL) FROM media_files") == "completed a cat true");
    CHECK(db.query_value("SELECT error FROM eye.failed_jobs") == "corrupt file");
    CHECK(db.query_value("SELECT last_error FROM eye.media_state") == "corrupt file");
}

TEST_CASE("release gives jobs back untried and their images their old status") {
    TestDatabase db;
    auto images = make_images(db, 2);
    auto session = db.connect();
    auto now = db_now(session);
    eye::db::Transaction tx(session);
    queue::enqueue(tx, images, because("test"), now);
    auto jobs = queue::claim(tx, "w1", 2, now, 3);
    CHECK(queue::release(tx, {jobs[0].id, jobs[1].id}, "w1", now) == 2);
    tx.commit();
    CHECK(db.query_value("SELECT string_agg(status || attempts, ',') FROM eye.jobs") ==
          "queued0,queued0");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = 'pending'") ==
          "2");
}

TEST_CASE("heartbeat reports which jobs the worker still holds") {
    TestDatabase db;
    auto images = make_images(db, 2);
    auto session = db.connect();
    auto now = db_now(session);
    eye::db::Transaction tx(session);
    queue::enqueue(tx, images, because("test"), now);
    auto jobs = queue::claim(tx, "w1", 2, now, 3);
    tx.commit();
    db.execute(fmt::format("UPDATE eye.jobs SET status = 'queued', worker_id = NULL WHERE id = {}",
                           jobs[1].id));
    eye::db::Transaction beat(session);
    auto held = queue::heartbeat(beat, "w1", {jobs[0].id, jobs[1].id}, now);
    CHECK(held == std::vector<std::int64_t>{jobs[0].id});
}

TEST_CASE("a claimed job whose image was deleted meanwhile is reported as missing") {
    TestDatabase db;
    auto images = make_images(db, 1);
    auto session = db.connect();
    auto now = db_now(session);
    eye::db::Transaction tx(session);
    queue::enqueue(tx, images, because("test"), now);
    tx.commit();
    db.execute("UPDATE media_files SET deleted_at = now()");
    eye::db::Transaction claim(session);
    auto jobs = queue::claim(claim, "w1", 1, now, 3);
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].media_missing);
    queue::drop_missing(claim, jobs[0], "w1", now);
    claim.commit();
    CHECK(db.query_value("SELECT status FROM eye.jobs") == "completed");
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "pending");
}
