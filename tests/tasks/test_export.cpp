// eye-export end to end: the built program against a real PostgreSQL, reading back what it
// wrote: the data file and its manifest, upstream's images_metadata.json, the history kept,
// and that no failure or kill leaves a file under an export's name that is not complete.
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <signal.h>
#include <sstream>
#include <sys/resource.h>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/core/digest.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "support/database.hpp"
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

ProcessResult export_run(const TestDatabase& db, const TempDir& dir,
                         std::vector<std::string> args = {}) {
    args.push_back("--output-dir=" + dir.str());
    return eye::testing::run("eye-export", args, {{"EYE_DATABASE_URL", db.url()}}, 120s);
}

std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

std::vector<fs::path> files_in(const fs::path& dir) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<fs::path> named(const fs::path& dir, const std::string& suffix) {
    std::vector<fs::path> files;
    for (const auto& file : files_in(dir)) {
        const std::string name = file.filename().string();
        if (name.size() > suffix.size() && name.rfind("eye-export-", 0) == 0 &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
            name.find(".tmp.") == std::string::npos) {
            files.push_back(file);
        }
    }
    return files;
}

rapidjson::Document parse(const std::string& text) {
    auto parsed = eye::json::parse(text);
    INFO(text.substr(0, 300));
    REQUIRE(parsed);
    return std::move(*parsed);
}

// The problems a reader would have with what is under an export's names in `dir`: a manifest
// whose data file is missing or differs from it, a data file that is not whole JSON.
std::vector<std::string> incomplete_exports(const fs::path& dir) {
    std::vector<std::string> problems;
    for (const auto& manifest : named(dir, ".manifest.json")) {
        auto parsed = eye::json::parse(read(manifest));
        if (!parsed || !parsed->IsObject()) {
            problems.push_back(manifest.string() + " is not JSON");
            continue;
        }
        const fs::path data = dir / (*parsed)["file"].GetString();
        const std::string content = read(data);
        if (eye::sha256_hex(content) != (*parsed)["sha256"].GetString()) {
            problems.push_back(manifest.string() + ": its data file differs from it");
        }
    }
    for (const auto& data : named(dir, ".jsonl")) {
        const std::string content = read(data);
        if (content.empty() || content.back() != '\n') {
            problems.push_back(data.string() + " does not end with a line");
            continue;
        }
        std::istringstream lines(content);
        std::string line;
        while (std::getline(lines, line)) {
            if (!eye::json::parse(line)) {
                problems.push_back(data.string() + " has a line that is not JSON");
                break;
            }
        }
    }
    for (const auto& data : named(dir, ".json")) {
        if (data.string().find(".manifest.json") == std::string::npos &&
            !eye::json::parse(read(data))) {
            problems.push_back(data.string() + " is not JSON");
        }
    }
    if (fs::exists(dir / "images_metadata.json") &&
        !eye::json::parse(read(dir / "images_metadata.json"))) {
        problems.push_back("images_metadata.json is not JSON");
    }
    return problems;
}

}  // namespace

