// media:import end to end: the built umbrella against a real PostgreSQL and real files.

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/db/schema.hpp"
#include "support/database.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::TempDir;
using eye::testing::TestDatabase;
namespace fs = std::filesystem;

namespace {

struct Library {
    Library() {
        fs::create_directories(root / "album" / "nested");
        auto images = fs::path(EYE_SOURCE_DIR) / "tests/fixtures/images";
        fs::copy_file(images / "chelsea.png", root / "album/chelsea.png");
        fs::copy_file(images / "rocket.jpg", root / "album/nested/rocket.JPG");
        fs::copy_file(images / "coins.png", root / "album/nested/coins.png");
        // the same content under another name
        fs::copy_file(images / "coins.png", root / "album/coins-copy.png");
        std::ofstream(root / "album/readme.txt") << "not an image";
        std::ofstream(root / "album/fake.jpg") << "not an image either";
        // what it holds decides, not its name
        fs::copy_file(images / "text.png", root / "album/nested/scan.dat");
    }
    TempDir dir;
    fs::path root = dir.path;
};

eye::testing::ProcessResult import(const TestDatabase& db, const Library& library,
                                   std::vector<std::string> args) {
    args.insert(args.begin(), "media:import");
    return eye::testing::run(
        "eye", args, {{"EYE_DATABASE_URL", db.url()}, {"EYE_MEDIA_ROOT", library.root.string()}});
}

}  // namespace

TEST_CASE("media:import registers images recursively, skips duplicates and queues analyses") {
    TestDatabase db;
    Library library;
    auto result = import(db, library, {(library.root / "album").string(), "--format=json"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("\"imported\":4"));
    CHECK_THAT(result.out, Catch::Contains("\"duplicates_in_import\":1"));
    CHECK_THAT(result.out, Catch::Contains("\"not_images\":2"));
    CHECK(db.query_value("SELECT string_agg(file_path || ':' || mime_type || ':' || "
                         "original_filename, ',' ORDER BY file_path) FROM media_files") ==
          "album/chelsea.png:image/png:chelsea.png,"
          "album/coins-copy.png:image/png:coins-copy.png,"
          "album/nested/rocket.JPG:image/jpeg:rocket.JPG,"
          "album/nested/scan.dat:image/png:scan.dat");
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = 'pending' "
                         "AND length(file_hash) = 64 AND file_size > 0 AND media_type = "
                         "'image'") == "4");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued' AND reason = "
                         "'import'") == "4");
    CHECK_THAT(result.err, Catch::Contains("same content as another file"));

    auto again = import(db, library, {(library.root / "album").string()});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Catch::Contains("imported 0 of 7"));
    CHECK_THAT(again.out, Catch::Contains("5 already registered"));
    CHECK_THAT(again.err, Catch::Contains("same content as media"));
    CHECK(db.query_value("SELECT count(*) FROM media_files") == "4");

    // a file changed since it was registered is not registered a second time at its path
    std::ofstream(library.root / "album/chelsea.png", std::ios::app) << "changed";
    auto changed = import(db, library, {(library.root / "album").string()});
    CHECK(changed.exit_code == 0);
    CHECK_THAT(changed.err, Catch::Contains("'album/chelsea.png': registered already as media"));
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE file_path = "
                         "'album/chelsea.png'") == "1");
}

TEST_CASE("media:import --dry-run reports and writes nothing but its run record") {
    TestDatabase db;
    Library library;
    auto result = import(db, library, {(library.root / "album").string(), "--dry-run"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("would import 4"));
    auto json =
        import(db, library, {(library.root / "album").string(), "--dry-run", "--format=json"});
    CHECK_THAT(json.out, Catch::Contains("\"dry_run\":true,\"found\":7,\"would_import\":4,"
                                         "\"would_queue\":4,"));
    CHECK(db.query_value("SELECT count(*) FROM media_files") == "0");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs") == "0");
    CHECK(db.query_value("SELECT dry_run FROM eye.runs") == "t");
}

TEST_CASE("media:import refuses a path outside EYE_MEDIA_ROOT before writing anything") {
    TestDatabase db;
    Library library;
    auto result = import(db, library, {(library.root / "album").string(), "/etc"});
    CHECK(result.exit_code == 64);
    CHECK_THAT(result.err, Catch::Contains("'/etc' is outside EYE_MEDIA_ROOT"));
    CHECK_THAT(result.err, Catch::Contains("hint:"));
    CHECK(db.query_value("SELECT count(*) FROM media_files") == "0");
}

TEST_CASE("media:import refuses a symbolic link that leads out of the media root") {
    TestDatabase db;
    Library library;
    fs::create_symlink(fs::path(EYE_SOURCE_DIR) / "tests/fixtures/images/horse.png",
                       library.root / "album/horse.png");
    auto result = import(db, library, {(library.root / "album").string(), "--format=json"});
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.out, Catch::Contains("\"outside_media_root\":1"));
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE file_path LIKE '%horse%'") == "0");
}

TEST_CASE("media:import of a missing path is a file error") {
    TestDatabase db;
    Library library;
    auto result = import(db, library, {(library.root / "nowhere").string()});
    CHECK(result.exit_code == 74);
    CHECK_THAT(result.err, Catch::Contains("No such file or directory"));
}

TEST_CASE("media:import needs --user-id where upstream's user_id is NOT NULL") {
    TestDatabase db(false);
    db.execute(
        "CREATE TABLE media_files (id bigserial PRIMARY KEY, user_id bigint NOT NULL, "
        "media_type varchar(255) NOT NULL, file_path varchar(255) NOT NULL, "
        "original_filename varchar(255), mime_type varchar(255), file_size bigint, "
        "file_hash varchar(255), processing_status varchar(255) NOT NULL DEFAULT "
        "'pending', created_at timestamp(0), updated_at timestamp(0), deleted_at "
        "timestamp(0))");
    {
        auto session = db.connect();
        eye::db::migrate(session, {});
    }
    Library library;
    auto refused = import(db, library, {(library.root / "album").string()});
    CHECK(refused.exit_code == 64);
    CHECK_THAT(refused.err, Catch::Contains("--user-id"));
    CHECK(db.query_value("SELECT count(*) FROM media_files") == "0");

    auto imported = import(db, library, {(library.root / "album").string(), "--user-id=7"});
    INFO(imported.err);
    CHECK(imported.exit_code == 0);
    CHECK(db.query_value("SELECT string_agg(DISTINCT user_id::text, ',') FROM media_files") == "7");
}
