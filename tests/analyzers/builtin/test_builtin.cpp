#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/builtin/builtin.hpp"
#include "eye/analyzers/builtin/color.hpp"
#include "eye/analyzers/builtin/hashes.hpp"
#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/image/encode.hpp"
#include "eye/analyzers/image/format.hpp"
#include "eye/core/digest.hpp"
#include "eye/json/json.hpp"
#include "support/analysis.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

using eye::AnalysisResult;
using eye::analyzers::analyze_image_bytes;
using eye::analyzers::BuiltinAnalyzer;
using eye::analyzers::BuiltinOptions;
using eye::analyzers::decode_image;
using eye::analyzers::encode_jpeg;
using eye::analyzers::hash_distance;
using eye::analyzers::Image;
using eye::analyzers::MediaItem;
using eye::testing::analysis_error_of;
using eye::testing::decode_full;
using eye::testing::has_tag;
using eye::testing::k_images;
using eye::testing::k_photos;
using eye::testing::photo;
using eye::testing::solid_halves;
using eye::testing::TempDir;

namespace fs = std::filesystem;

namespace {

// Writes `bytes` to the file `name` in `dir` and returns its path.
fs::path write_file(const TempDir& dir, const std::string& name, const std::string& bytes) {
    const fs::path path = dir.path / name;
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    REQUIRE(out.good());
    return path;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double sum = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        sum += double(a[i]) * b[i];
    }
    return sum;
}

bool is_hex64(const std::string& text) {
    return text.size() == 16 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A shrunk, recompressed copy: what a chat app or a "save for web" makes of a photo.
std::string reencoded_copy(const std::string& bytes) {
    const Image image = decode_full(bytes);
    return encode_jpeg(image, std::max(image.width, image.height) * 3 / 4, 80);
}

}  // namespace

TEST_CASE("analyze_image_bytes gives sensible figures for every sample photo") {
    const std::set<std::string> tiers = {"excellent", "good", "fair", "poor"};
    const std::set<std::string> names = {"black", "white", "gray", "red",    "orange", "yellow",
                                         "green", "cyan",  "blue", "purple", "pink",   "brown"};
    for (const auto& sample : k_photos) {
        INFO(sample.file);
        const std::string bytes = photo(sample.file);
        const AnalysisResult result = analyze_image_bytes(bytes);

        CHECK(result.analyzer == "builtin");
        CHECK(result.model_version == "builtin-2");
        CHECK(*result.width == sample.width);
        CHECK(*result.height == sample.height);
        CHECK(*result.mime_type == eye::analyzers::sniff_mime(bytes));
        CHECK(*result.file_size == static_cast<std::int64_t>(bytes.size()));
        CHECK(*result.file_hash == eye::sha256_hex(bytes));
        CHECK(result.face_count == 0);
        CHECK(is_hex64(*result.phash));
        CHECK(is_hex64(*result.dhash));

        REQUIRE(result.meta_tags.size() >= 3);
        CHECK(result.meta_tags[0] == sample.orientation);
        CHECK(result.meta_tags[1] == sample.palette);

        const auto& embedding = *result.embedding;
        REQUIRE(embedding.size() == 512);
        CHECK(std::all_of(embedding.begin(), embedding.end(),
                          [](float v) { return std::isfinite(v); }));
        CHECK(dot(embedding, embedding) == Approx(1.0).epsilon(1e-5));

        auto quality = eye::json::parse(*result.image_quality_json);
        REQUIRE(quality);
        for (const char* field : {"overall_score", "sharpness", "brightness", "contrast"}) {
            const auto value = eye::json::get_number(*quality, field);
            REQUIRE(value);
            CHECK(*value >= 0.0);
            CHECK(*value <= 1.0);
        }
        const auto* issues = eye::json::member(*quality, "issues");
        REQUIRE(issues != nullptr);
        for (const char* field : {"is_blurry", "is_dark", "is_overexposed", "is_low_contrast"}) {
            CHECK(eye::json::get_bool(*issues, field).has_value());
        }
        CHECK(tiers.count(*result.quality_tier) == 1);

        auto colors = eye::json::parse(*result.dominant_colors_json);
        REQUIRE(colors);
        REQUIRE(colors->IsArray());
        REQUIRE(colors->Size() >= 1);
        CHECK(colors->Size() <= 5);
        double total = 0;
        double previous = 101;
        for (const auto& color : colors->GetArray()) {
            const auto hex = eye::json::get_string(color, "hex");
            REQUIRE(hex);
            CHECK(hex->size() == 7);
            const auto& rgb = color["rgb"];
            REQUIRE(rgb.Size() == 3);
            CHECK(*hex == fmt::format("#{:02x}{:02x}{:02x}", rgb[0].GetInt(), rgb[1].GetInt(),
                                      rgb[2].GetInt()));
            CHECK(names.count(*eye::json::get_string(color, "name")) == 1);
            const double percentage = *eye::json::get_number(color, "percentage");
            CHECK(percentage <= previous);
            previous = percentage;
            total += percentage;
        }
        CHECK(total == Approx(100.0).margin(0.5));

        const std::string& description = *result.description;
        CHECK_THAT(description,
                   Catch::Contains(fmt::format("{} {} image", sample.orientation, sample.palette)));
        CHECK(description.back() == '.');
        CHECK_THAT(*result.detailed_description,
                   Catch::Contains(fmt::format("{}x{} pixel", sample.width, sample.height)));
    }
}