TEST_CASE("eye-export writes the newest completed images with their real fields, and a manifest") {
    TestDatabase db;
    TempDir dir;
    eye::testing::insert_completed_images(db, 1, 30);
    // not exported: pending, failed, soft-deleted, a video
    db.execute(
        "INSERT INTO media_files (file_path, processing_status, created_at, updated_at) "
        "VALUES ('p.jpg', 'pending', now(), now()), ('f.jpg', 'failed', now(), now())");
    db.execute("UPDATE media_files SET deleted_at = now() WHERE id = 30");
    db.execute("UPDATE media_files SET media_type = 'video' WHERE id = 29");
    db.execute(
        "INSERT INTO eye.media_state (media_id, analyzer, model_version, status, "
        "analyzed_at, predicted_tags) VALUES (28, 'builtin', 'builtin-1+tags-3', "
        "'completed', now(), '{\"tag3\": 0.75}')");

    auto result = export_run(db, dir, {"--limit=10"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Contains("exported 10 image(s)"));
    auto data = named(dir.path, ".jsonl");
    auto manifests = named(dir.path, ".manifest.json");
    REQUIRE(data.size() == 1);
    REQUIRE(manifests.size() == 1);
    CHECK(files_in(dir.path).size() == 2);  // nothing else, no temporary file
    CHECK(data[0].filename().string().size() ==
          std::string("eye-export-20261202T010000Z.jsonl").size());

    const std::string content = read(data[0]);
    std::istringstream lines(content);
    std::string line;
    std::vector<long long> ids;
    const int dims = eye::testing::embedding_column(db).second;
    while (std::getline(lines, line)) {
        auto row = parse(line);
        const long long id = row["id"].GetInt64();
        ids.push_back(id);
        CHECK(row["file_path"].GetString() == fmt::format("albums/photo-{}.jpg", id));
        CHECK(row["filename"].GetString() == fmt::format("photo-{}.jpg", id));
        CHECK(row["description"].GetString() == fmt::format("photo {}", id));
        CHECK(row["meta_tags"][0].GetString() == fmt::format("tag{}", id % 5));
        CHECK(row["face_count"].GetInt() == id % 3);
        CHECK(row["face_encodings"].IsArray() == (id % 3 > 0));
        REQUIRE(row["embedding"].IsArray());
        REQUIRE(row["embedding"].Size() == static_cast<unsigned>(dims));
        for (int d : {1, 2, dims}) {
            const float expected = static_cast<float>(((7 * id + d) % 97) / 97.0 - 0.5);
            CHECK(row["embedding"][d - 1].GetFloat() == Approx(expected).epsilon(1e-6));
        }
        CHECK(std::string(row["created_at"].GetString()).rfind("2026-01-01T", 0) == 0);
        if (id == 28) {
            CHECK(row["model_version"].GetString() == std::string("builtin-1+tags-3"));
            CHECK(row["predicted_tags"]["tag3"].GetDouble() == 0.75);
        }
    }
    CHECK(ids == std::vector<long long>{28, 27, 26, 25, 24, 23, 22, 21, 20, 19});

    auto manifest = parse(read(manifests[0]));
    CHECK(manifest["count"].GetInt() == 10);
    CHECK(manifest["format"].GetString() == std::string("jsonl"));
    CHECK(manifest["file"].GetString() == data[0].filename().string());
    CHECK(manifest["sha256"].GetString() == eye::sha256_hex(content));
    CHECK(manifest["bytes"].GetUint64() == content.size());
    CHECK(manifest["schema_version"].GetInt() == eye::db::k_schema_version);
    CHECK(manifest.HasMember("model_version"));
    CHECK(std::string(manifest["created_at"].GetString()).size() >= 20);
}

TEST_CASE("--format=avinash writes the array upstream's train_model.py reads, under its name too") {
    TestDatabase db;
    TempDir dir;
    eye::testing::insert_completed_images(db, 1, 5);
    auto result = export_run(db, dir, {"--format=avinash"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    auto data = named(dir.path, ".json");
    data.erase(std::remove_if(data.begin(), data.end(),
                              [](const fs::path& p) {
                                  return p.string().find(".manifest.") != std::string::npos;
                              }),
               data.end());
    REQUIRE(data.size() == 1);
    const std::string content = read(data[0]);
    CHECK(read(dir.path / "images_metadata.json") == content);
    auto array = parse(content);
    REQUIRE(array.IsArray());
    REQUIRE(array.Size() == 5);
    for (const auto& item : array.GetArray()) {
        std::set<std::string> keys;
        for (const auto& member : item.GetObject()) {
            keys.insert(member.name.GetString());
        }
        CHECK(keys == std::set<std::string>{"filename", "description", "detailed_description",
                                            "meta_tags", "face_count", "embedding", "created_at"});
        CHECK(item["embedding"].Size() ==
              static_cast<unsigned>(eye::testing::embedding_column(db).second));
        CHECK(item["embedding"][0].GetDouble() != 0.0);
    }
    CHECK(array[0]["filename"].GetString() == std::string("photo-5.jpg"));
}

TEST_CASE("an empty library is nothing to export; --keep keeps the newest exports") {
    TestDatabase db;
    TempDir dir;
    auto empty = export_run(db, dir);
    REQUIRE(empty.exit_code == 0);
    CHECK_THAT(empty.out, Contains("nothing to export"));
    CHECK(files_in(dir.path).empty());

    eye::testing::insert_completed_images(db, 1, 3);
    for (int i = 0; i < 4; ++i) {
        REQUIRE(export_run(db, dir, {"--keep=2"}).exit_code == 0);
    }
    CHECK(named(dir.path, ".manifest.json").size() == 2);
    CHECK(named(dir.path, ".jsonl").size() == 2);
    CHECK(files_in(dir.path).size() == 4);
    CHECK(incomplete_exports(dir.path).empty());
    // the two newest are the ones kept: the last run's is one of them
    auto last = export_run(db, dir, {"--keep=2"});
    REQUIRE(last.exit_code == 0);
    std::string last_file = last.out.substr(last.out.find(dir.str()));
    last_file = last_file.substr(0, last_file.find('\n'));
    CHECK(fs::exists(last_file));
}

TEST_CASE("a folder that cannot be written or a full disk exits 74 and leaves no file") {
    TestDatabase db;
    TempDir dir;
    eye::testing::insert_completed_images(db, 1, 300);
    std::ofstream(dir.path / "a-file") << "x";
    auto not_a_folder = eye::testing::run(
        "eye-export", {"--output-dir=" + (dir.path / "a-file" / "exports").string()},
        {{"EYE_DATABASE_URL", db.url()}}, 60s);
    CHECK(not_a_folder.exit_code == 74);
    CHECK_THAT(not_a_folder.err, Contains("cannot create the export folder"));

    // a file size limit stands in for a full disk: the write fails with EFBIG mid-file
    fs::create_directories(dir.path / "full");
    auto full = eye::testing::run("/usr/bin/prlimit",
                                  {"--fsize=200000", "--", eye::testing::program_path("eye-export"),
                                   "--output-dir=" + (dir.path / "full").string()},
                                  {{"EYE_DATABASE_URL", db.url()}}, 60s);
    INFO(full.err);
    CHECK(full.exit_code == 74);
    CHECK_THAT(full.err, Contains("File too large") && Contains("nothing was left"));
    CHECK(files_in(dir.path / "full").empty());
}

TEST_CASE("eye-export killed with SIGKILL at any moment leaves nothing a reader takes for whole") {
    TestDatabase db;
    TempDir dir;
    eye::testing::insert_completed_images(db, 1, 4000);
    std::mt19937 random(7);
    int killed_mid_run = 0;
    for (int round = 0; round < 24; ++round) {
        const std::vector<std::string> format = {round % 2 ? "--format=avinash" : "--format=jsonl"};
        eye::testing::Process process("eye-export",
                                      {format[0], "--output-dir=" + dir.str(), "--keep=100"},
                                      {{"EYE_DATABASE_URL", db.url()}});
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % 400));
        const bool running = process.running();
        process.signal(SIGKILL);
        auto result = process.wait(30s);
        killed_mid_run += running && result.signal == SIGKILL ? 1 : 0;
        auto problems = incomplete_exports(dir.path);
        INFO("round " << round << ": " << fmt::format("{}", fmt::join(problems, "; ")));
        CHECK(problems.empty());
    }
    CHECK(killed_mid_run >= 8);
    // a complete run afterwards is unaffected by what the killed ones left under temporary names
    auto result = export_run(db, dir, {"--keep=100"});
    REQUIRE(result.exit_code == 0);
    CHECK(incomplete_exports(dir.path).empty());
}
