// EXIF metadata as upstream's MetadataService records it: its formats on the values PHP's
// exif_read_data gives, and libexif's reading of JPEGs the test tags with exiftool, compared
// field by field with what exiftool itself reads back, in all four hemispheres.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/exif.hpp"
#include "eye/json/json.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace eye::analyzers;
using eye::testing::TempDir;
using namespace std::chrono_literals;

TEST_CASE("upstream's formats: exposure, f-number, focal length, dates, text") {
    CHECK(format_exposure_time("1/125") == "1/125s");
    CHECK(format_exposure_time("10/1250") == "10/1250s");  // upstream does not reduce it
    CHECK(format_exposure_time("2") == "2");
    CHECK(format_f_number("28/10") == "f/2.8");
    CHECK(format_f_number("4/1") == "f/4.0");
    CHECK(format_f_number("35/10") == "f/3.5");
    CHECK(format_f_number("8") == "f/8");
    CHECK(format_focal_length("501/10") == Approx(50.1));
    CHECK(format_focal_length("50/1") == Approx(50.0));
    CHECK(format_focal_length("2667/100") == Approx(26.7));
    CHECK(format_focal_length("35") == Approx(35.0));
    CHECK_FALSE(format_focal_length("x").has_value());
    CHECK(parse_exif_date("2024:05:06 07:08:09") == std::string("2024-05-06 07:08:09"));
    CHECK_FALSE(parse_exif_date("0000:00:00 00:00:00").has_value());
    CHECK_FALSE(parse_exif_date("yesterday").has_value());
    CHECK(sanitize_exif_text(std::string("  Canon\0\x01\x1f\x7f ", 10)) == "Canon");
    CHECK(sanitize_exif_text("a\tb\nc") == "a\tb\nc");
    CHECK(sanitize_exif_text("caf\xc3\xa9") == "caf\xc3\xa9");
    CHECK(sanitize_exif_text("bad\xff byte") == "bad? byte");
}

TEST_CASE("no EXIF, no metadata") {
    CHECK_FALSE(read_exif("").has_value());
    CHECK_FALSE(read_exif("not an image at all").has_value());
    CHECK_FALSE(read_exif(eye::testing::photo("coffee.png")).has_value());
}

namespace {

struct Place {
    const char* name;
    double latitude;
    double longitude;
};

std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("libexif reads what exiftool wrote, as exiftool reads it back") {
    TempDir dir;
    for (const Place& place :
         {Place{"paris", 48.858370, 2.294481}, Place{"sydney", -33.856784, 151.215297},
          Place{"rio", -22.951916, -43.210487}, Place{"new-york", 40.689247, -74.044502}}) {
        INFO(place.name);
        const auto file = dir.path / (std::string(place.name) + ".jpg");
        std::filesystem::copy_file(eye::testing::k_images / "rocket.jpg", file);
        auto tagged = eye::testing::run(
            "/usr/bin/exiftool",
            {"-q", "-overwrite_original", "-Make=Canon\x01", "-Model=EOS 5D Mark IV",
             "-LensModel=EF24-70mm f/2.8L II USM", "-DateTimeOriginal=2024:05:06 07:08:09",
             "-ExposureTime=1/125", "-FNumber=2.8", "-ISO=400", "-FocalLength=50.1",
             fmt::format("-GPSLatitude={}", std::abs(place.latitude)),
             fmt::format("-GPSLatitudeRef={}", place.latitude < 0 ? "S" : "N"),
             fmt::format("-GPSLongitude={}", std::abs(place.longitude)),
             fmt::format("-GPSLongitudeRef={}", place.longitude < 0 ? "W" : "E"), file.string()},
            {}, 60s);
        INFO(tagged.err);
        REQUIRE(tagged.exit_code == 0);
        auto read_back = eye::testing::run(
            "/usr/bin/exiftool",
            {"-j", "-n", "-Make", "-Model", "-LensModel", "-DateTimeOriginal", "-ExposureTime",
             "-FNumber", "-ISO", "-FocalLength", "-GPSLatitude", "-GPSLongitude", file.string()},
            {}, 60s);
        REQUIRE(read_back.exit_code == 0);
        auto parsed = eye::json::parse(read_back.out);
        REQUIRE(parsed);
        const auto& exiftool = (*parsed)[0];

        auto metadata = read_exif(read_bytes(file));
        REQUIRE(metadata.has_value());
        // exiftool reads back the control character it wrote; upstream strips it
        CHECK(std::string(exiftool["Make"].GetString()) == "Canon\x01");
        CHECK(*metadata->camera_make == "Canon");
        CHECK(*metadata->camera_model == exiftool["Model"].GetString());
        CHECK(*metadata->lens_model == exiftool["LensModel"].GetString());
        CHECK(*metadata->date_taken == "2024-05-06 07:08:09");
        CHECK(*metadata->exposure_time == "1/125s");
        CHECK(exiftool["ExposureTime"].GetDouble() == Approx(1.0 / 125));
        CHECK(*metadata->f_number == fmt::format("f/{:.1f}", exiftool["FNumber"].GetDouble()));
        CHECK(*metadata->iso == exiftool["ISO"].GetInt64());
        CHECK(*metadata->focal_length == Approx(exiftool["FocalLength"].GetDouble()));
        // exiftool's signed composite values; 6 decimals of a degree are about 10 cm
        CHECK(*metadata->gps_latitude == Approx(exiftool["GPSLatitude"].GetDouble()).margin(1e-6));
        CHECK(*metadata->gps_longitude ==
              Approx(exiftool["GPSLongitude"].GetDouble()).margin(1e-6));
        CHECK(*metadata->gps_latitude == Approx(place.latitude).margin(1e-5));
        CHECK(*metadata->gps_longitude == Approx(place.longitude).margin(1e-5));

        auto sections = eye::json::parse(metadata->exif_json);
        REQUIRE(sections);
        CHECK((*sections)["IFD0"]["Make"].GetString() == std::string("Canon"));
        CHECK((*sections)["EXIF"]["ExposureTime"].GetString() == std::string("1/125"));
        CHECK((*sections)["EXIF"]["ISOSpeedRatings"].GetInt() == 400);
        CHECK((*sections)["GPS"]["GPSLatitude"].Size() == 3);
    }
}
