#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/builtin.hpp"
#include "eye/analyzers/image.hpp"
#include "eye/json/json.hpp"
#include "support/analysis.hpp"

using eye::analyzers::AnalysisError;
using eye::analyzers::AnalysisResult;
using eye::analyzers::analyze_image_bytes;
using eye::analyzers::BuiltinAnalyzer;
using eye::analyzers::BuiltinOptions;
using eye::analyzers::decode_image;
using eye::analyzers::DecodeLimits;
using eye::analyzers::encode_jpeg;
using eye::analyzers::hash_distance;
using eye::analyzers::Image;
using eye::analyzers::MediaItem;
using eye::testing::analysis_error_of;

namespace fs = std::filesystem;

namespace {

const fs::path k_images = fs::path(EYE_SOURCE_DIR) / "tests/fixtures/images";

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::string photo(const std::string& name) {
    return read_file(k_images / name);
}

// A directory of its own per test, removed afterwards.
class TempDir {
public:
    TempDir() {
        static std::atomic<int> counter{0};
        m_path = fs::temp_directory_path() /
                 fmt::format("eye-test-builtin-{}-{}", ::getpid(), counter++);
        fs::create_directories(m_path);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(m_path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    fs::path write(const std::string& name, const std::string& bytes) const {
        const fs::path path = m_path / name;
        std::ofstream out(path, std::ios::binary);
        out << bytes;
        REQUIRE(out.good());
        return path;
    }
    const fs::path& path() const { return m_path; }

private:
    fs::path m_path;
};

struct SamplePhoto {
    const char* file;
    int width;
    int height;
    int channels_in_file;
    const char* orientation;
    const char* palette;
};

// Sizes as the files store them. SOURCES.md gives numpy's rows x columns for rocket.jpg (427x640):
// it is 640 wide and 427 high, a landscape. horse.png is stored as RGBA, not grey+alpha.
const std::vector<SamplePhoto> k_photos = {
    {"astronaut.png", 512, 512, 3, "square", "color"},
    {"brick.png", 512, 512, 1, "square", "grayscale"},
    {"camera.png", 512, 512, 1, "square", "grayscale"},
    {"cell.png", 550, 660, 1, "portrait", "grayscale"},
    {"chelsea.png", 451, 300, 3, "landscape", "color"},
    {"coffee.png", 600, 400, 3, "landscape", "color"},
    {"coins.png", 384, 303, 1, "landscape", "grayscale"},
    {"grass.png", 512, 512, 1, "square", "grayscale"},
    {"gravel.png", 512, 512, 1, "square", "grayscale"},
    {"horse.png", 400, 328, 4, "landscape", "grayscale"},
    {"hubble_deep_field.jpg", 1000, 872, 3, "landscape", "color"},
    {"retina.jpg", 1411, 1411, 3, "square", "color"},
    {"rocket.jpg", 640, 427, 3, "landscape", "color"},
    {"text.png", 448, 172, 1, "landscape", "grayscale"},
};

bool has_tag(const AnalysisResult& result, const std::string& tag) {
    return std::find(result.meta_tags.begin(), result.meta_tags.end(), tag) !=
           result.meta_tags.end();
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
    const Image image = decode_image(bytes);
    return encode_jpeg(image, std::max(image.width, image.height) * 3 / 4, 80);
}

Image solid_halves(int width, int height, std::array<std::uint8_t, 3> left,
                   std::array<std::uint8_t, 3> right) {
    Image image;
    image.width = width;
    image.height = height;
    image.channels_in_file = 3;
    image.rgb.resize(std::size_t(width) * height * 3);
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            const auto& color = x < width / 2 ? left : right;
            std::copy(color.begin(), color.end(), &image.rgb[(std::size_t(y) * width + x) * 3]);
        }
    }
    return image;
}

std::array<int, 3> pixel(const Image& image, int x, int y) {
    const std::size_t at = (std::size_t(y) * image.width + x) * 3;
    return {image.rgb[at], image.rgb[at + 1], image.rgb[at + 2]};
}

// An APP1 "Exif" segment holding only IFD0 with the orientation tag, little-endian.
std::string exif_segment(int orientation) {
    std::string payload("Exif\0\0II\x2a\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0", 24);
    payload += static_cast<char>(orientation);
    payload += std::string(3, '\0');
    payload += std::string(4, '\0');
    std::string segment("\xff\xe1", 2);
    const std::size_t length = payload.size() + 2;
    segment += static_cast<char>(length >> 8);
    segment += static_cast<char>(length & 0xff);
    return segment + payload;
}

}  // namespace

