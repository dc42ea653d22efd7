// The image code under lib/eye/analyzers/image/: recognising a format by its magic bytes,
// decoding (and refusing) images on libvips, and encoding a scaled-down JPEG. The formats beyond
// JPEG and PNG, and hostile files, are in tests/corpus/.

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "eye/analyzers/builtin/builtin.hpp"
#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/image/encode.hpp"
#include "eye/analyzers/image/format.hpp"
#include "support/analysis.hpp"
#include "support/fixtures.hpp"

using eye::analyzers::analyze_image_bytes;
using eye::analyzers::decode_image;
using eye::analyzers::DecodeLimits;
using eye::analyzers::encode_jpeg;
using eye::analyzers::Image;
using eye::testing::analysis_error_of;
using eye::testing::decode_full;
using eye::testing::has_tag;
using eye::testing::k_photos;
using eye::testing::photo;
using eye::testing::solid_halves;

namespace {

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

TEST_CASE("sniff_mime reads the magic bytes, not the name") {
    using eye::analyzers::sniff_mime;
    CHECK(sniff_mime(photo("rocket.jpg")) == "image/jpeg");
    CHECK(sniff_mime(photo("chelsea.png")) == "image/png");
    CHECK(sniff_mime("hello, I am a text file named x.jpg\n") == "");
    CHECK(sniff_mime("GIF89a....") == "image/gif");
    CHECK(sniff_mime(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)) == "image/webp");
    CHECK(sniff_mime(std::string("II*\0\x08\0\0\0", 8)) == "image/tiff");
    CHECK(sniff_mime(std::string("\0\0\0\x18"
                                 "ftypheic\0\0\0\0mif1heic",
                                 24)) == "image/heic");
    // AVIF files often name the generic HEIF brand first and avif among the compatible ones
    CHECK(sniff_mime(std::string("\0\0\0\x1c"
                                 "ftypmif1\0\0\0\0mif1avifmiaf",
                                 28)) == "image/avif");
    CHECK(sniff_mime(std::string("\0\0\0\x18"
                                 "ftypisom\0\0\0\0isommp41",
                                 24)) == "");
    CHECK(sniff_mime("") == "");
    CHECK(sniff_mime(std::string("\xff\xd8", 2)) == "");
}

TEST_CASE("decode_image reads every sample photo as upright 8-bit RGB") {
    for (const auto& sample : k_photos) {
        INFO(sample.file);
        const auto decoded = decode_image(photo(sample.file), 1 << 20);
        CHECK(decoded.width == sample.width);
        CHECK(decoded.height == sample.height);
        CHECK(decoded.bands_in_file == sample.bands_in_file);
        CHECK(decoded.image.width == sample.width);
        CHECK(decoded.image.height == sample.height);
        CHECK(decoded.image.rgb.size() == std::size_t(sample.width) * sample.height * 3);

        // shrunk on load: the longer side is the one asked for, the aspect ratio kept
        const auto small = decode_image(photo(sample.file), 100);
        CHECK(std::max(small.image.width, small.image.height) == 100);
        CHECK(small.width == sample.width);
        CHECK(std::abs(double(small.image.width) / small.image.height -
                       double(sample.width) / sample.height) < 0.05);
    }
}

TEST_CASE("decode_image composites an alpha channel over white") {
    // horse.png is a black silhouette on a transparent background.
    const Image horse = decode_full(photo("horse.png"));
    CHECK(pixel(horse, 0, 0) == std::array<int, 3>{255, 255, 255});
    CHECK(pixel(horse, horse.width / 2, horse.height / 2) == std::array<int, 3>{0, 0, 0});
}

TEST_CASE("decode_image refuses a text file named .jpg as not a supported image") {
    const auto error = analysis_error_of([] { decode_full("just some notes, not a photo\n"); });
    CHECK(error.permanent());
    CHECK(std::string(error.what()) == "not a supported image (looks like text)");

    const auto bmp = analysis_error_of([] { decode_full("BM\x3a\0\0\0\0\0\0\0\x36\0"); });
    CHECK(std::string(bmp.what()) == "not a supported image (looks like BMP)");
    const auto empty = analysis_error_of([] { decode_full(""); });
    CHECK(std::string(empty.what()) == "not a supported image (the file is empty)");
    // a GIF header and nothing else
    const auto gif = analysis_error_of([] { decode_full("GIF89a\x01\x00\x01\x00"); });
    CHECK(gif.permanent());
    CHECK_THAT(gif.what(), Catch::StartsWith("cannot decode GIF: "));
}

