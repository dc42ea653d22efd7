// The learning loop end to end, with the built programs on a real PostgreSQL: a labelled library
// analyzed by the avinash analyzer (against the fake AI service standing in for a vision model
// whose embeddings cluster by content), eye-train, eye-reanalyze --priority=outdated and
// eye-worker. The model must beat the majority-tag baseline on held-out images, and the
// re-analysis must add the right tags to images that lacked them.
#include <fstream>
#include <map>
#include <set>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/labelled_data.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::FakeServices;
using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;

namespace {

std::string json_numbers(const std::vector<float>& values) {
    eye::json::Writer w;
    w.begin_array();
    for (float v : values) {
        w.value(static_cast<double>(v));
    }
    w.end_array();
    return w.take();
}

std::string json_tags(const std::vector<std::string>& tags) {
    eye::json::Writer w;
    w.begin_array();
    for (const auto& tag : tags) {
        w.value(tag);
    }
    w.end_array();
    return w.take();
}

std::set<std::string> tags_of(const TestDatabase& db, std::int64_t id) {
    auto parsed = eye::json::parse(
        db.query_value(fmt::format("SELECT meta_tags FROM media_files WHERE id = {}", id)));
    std::set<std::string> tags;
    if (parsed && parsed->IsArray()) {
        for (const auto& tag : parsed->GetArray()) {
            tags.insert(tag.GetString());
        }
    }
    return tags;
}

}  // namespace