TEST_CASE("sha256_hex matches the FIPS 180-4 test vectors and sha256sum") {
    using eye::analyzers::sha256_hex;
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(
        sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmno"
                   "pqklmnopqrlmnopqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    // Lengths around the 55/56/64-byte padding boundaries, checked against Python's hashlib.
    auto pattern = [](std::size_t n) {
        std::string bytes;
        for (std::size_t i = 0; i < n; ++i) {
            bytes += static_cast<char>((i * 7 + 3) & 0xff);
        }
        return bytes;
    };
    const std::vector<std::pair<std::size_t, const char*>> boundaries = {
        {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
        {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
        {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
        {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
        {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
        {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
        {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
        {1000, "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371"},
    };
    for (const auto& [length, digest] : boundaries) {
        INFO("length " << length);
        CHECK(sha256_hex(pattern(length)) == digest);
    }
    CHECK(sha256_hex(photo("chelsea.png")) ==
          "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb");
}

TEST_CASE("sniff_mime reads the magic bytes, not the name") {
    using eye::analyzers::sniff_mime;
    CHECK(sniff_mime(photo("rocket.jpg")) == "image/jpeg");
    CHECK(sniff_mime(photo("chelsea.png")) == "image/png");
    CHECK(sniff_mime("hello, I am a text file named x.jpg\n") == "");
    CHECK(sniff_mime("GIF89a....") == "");
    CHECK(sniff_mime("") == "");
    CHECK(sniff_mime(std::string("\xff\xd8", 2)) == "");
}

TEST_CASE("decode_image reads every sample photo as upright 8-bit RGB") {
    for (const auto& sample : k_photos) {
        INFO(sample.file);
        const Image image = decode_image(photo(sample.file));
        CHECK(image.width == sample.width);
        CHECK(image.height == sample.height);
        CHECK(image.channels_in_file == sample.channels_in_file);
        CHECK(image.rgb.size() == std::size_t(sample.width) * sample.height * 3);
    }
}

TEST_CASE("decode_image composites an alpha channel over white") {
    // horse.png is a black silhouette on a transparent background.
    const Image horse = decode_image(photo("horse.png"));
    CHECK(pixel(horse, 0, 0) == std::array<int, 3>{255, 255, 255});
    CHECK(pixel(horse, horse.width / 2, horse.height / 2) == std::array<int, 3>{0, 0, 0});
}

TEST_CASE("decode_image refuses a text file named .jpg as not a JPEG or PNG image") {
    const auto error = analysis_error_of([] { decode_image("just some notes, not a photo\n"); });
    CHECK(error.permanent());
    CHECK(std::string(error.what()) == "not a JPEG or PNG image (looks like text)");

    const auto gif = analysis_error_of([] { decode_image("GIF89a\x01\x00\x01\x00"); });
    CHECK(std::string(gif.what()) == "not a JPEG or PNG image (looks like GIF)");
    const auto empty = analysis_error_of([] { decode_image(""); });
    CHECK(std::string(empty.what()) == "not a JPEG or PNG image (the file is empty)");
}

TEST_CASE("decode_image refuses truncated JPEG and PNG files that stb would half-decode") {
    const std::string rocket = photo("rocket.jpg");
    const auto jpeg = analysis_error_of(
        [&] { decode_image(std::string_view(rocket).substr(0, rocket.size() / 2)); });
    CHECK(jpeg.permanent());
    CHECK_THAT(jpeg.what(), Catch::StartsWith("truncated JPEG: data ends at byte"));

    // Cut just before the end-of-image marker: every scan byte is there but the file is not whole.
    const auto almost = analysis_error_of(
        [&] { decode_image(std::string_view(rocket).substr(0, rocket.size() - 2)); });
    CHECK_THAT(almost.what(), Catch::StartsWith("truncated JPEG"));

    const std::string chelsea = photo("chelsea.png");
    const auto png = analysis_error_of(
        [&] { decode_image(std::string_view(chelsea).substr(0, chelsea.size() / 2)); });
    CHECK(png.permanent());
    CHECK_THAT(png.what(), Catch::StartsWith("truncated PNG"));
    const auto no_iend = analysis_error_of(
        [&] { decode_image(std::string_view(chelsea).substr(0, chelsea.size() - 12)); });
    CHECK_THAT(no_iend.what(), Catch::Contains("before the IEND chunk"));
}

TEST_CASE("decode_image refuses a PNG whose data was damaged") {
    std::string chelsea = photo("chelsea.png");
    chelsea[chelsea.size() / 2] = static_cast<char>(chelsea[chelsea.size() / 2] ^ 0x5a);
    const auto error = analysis_error_of([&] { decode_image(chelsea); });
    CHECK(error.permanent());
    CHECK_THAT(error.what(), Catch::StartsWith("corrupt PNG: CRC mismatch in chunk 'IDAT'"));
}

TEST_CASE("decode_image refuses a JPEG whose headers make no sense") {
    const auto zero = analysis_error_of(
        [] { decode_image(std::string("\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x00\x03", 12)); });
    CHECK(zero.permanent());
    CHECK(std::string(zero.what()) == "corrupt JPEG: the frame header says 0x16 pixels");

    const auto no_frame = analysis_error_of(
        [] { decode_image(std::string("\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00", 12)); });
    CHECK(std::string(no_frame.what()) == "corrupt JPEG: no frame header before the image data");

    // A frame header claiming 2 components but sized for 3: stb's own reason is passed on.
    std::string rocket = photo("rocket.jpg");
    const auto sof = rocket.find("\xff\xc0");
    REQUIRE(sof != std::string::npos);
    rocket[sof + 9] = 2;
    const auto components = analysis_error_of([&] { decode_image(rocket); });
    CHECK(components.permanent());
    CHECK_THAT(components.what(), Catch::StartsWith("corrupt JPEG: "));
}

TEST_CASE("decode_image accepts data after a complete image") {
    // Motion photos append a video after the JPEG's end marker; tools append padding to PNGs.
    const Image jpeg = decode_image(photo("rocket.jpg") + std::string(5000, '\x42'));
    CHECK(jpeg.width == 640);
    const Image png = decode_image(photo("chelsea.png") + "trailing bytes");
    CHECK(png.width == 451);
}

TEST_CASE("decode_image refuses an image over the pixel limit from its header alone") {
    DecodeLimits small;
    small.max_pixels = 100'000;
    const auto error = analysis_error_of([&] { decode_image(photo("rocket.jpg"), small); });
    CHECK(error.permanent());
    CHECK(std::string(error.what()) ==
          "image is too large: 640x427 is 0.3 megapixels, the limit is 0.1");

    // A PNG that is nothing but a header claiming 20000x20000 pixels: no pixel data to decode,
    // so the default 100-megapixel limit can only have been applied to the header.
    std::string bomb(
        "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x4e\x20\x00\x00\x4e\x20\x08\x02"
        "\x00\x00\x00\x00\x00\x00\x00",
        33);
    const auto huge = analysis_error_of([&] { decode_image(bomb); });
    CHECK(std::string(huge.what()) ==
          "image is too large: 20000x20000 is 400.0 megapixels, the limit is 100.0");
}

TEST_CASE("decode_image refuses a file over the size limit before looking at it") {
    DecodeLimits small;
    small.max_file_bytes = 1000;
    const auto error = analysis_error_of([&] { decode_image(photo("rocket.jpg"), small); });
    CHECK(error.permanent());
    CHECK(std::string(error.what()) ==
          "image file is too large: 112525 bytes, the limit is 1000 bytes");
}

TEST_CASE("decode_image turns a JPEG upright by its EXIF orientation") {
    // Red on the left, blue on the right; orientation 6 says "rotate 90 degrees clockwise to
    // show", which puts the left (red) side at the top.
    const Image sideways = solid_halves(64, 32, {255, 0, 0}, {0, 0, 255});
    const std::string plain = encode_jpeg(sideways, 0, 95);
    const std::string tagged = plain.substr(0, 2) + exif_segment(6) + plain.substr(2);

    const Image upright = decode_image(tagged);
    REQUIRE(upright.width == 32);
    REQUIRE(upright.height == 64);
    const auto top = pixel(upright, 16, 8);
    const auto bottom = pixel(upright, 16, 56);
    CHECK(top[0] > 200);
    CHECK(top[2] < 60);
    CHECK(bottom[2] > 200);
    CHECK(bottom[0] < 60);

    const auto result = analyze_image_bytes(tagged);
    CHECK(*result.width == 32);
    CHECK(*result.height == 64);
    CHECK(has_tag(result, "portrait"));

    const Image mirrored = decode_image(plain.substr(0, 2) + exif_segment(2) + plain.substr(2));
    CHECK(mirrored.width == 64);
    CHECK(pixel(mirrored, 8, 16)[2] > 200);
}

TEST_CASE("encode_jpeg scales the longer side down to max_side and keeps the aspect ratio") {
    const Image chelsea = decode_image(photo("chelsea.png"));
    const std::string jpeg = encode_jpeg(chelsea, 200, 85);
    CHECK(eye::analyzers::sniff_mime(jpeg) == "image/jpeg");
    const Image small = decode_image(jpeg);
    CHECK(small.width == 200);
    CHECK(small.height == 133);

    const Image portrait = decode_image(photo("cell.png"));
    const Image small_portrait = decode_image(encode_jpeg(portrait, 100, 85));
    CHECK(small_portrait.height == 100);
    CHECK(small_portrait.width == 83);

    // Never enlarged; a lower quality gives a smaller file.
    CHECK(decode_image(encode_jpeg(chelsea, 4000, 85)).width == 451);
    CHECK(encode_jpeg(chelsea, 0, 30).size() < encode_jpeg(chelsea, 0, 95).size());
    CHECK_THROWS_AS(encode_jpeg(Image{}, 100, 80), std::invalid_argument);
}

TEST_CASE("analyze_image_bytes gives sensible figures for every sample photo") {
    const std::set<std::string> tiers = {"excellent", "good", "fair", "poor"};
    const std::set<std::string> names = {"black", "white", "gray", "red",    "orange", "yellow",
                                         "green", "cyan",  "blue", "purple", "pink",   "brown"};
    for (const auto& sample : k_photos) {
        INFO(sample.file);
        const std::string bytes = photo(sample.file);
        const AnalysisResult result = analyze_image_bytes(bytes);

        CHECK(result.analyzer == "builtin");
        CHECK(result.model_version == "builtin-1");
        CHECK(*result.width == sample.width);
        CHECK(*result.height == sample.height);
        CHECK(*result.mime_type == eye::analyzers::sniff_mime(bytes));
        CHECK(*result.file_size == static_cast<std::int64_t>(bytes.size()));
        CHECK(*result.file_hash == eye::analyzers::sha256_hex(bytes));
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
    CHECK(has_tag(retina, "blurry"));
    CHECK_THAT(*retina.image_quality_json, Catch::Contains("\"is_blurry\":true"));

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
    const Image camera = decode_image(photo("camera.png"));
    const std::string rgb_jpeg = encode_jpeg(camera, 0, 75);
    REQUIRE(decode_image(rgb_jpeg).channels_in_file == 3);
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

TEST_CASE("BuiltinAnalyzer reads the file and names itself builtin-1") {
    BuiltinAnalyzer analyzer;
    CHECK(analyzer.name() == "builtin");
    CHECK(analyzer.model_version() == "builtin-1");

    MediaItem item;
    item.id = 7;
    item.file_path = "chelsea.png";
    item.absolute_path = k_images / "chelsea.png";
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

    item.absolute_path = dir.path() / "missing.jpg";
    const auto missing = analysis_error_of([&] { analyzer.analyze(item); });
    CHECK(missing.permanent());
    CHECK(std::string(missing.what()) ==
          fmt::format("cannot read '{}': No such file or directory", item.absolute_path.string()));

    const std::string rocket = photo("rocket.jpg");
    item.absolute_path = dir.write("rocket-half.jpg", rocket.substr(0, rocket.size() / 2));
    const auto truncated = analysis_error_of([&] { analyzer.analyze(item); });
    CHECK(truncated.permanent());
    CHECK(std::string(truncated.what()) ==
          fmt::format("truncated JPEG: data ends at byte {} before the end-of-image marker",
                      rocket.size() / 2));

    item.absolute_path = dir.write("x.jpg", "This is a text file, whatever its name says.\n");
    const auto text = analysis_error_of([&] { analyzer.analyze(item); });
    CHECK(text.permanent());
    CHECK(std::string(text.what()) == "not a JPEG or PNG image (looks like text)");

    item.absolute_path = dir.path();
    const auto directory = analysis_error_of([&] { analyzer.analyze(item); });
    CHECK(directory.permanent());
    CHECK_THAT(directory.what(), Catch::EndsWith("': not a regular file"));

    BuiltinOptions small;
    small.limits.max_file_bytes = 1000;
    BuiltinAnalyzer limited(small);
    item.absolute_path = k_images / "rocket.jpg";
    const auto large = analysis_error_of([&] { limited.analyze(item); });
    CHECK(large.permanent());
    CHECK_THAT(large.what(), Catch::StartsWith("image file is too large: 112525 bytes"));
}

TEST_CASE("BuiltinAnalyzer gives the same results from several threads at once") {
    BuiltinAnalyzer analyzer;
    std::vector<std::string> expected;
    for (const auto& sample : k_photos) {
        MediaItem item;
        item.absolute_path = k_images / sample.file;
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
                item.absolute_path = k_images / k_photos[i].file;
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
            item.absolute_path = k_images / sample.file;
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