TEST_CASE("decode_image refuses truncated JPEG and PNG files that a decoder would half-decode") {
    const std::string rocket = photo("rocket.jpg");
    const auto jpeg = analysis_error_of(
        [&] { decode_full(std::string_view(rocket).substr(0, rocket.size() / 2)); });
    CHECK(jpeg.permanent());
    CHECK_THAT(jpeg.what(), Catch::StartsWith("truncated JPEG: data ends at byte"));

    // Cut just before the end-of-image marker: every scan byte is there but the file is not whole.
    const auto almost = analysis_error_of(
        [&] { decode_full(std::string_view(rocket).substr(0, rocket.size() - 2)); });
    CHECK_THAT(almost.what(), Catch::StartsWith("truncated JPEG"));

    const std::string chelsea = photo("chelsea.png");
    const auto png = analysis_error_of(
        [&] { decode_full(std::string_view(chelsea).substr(0, chelsea.size() / 2)); });
    CHECK(png.permanent());
    CHECK_THAT(png.what(), Catch::StartsWith("truncated PNG"));
    const auto no_iend = analysis_error_of(
        [&] { decode_full(std::string_view(chelsea).substr(0, chelsea.size() - 12)); });
    CHECK_THAT(no_iend.what(), Catch::Contains("before the IEND chunk"));
}

TEST_CASE("decode_image refuses a PNG whose data was damaged") {
    std::string chelsea = photo("chelsea.png");
    chelsea[chelsea.size() / 2] = static_cast<char>(chelsea[chelsea.size() / 2] ^ 0x5a);
    const auto error = analysis_error_of([&] { decode_full(chelsea); });
    CHECK(error.permanent());
    CHECK_THAT(error.what(), Catch::StartsWith("corrupt PNG: CRC mismatch in chunk 'IDAT'"));
}

TEST_CASE("decode_image refuses a JPEG whose headers make no sense") {
    const auto zero = analysis_error_of([] {
        decode_full(
            std::string("\xff\xd8\xff\xc0\x00\x0b\x08\x00\x10\x00\x00\x01\x01\x11\x00"
                        "\xff\xd9",
                        17));
    });
    CHECK(zero.permanent());
    CHECK_THAT(zero.what(), Catch::StartsWith("cannot decode JPEG: "));

    const auto no_frame = analysis_error_of([] {
        decode_full(
            std::string("\xff\xd8\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x12\xff\xd9", 15));
    });
    CHECK(no_frame.permanent());
    CHECK_THAT(no_frame.what(), Catch::StartsWith("cannot decode JPEG: "));

    // A frame header claiming 2 components but sized for 3: libjpeg's own reason is passed on.
    std::string rocket = photo("rocket.jpg");
    const auto sof = rocket.find("\xff\xc0");
    REQUIRE(sof != std::string::npos);
    rocket[sof + 9] = 2;
    const auto components = analysis_error_of([&] { decode_full(rocket); });
    CHECK(components.permanent());
    CHECK_THAT(components.what(), Catch::StartsWith("cannot decode JPEG: "));
}

TEST_CASE("decode_image accepts data after a complete image") {
    // Motion photos append a video after the JPEG's end marker; tools append padding to PNGs.
    const Image jpeg = decode_full(photo("rocket.jpg") + std::string(5000, '\x42'));
    CHECK(jpeg.width == 640);
    const Image png = decode_full(photo("chelsea.png") + "trailing bytes");
    CHECK(png.width == 451);
}

TEST_CASE("decode_image refuses an image over the pixel limit from its header alone") {
    DecodeLimits small;
    small.max_pixels = 100'000;
    const auto error = analysis_error_of([&] { decode_full(photo("rocket.jpg"), small); });
    CHECK(error.permanent());
    CHECK(std::string(error.what()) ==
          "image is too large: 640x427 is 0.3 megapixels, the limit is 0.1");
}

TEST_CASE("decode_image refuses a file over the size limit before looking at it") {
    DecodeLimits small;
    small.max_file_bytes = 1000;
    const auto error = analysis_error_of([&] { decode_full(photo("rocket.jpg"), small); });
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

    const Image upright = decode_full(tagged);
    CHECK(decode_image(tagged, 16).width == 32);
    CHECK(decode_image(tagged, 16).image.height == 16);
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

    const Image mirrored = decode_full(plain.substr(0, 2) + exif_segment(2) + plain.substr(2));
    CHECK(mirrored.width == 64);
    CHECK(pixel(mirrored, 8, 16)[2] > 200);
}

TEST_CASE("encode_jpeg scales the longer side down to max_side and keeps the aspect ratio") {
    const Image chelsea = decode_full(photo("chelsea.png"));
    const std::string jpeg = encode_jpeg(chelsea, 200, 85);
    CHECK(eye::analyzers::sniff_mime(jpeg) == "image/jpeg");
    const Image small = decode_full(jpeg);
    CHECK(small.width == 200);
    CHECK(small.height == 133);

    const Image portrait = decode_full(photo("cell.png"));
    const Image small_portrait = decode_full(encode_jpeg(portrait, 100, 85));
    CHECK(small_portrait.height == 100);
    CHECK(small_portrait.width == 83);

    // Never enlarged; a lower quality gives a smaller file.
    CHECK(decode_full(encode_jpeg(chelsea, 4000, 85)).width == 451);
    CHECK(encode_jpeg(chelsea, 0, 30).size() < encode_jpeg(chelsea, 0, 95).size());
    CHECK_THROWS_AS(encode_jpeg(Image{}, 100, 80), std::invalid_argument);
}