TEST_CASE("export, train, re-analyze outdated, worker: the new version adds the right tags") {
    TestDatabase db;
    TempDir shared;
    TempDir state;
    const std::string dims = db.query_value(
        "SELECT CASE WHEN format_type(atttypid, atttypmod) LIKE 'vector(%' "
        "THEN substring(format_type(atttypid, atttypmod) from '\\d+') ELSE '512' END "
        "FROM pg_attribute WHERE attrelid = 'media_files'::regclass AND attname = 'embedding'");
    const auto images = eye::testing::labelled_library(800, std::stoul(dims));

    // harbour images show only "boat": what the model must complete
    std::set<std::int64_t> lacking;
    for (const auto& image : images) {
        std::vector<std::string> tags = image.example.tags;
        if (eye::testing::labelled_topics()[image.topic].name == "harbour" && tags.size() >= 2 &&
            image.example.id % 2 == 0) {
            tags = {"boat"};
            lacking.insert(image.example.id);
        }
        std::ofstream(shared.path / fmt::format("img-{}.json", image.example.id))
            << fmt::format("{{\"embedding\":{},\"meta_tags\":{}}}",
                           json_numbers(image.example.embedding), json_tags(tags));
    }
    REQUIRE(lacking.size() >= 10);
    db.execute(fmt::format(
        "INSERT INTO media_files (id, file_path, processing_status, created_at, updated_at) "
        "SELECT i, 'img-' || i || '.json', 'pending', now(), now() FROM generate_series(1, {}) i",
        images.size()));

    FakeServices fake(true, false,
                      {"--ai-shared-root", shared.str(), "--analyze-mode", "labelled",
                       "--ai-embedding-dim", dims});
    const eye::testing::Environment env = {{"EYE_DATABASE_URL", db.url()},
                                           {"EYE_MEDIA_ROOT", shared.str()},
                                           {"EYE_AI_URL", fake.ai_url()},
                                           {"EYE_STATE_DIR", state.str()}};
    auto run = [&](const std::string& program, const std::vector<std::string>& args) {
        auto result = eye::testing::run(program, args, env, 300s);
        INFO(program << " " << fmt::format("{}", fmt::join(args, " ")) << "\n"
                     << result.out << result.err);
        REQUIRE(result.exit_code == 0);
        return result;
    };

    run("eye-reanalyze", {"--priority=missing", "--batch=1000"});
    run("eye-worker", {"--stop-when-empty", "--concurrency=2", "--max-jobs=0"});
    REQUIRE(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                           "'completed'") == std::to_string(images.size()));
    const std::string first_version =
        db.query_value("SELECT model_version FROM eye.media_state LIMIT 1");

    auto trained = run("eye-train", {});
    CHECK_THAT(trained.out, Catch::Contains("tags-") && Catch::Contains("is now the current"));
    const std::string version =
        db.query_value("SELECT version FROM eye.models WHERE is_current AND status = 'succeeded'");
    REQUIRE_FALSE(version.empty());
    auto metric = [&](const std::string& path) {
        return std::stod(db.query_value(fmt::format(
            "SELECT metrics #>> '{{{}}}' FROM eye.models WHERE version = '{}'", path, version)));
    };
    INFO("held out: precision " << metric("held_out,precision") << " recall "
                                << metric("held_out,recall") << "; baseline "
                                << metric("baseline,precision") << " / "
                                << metric("baseline,recall"));
    CHECK(metric("held_out,images") > 50);
    CHECK(metric("held_out,precision") > metric("baseline,precision"));
    CHECK(metric("held_out,recall") > metric("baseline,recall"));
    CHECK(std::stoll(db.query_value("SELECT length(model) FROM eye.models WHERE version = '" +
                                    version + "'")) > 1000);

    // every analysis is outdated now; one round brings them up to date
    auto queued = run("eye-reanalyze", {"--priority=outdated", "--batch=1000"});
    CHECK_THAT(queued.out,
               Catch::Contains(fmt::format("queued {} of {}", images.size(), images.size())));
    run("eye-worker", {"--stop-when-empty", "--concurrency=2", "--max-jobs=0"});
    CHECK(db.query_value("SELECT count(*) FROM eye.media_state WHERE model_version = '" +
                         first_version + "+" + version + "'") == std::to_string(images.size()));
    auto again = run("eye-reanalyze", {"--priority=outdated", "--batch=1000", "--dry-run"});
    CHECK_THAT(again.out, Catch::Contains("would queue 0"));

    int completed = 0;
    int added = 0;
    int added_right = 0;
    for (std::int64_t id : lacking) {
        auto tags = tags_of(db, id);
        std::set<std::string> right;
        for (std::size_t topic : images[static_cast<std::size_t>(id - 1)].topics) {
            const auto& topic_tags = eye::testing::labelled_topics()[topic].tags;
            right.insert(topic_tags.begin(), topic_tags.end());
        }
        for (const auto& tag : tags) {
            if (tag != "boat") {
                ++added;
                added_right += right.count(tag) != 0 ? 1 : 0;
            }
        }
        completed += tags.count("sea") && tags.count("water") ? 1 : 0;
        // the model's additions are recorded with their confidences
        const std::string predicted = db.query_value(fmt::format(
            "SELECT predicted_tags->>'sea' FROM eye.media_state WHERE media_id = {}", id));
        if (tags.count("sea")) {
            CHECK(std::stod(predicted) > 0);
        }
    }
    INFO(completed << " of " << lacking.size() << " harbour images completed; " << added_right
                   << " of the " << added << " tags added belong to what the image shows");
    CHECK(completed * 10 >= static_cast<int>(lacking.size()) * 8);
    CHECK(added_right * 10 >= added * 8);

    // a version that does worse on the same held-out images is recorded, not made current:
    // one that learned from the 60 newest images only
    auto worse = run("eye-train", {"--force", "--limit=60"});
    CHECK_THAT(worse.out, Catch::Contains("recorded but not made current"));
    CHECK(db.query_value("SELECT version FROM eye.models WHERE is_current") == version);
    const std::string worse_version =
        db.query_value("SELECT version FROM eye.models ORDER BY id DESC LIMIT 1");
    CHECK(db.query_value(
              fmt::format("SELECT (metrics #>> '{{held_out,f1}}')::float < "
                          "(metrics #>> '{{current_on_same_images,f1}}')::float FROM eye.models "
                          "WHERE version = '{}'",
                          worse_version)) == "t");
    auto always = run("eye-train", {"--force", "--limit=60", "--promote=always"});
    CHECK_THAT(always.out, Catch::Contains("is now the current version"));
    CHECK(db.query_value("SELECT version FROM eye.models WHERE is_current") != version);
}