TEST_CASE("analyze_image_bytes states the facts a viewer would agree with") {
    const auto chelsea = analyze_image_bytes(photo("chelsea.png"));
    CHECK(has_tag(chelsea, "brown"));
    CHECK(*chelsea.description == "A sharp landscape color image dominated by brown and gray.");

    const auto hubble = analyze_image_bytes(photo("hubble_deep_field.jpg"));
    CHECK(has_tag(hubble, "dark"));
    CHECK(has_tag(hubble, "black"));
    CHECK_THAT(*hubble.image_quality_json, Catch::Contains("\"is_dark\":true"));

    const auto retina = analyze_image_bytes(photo("retina.jpg"));
    CHECK(has_tag(retina, "red"));
    // soft, but its vessels stay crisp at the 512 pixels it is measured at: neither tag
    CHECK_FALSE(has_tag(retina, "sharp"));
    CHECK_FALSE(has_tag(retina, "blurry"));

    const auto rocket = analyze_image_bytes(photo("rocket.jpg"));
    CHECK(has_tag(rocket, "blue"));

    const auto horse = analyze_image_bytes(photo("horse.png"));
    CHECK(has_tag(horse, "white"));
    CHECK(has_tag(horse, "black"));
    CHECK(has_tag(horse, "high-contrast"));

    const auto camera = analyze_image_bytes(photo("camera.png"));
    CHECK(has_tag(camera, "sharp"));
    CHECK(*camera.quality_tier == "excellent");

    const auto cell = analyze_image_bytes(photo("cell.png"));
    CHECK(has_tag(cell, "blurry"));
    CHECK(*cell.quality_tier == "poor");
}

TEST_CASE("an RGB image whose channels are nearly equal is grayscale, a tinted one is color") {
    // camera.png is a grey PNG; as a 3-channel JPEG it carries chroma noise in every pixel.
    const Image camera = decode_full(photo("camera.png"));
    const std::string rgb_jpeg = encode_jpeg(camera, 0, 75);
    REQUIRE(decode_image(rgb_jpeg, 512).bands_in_file == 3);
    CHECK(analyze_image_bytes(rgb_jpeg).meta_tags[1] == "grayscale");

    Image sepia = camera;
    for (std::size_t i = 0; i < sepia.rgb.size(); i += 3) {
        const int grey = sepia.rgb[i];
        sepia.rgb[i] = static_cast<std::uint8_t>(std::min(255, grey + 40));
        sepia.rgb[i + 2] = static_cast<std::uint8_t>(std::max(0, grey - 30));
    }
    CHECK(analyze_image_bytes(encode_jpeg(sepia, 0, 90)).meta_tags[1] == "color");
}

