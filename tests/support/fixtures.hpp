#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "eye/analyzers/image/decode.hpp"

// The sample photos under tests/fixtures/images (their origins are in SOURCES.md there) and
// images made up on the spot, for the tests of the image code and of the analyzers.
namespace eye::testing {

inline const std::filesystem::path k_images =
    std::filesystem::path(EYE_SOURCE_DIR) / "tests/fixtures/images";

// The whole file, byte for byte; fails the test when it cannot be opened.
inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// The bytes of the sample photo `name` ("rocket.jpg").
inline std::string photo(const std::string& name) {
    return read_file(k_images / name);
}

struct SamplePhoto {
    const char* file;
    int width;
    int height;
    int bands_in_file;
    const char* orientation;
    const char* palette;
};

// Sizes as the files store them. SOURCES.md gives numpy's rows x columns for rocket.jpg (427x640):
// it is 640 wide and 427 high, a landscape. horse.png is stored as RGBA, not grey+alpha.
inline const std::vector<SamplePhoto> k_photos = {
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

// The whole image decoded at its full size, upright, 8-bit sRGB.
inline analyzers::Image decode_full(std::string_view bytes,
                                    const analyzers::DecodeLimits& limits = {}) {
    return analyzers::decode_image(bytes, 1 << 20, limits).image;
}

// An RGB image whose left half is `left` and right half `right` (the right half takes the odd
// column).
inline analyzers::Image solid_halves(int width, int height, std::array<std::uint8_t, 3> left,
                                     std::array<std::uint8_t, 3> right) {
    analyzers::Image image;
    image.width = width;
    image.height = height;
    image.rgb.resize(std::size_t(width) * height * 3);
    for (int y = 0; y < height; ++y) {
        for (int x = 0; x < width; ++x) {
            const auto& color = x < width / 2 ? left : right;
            std::copy(color.begin(), color.end(), &image.rgb[(std::size_t(y) * width + x) * 3]);
        }
    }
    return image;
}

}  // namespace eye::testing
