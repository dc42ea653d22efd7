// The metadata upstream's own job records, written by eye-worker into media_files: images in
// every format that carries EXIF, tagged by exiftool (camera, lens, date, exposure, GPS in all
// four hemispheres), imported and analyzed, then each column compared with what exiftool reads
// back from the same file. A database without those columns is analyzed all the same.
#include <cmath>
#include <filesystem>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Tagged {
    std::string file;  // relative to the media root
    double latitude;
    double longitude;
};

// `source` converted by libvips' own tool into `file`, then tagged by exiftool.
void make_tagged(const fs::path& root, const Tagged& image) {
    const fs::path path = root / image.file;
    auto converted = eye::testing::run(
        "/usr/bin/vips", {"copy", (eye::testing::k_images / "rocket.jpg").string(), path.string()},
        {}, 60s);
    INFO(converted.err);
    REQUIRE(converted.exit_code == 0);
    auto tagged = eye::testing::run(
        "/usr/bin/exiftool",
        {"-q", "-overwrite_original", "-Make=Canon", "-Model=EOS 5D Mark IV",
         "-LensModel=EF24-70mm f/2.8L II USM", "-DateTimeOriginal=2024:05:06 07:08:09",
         "-ExposureTime=1/125", "-FNumber=2.8", "-ISO=400", "-FocalLength=50.1",
         fmt::format("-GPSLatitude={}", std::abs(image.latitude)),
         fmt::format("-GPSLatitudeRef={}", image.latitude < 0 ? "S" : "N"),
         fmt::format("-GPSLongitude={}", std::abs(image.longitude)),
         fmt::format("-GPSLongitudeRef={}", image.longitude < 0 ? "W" : "E"), path.string()},
        {}, 60s);
    INFO(tagged.err);
    REQUIRE(tagged.exit_code == 0);
}

// What exiftool reads back, as numbers (-n).
rapidjson::Document exiftool_read(const fs::path& path) {
    auto read_back =
        eye::testing::run("/usr/bin/exiftool",
                          {"-j", "-n", "-Make", "-Model", "-LensModel", "-DateTimeOriginal",
                           "-ExposureTime", "-FNumber", "-ISO", "-FocalLength", "-GPSLatitude",
                           "-GPSLongitude", "-ImageWidth", "-ImageHeight", path.string()},
                          {}, 60s);
    REQUIRE(read_back.exit_code == 0);
    auto parsed = eye::json::parse(read_back.out);
    REQUIRE(parsed);
    return std::move(*parsed);
}

eye::testing::ProcessResult run_worker(const TestDatabase& db, const fs::path& root,
                                       const TempDir& dir) {
    auto import = eye::testing::run("eye", {"media:import", root.string()},
                                    {{"EYE_DATABASE_URL", db.url()},
                                     {"EYE_MEDIA_ROOT", root.string()},
                                     {"EYE_STATE_DIR", dir.str()}},
                                    60s);
    INFO(import.err);
    REQUIRE(import.exit_code == 0);
    return eye::testing::run("eye-worker", {"--stop-when-empty", "--analyzer=builtin"},
                             {{"EYE_DATABASE_URL", db.url()},
                              {"EYE_MEDIA_ROOT", root.string()},
                              {"EYE_STATE_DIR", dir.str()}},
                             120s);
}

}  // namespace

TEST_CASE("eye-worker records the EXIF metadata exiftool wrote, in upstream's formats") {
    TestDatabase db;
    TempDir dir;
    const fs::path root = dir.path / "media";
    fs::create_directories(root);
    const std::vector<Tagged> images = {
        {"paris.jpg", 48.858370, 2.294481},    {"sydney.png", -33.856784, 151.215297},
        {"rio.webp", -22.951916, -43.210487},  {"new-york.tif", 40.689247, -74.044502},
        {"tokyo.heic", 35.658581, 139.745438}, {"cape-town.avif", -33.962822, 18.409840},
    };
    for (const auto& image : images) {
        INFO(image.file);
        make_tagged(root, image);
    }
    auto worker = run_worker(db, root, dir);
    INFO(worker.err);
    REQUIRE(worker.exit_code == 0);

    for (const auto& image : images) {
        INFO(image.file);
        auto read_back = exiftool_read(root / image.file);
        const auto& exiftool = read_back[0];
        auto column = [&](const char* expression) {
            return db.query_value(fmt::format("SELECT {} FROM media_files WHERE file_path = '{}'",
                                              expression, image.file));
        };
        REQUIRE(column("processing_status || coalesce(processing_error, '')") == "completed");
        CHECK(column("camera_make") == exiftool["Make"].GetString());
        CHECK(column("camera_model") == exiftool["Model"].GetString());
        CHECK(column("lens_model") == exiftool["LensModel"].GetString());
        // exiftool's "2024:05:06 07:08:09", as a timestamp
        std::string date = exiftool["DateTimeOriginal"].GetString();
        date[4] = '-';
        date[7] = '-';
        CHECK(column("date_taken") == date);
        CHECK(column("exposure_time") == "1/125s");
        CHECK(exiftool["ExposureTime"].GetDouble() == Approx(1.0 / 125));
        CHECK(column("f_number") == fmt::format("f/{:.1f}", exiftool["FNumber"].GetDouble()));
        CHECK(column("iso") == std::to_string(exiftool["ISO"].GetInt64()));
        CHECK(std::stod(column("focal_length")) ==
              Approx(exiftool["FocalLength"].GetDouble()).margin(0.05));
        // decimal(10, 7): within a hundred-millionth of a degree of exiftool's composite value
        CHECK(std::stod(column("gps_latitude")) ==
              Approx(exiftool["GPSLatitude"].GetDouble()).margin(1e-7));
        CHECK(std::stod(column("gps_longitude")) ==
              Approx(exiftool["GPSLongitude"].GetDouble()).margin(1e-7));
        CHECK(std::signbit(std::stod(column("gps_latitude"))) == (image.latitude < 0));
        CHECK(std::signbit(std::stod(column("gps_longitude"))) == (image.longitude < 0));
        CHECK(column("exif_data->'IFD0'->>'Model'") == exiftool["Model"].GetString());
        CHECK(column("exif_data->'EXIF'->>'ExposureTime'") == "1/125");
        CHECK(column("width || 'x' || height") == fmt::format("{}x{}",
                                                              exiftool["ImageWidth"].GetInt(),
                                                              exiftool["ImageHeight"].GetInt()));
    }
    CHECK(db.query_value("SELECT string_agg(DISTINCT mime_type, ',' ORDER BY mime_type) FROM "
                         "media_files") ==
          "image/avif,image/heic,image/jpeg,image/png,image/tiff,image/webp");
}

TEST_CASE("a database without the metadata columns is analyzed all the same") {
    TestDatabase db;
    db.execute(
        "ALTER TABLE media_files DROP COLUMN exif_data, DROP COLUMN camera_make, DROP COLUMN "
        "camera_model, DROP COLUMN lens_model, DROP COLUMN date_taken, DROP COLUMN "
        "exposure_time, DROP COLUMN f_number, DROP COLUMN iso, DROP COLUMN focal_length, DROP "
        "COLUMN gps_latitude, DROP COLUMN gps_longitude");
    TempDir dir;
    const fs::path root = dir.path / "media";
    fs::create_directories(root);
    make_tagged(root, {"paris.jpg", 48.858370, 2.294481});
    auto worker = run_worker(db, root, dir);
    INFO(worker.err);
    REQUIRE(worker.exit_code == 0);
    CHECK(db.query_value("SELECT processing_status || ' ' || width || 'x' || height FROM "
                         "media_files") == "completed 640x427");
}