TEST_CASE("a flat image and a one-pixel image are analyzed without noise in their hashes") {
    const Image flat = solid_halves(64, 48, {119, 119, 119}, {119, 119, 119});
    const auto result = analyze_image_bytes(encode_jpeg(flat, 0, 90));
    CHECK(*result.phash == "8000000000000000");
    CHECK(*result.dhash == "0000000000000000");
    CHECK(result.meta_tags ==
          std::vector<std::string>{"landscape", "grayscale", "gray", "blurry", "low-contrast"});
    CHECK(*result.description ==
          "A blurry, low-contrast landscape grayscale image dominated by gray.");

    const Image one = solid_halves(1, 1, {10, 200, 30}, {10, 200, 30});
    const auto tiny = analyze_image_bytes(encode_jpeg(one, 0, 90));
    CHECK(*tiny.width == 1);
    CHECK(has_tag(tiny, "square"));
    CHECK(has_tag(tiny, "green"));
    CHECK(dot(*tiny.embedding, *tiny.embedding) == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("analyze_image_bytes is deterministic") {
    const std::string bytes = photo("coffee.png");
    const auto first = analyze_image_bytes(bytes);
    const auto second = analyze_image_bytes(bytes);
    CHECK(*first.phash == *second.phash);
    CHECK(*first.dhash == *second.dhash);
    CHECK(*first.dominant_colors_json == *second.dominant_colors_json);
    CHECK(*first.image_quality_json == *second.image_quality_json);
    CHECK(*first.embedding == *second.embedding);
    CHECK(first.meta_tags == second.meta_tags);
    CHECK(*first.description == *second.description);
}

TEST_CASE("phash and dhash barely move for a re-encoded copy and differ widely between photos") {
    std::vector<AnalysisResult> originals;
    for (const auto& sample : k_photos) {
        INFO(sample.file);
        const std::string bytes = photo(sample.file);
        originals.push_back(analyze_image_bytes(bytes));
        const auto copy = analyze_image_bytes(reencoded_copy(bytes));
        CHECK(hash_distance(*originals.back().phash, *copy.phash) <= 6);
        CHECK(hash_distance(*originals.back().dhash, *copy.dhash) <= 8);
    }
    for (std::size_t i = 0; i < originals.size(); ++i) {
        for (std::size_t j = i + 1; j < originals.size(); ++j) {
            INFO(k_photos[i].file << " vs " << k_photos[j].file);
            CHECK(hash_distance(*originals[i].phash, *originals[j].phash) >= 16);
            CHECK(hash_distance(*originals[i].dhash, *originals[j].dhash) >= 10);
        }
    }
}

TEST_CASE("an embedding is nearer to its own re-encoded copy than to any other photo") {
    std::vector<std::vector<float>> originals;
    std::vector<std::vector<float>> copies;
    for (const auto& sample : k_photos) {
        const std::string bytes = photo(sample.file);
        originals.push_back(*analyze_image_bytes(bytes).embedding);
        copies.push_back(*analyze_image_bytes(reencoded_copy(bytes)).embedding);
    }
    for (std::size_t i = 0; i < originals.size(); ++i) {
        INFO(k_photos[i].file);
        const double own = dot(originals[i], copies[i]);
        CHECK(own > 0.99);
        for (std::size_t j = 0; j < originals.size(); ++j) {
            if (j != i) {
                INFO("other " << k_photos[j].file);
                CHECK(dot(originals[i], originals[j]) < own - 0.1);
                CHECK(dot(originals[i], copies[j]) < own - 0.1);
            }
        }
    }
}

TEST_CASE("the embedding dimension option folds or pads to exactly that many values") {
    const std::string bytes = photo("astronaut.png");
    for (int dimension : {1, 64, 128, 511, 513, 768, 1024}) {
        INFO("dimension " << dimension);
        BuiltinOptions options;
        options.embedding_dimension = dimension;
        const auto embedding = *analyze_image_bytes(bytes, options).embedding;
        REQUIRE(embedding.size() == static_cast<std::size_t>(dimension));
        CHECK(std::all_of(embedding.begin(), embedding.end(),
                          [](float v) { return std::isfinite(v); }));
        CHECK(dot(embedding, embedding) == Approx(1.0).epsilon(1e-5));
    }
    BuiltinOptions zero;
    zero.embedding_dimension = 0;
    CHECK_THROWS_AS(analyze_image_bytes(bytes, zero), std::invalid_argument);
    CHECK_THROWS_AS(BuiltinAnalyzer{zero}, std::invalid_argument);
}

TEST_CASE("color_name gives the basic name a person would use") {
    using eye::analyzers::color_name;
    CHECK(color_name(255, 128, 0) == "orange");
    CHECK(color_name(255, 0, 0) == "red");
    CHECK(color_name(0, 160, 0) == "green");
    CHECK(color_name(20, 40, 220) == "blue");
    CHECK(color_name(10, 20, 70) == "blue");
    CHECK(color_name(250, 240, 30) == "yellow");
    CHECK(color_name(0, 220, 220) == "cyan");
    CHECK(color_name(120, 20, 140) == "purple");
    CHECK(color_name(255, 180, 200) == "pink");
    CHECK(color_name(120, 70, 30) == "brown");
    CHECK(color_name(0, 0, 0) == "black");
    CHECK(color_name(255, 255, 255) == "white");
    CHECK(color_name(128, 128, 128) == "gray");
    CHECK(color_name(200, 200, 200) == "gray");
}

TEST_CASE("hash_distance counts differing bits and refuses what is not a 64-bit hash") {
    CHECK(hash_distance("0000000000000000", "0000000000000000") == 0);
    CHECK(hash_distance("0000000000000000", "ffffffffffffffff") == 64);
    CHECK(hash_distance("8000000000000001", "0000000000000000") == 2);
    CHECK(hash_distance("ABCDEF0123456789", "abcdef0123456789") == 0);
    CHECK_THROWS_AS(hash_distance("abc", "0000000000000000"), std::invalid_argument);
    CHECK_THROWS_AS(hash_distance("000000000000000g", "0000000000000000"), std::invalid_argument);
}

TEST_CASE("BuiltinAnalyzer reads the file and names itself builtin-2") {
    BuiltinAnalyzer analyzer;
    CHECK(analyzer.name() == "builtin");
    CHECK(analyzer.model_version() == "builtin-2");

    MediaItem item;
    item.id = 7;
    item.file_path = "chelsea.png";
    item.set_file(k_images / "chelsea.png");
    const auto result = analyzer.analyze(item);
    CHECK(*result.file_hash == "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb");
    CHECK(*result.width == 451);
    CHECK(*result.height == 300);
    CHECK(*result.embedding == *analyze_image_bytes(photo("chelsea.png")).embedding);
}

TEST_CASE("BuiltinAnalyzer refuses missing, truncated and fake image files for good") {
    TempDir dir;
    BuiltinAnalyzer analyzer;
    MediaItem item;

    item.set_file(dir.path / "missing.jpg");
    const auto missing = analysis_error_of([&] { analyzer.analyze(item); });
    CHECK(missing.permanent());
    CHECK(std::string(missing.what()) ==
          fmt::format("cannot read '{}': No such file or directory", item.absolute_path.string()));

    const std::string rocket = photo("rocket.jpg");
    item.set_file(write_file(dir, "rocket-half.jpg", rocket.substr(0, rocket.size() / 2)));
    const auto truncated = analysis_error_of([&] { analyzer.analyze(item); });
    CHECK(truncated.permanent());
    CHECK(std::string(truncated.what()) ==
          fmt::format("truncated JPEG: data ends at byte {} before the end-of-image marker",
                      rocket.size() / 2));

    item.set_file(write_file(dir, "x.jpg", "This is a text file, whatever its name says.\n"));
    const auto text = analysis_error_of([&] { analyzer.analyze(item); });
    CHECK(text.permanent());
    CHECK(std::string(text.what()) == "not a supported image (looks like text)");

    item.set_file(dir.path);
    const auto directory = analysis_error_of([&] { analyzer.analyze(item); });
    CHECK(directory.permanent());
    CHECK_THAT(directory.what(), Catch::EndsWith("': not a regular file"));

    BuiltinOptions small;
    small.limits.max_file_bytes = 1000;
    BuiltinAnalyzer limited(small);
    item.set_file(k_images / "rocket.jpg");
    const auto large = analysis_error_of([&] { limited.analyze(item); });
    CHECK(large.permanent());
    CHECK_THAT(large.what(), Catch::StartsWith("image file is too large: 112525 bytes"));
}

TEST_CASE("BuiltinAnalyzer gives the same results from several threads at once") {
    BuiltinAnalyzer analyzer;
    std::vector<std::string> expected;
    for (const auto& sample : k_photos) {
        MediaItem item;
        item.set_file(k_images / sample.file);
        const auto result = analyzer.analyze(item);
        expected.push_back(*result.phash + *result.dhash + *result.dominant_colors_json +
                           *result.image_quality_json);
    }
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t k = 0; k < k_photos.size(); ++k) {
                const std::size_t i = (k + t * 3) % k_photos.size();
                MediaItem item;
                item.set_file(k_images / k_photos[i].file);
                const auto result = analyzer.analyze(item);
                if (*result.phash + *result.dhash + *result.dominant_colors_json +
                        *result.image_quality_json !=
                    expected[i]) {
                    ++mismatches;
                }
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    CHECK(mismatches == 0);
}

TEST_CASE("builtin throughput over the sample photos (printed, not asserted)") {
    BuiltinAnalyzer analyzer;
    constexpr int k_rounds = 3;
    std::int64_t pixels = 0;
    const auto start = std::chrono::steady_clock::now();
    for (int round = 0; round < k_rounds; ++round) {
        for (const auto& sample : k_photos) {
            MediaItem item;
            item.set_file(k_images / sample.file);
            const auto result = analyzer.analyze(item);
            pixels += std::int64_t(*result.width) * *result.height;
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto images = static_cast<double>(k_rounds * k_photos.size());
    std::cout << fmt::format(
                     "builtin analyzer: {} images in {:.2f} s = {:.1f} images/s, {:.1f} "
                     "megapixels/s, {:.1f} ms per image (one thread)\n",
                     images, seconds, images / seconds, pixels / 1e6 / seconds,
                     1000.0 * seconds / images)
              << std::flush;
    CHECK(seconds > 0);
}
