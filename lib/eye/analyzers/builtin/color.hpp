#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "eye/analyzers/image/image.hpp"

// Colour as the builtin analyzer sees it: CIELAB, basic colour names, the dominant colours of an
// image and whether it is grayscale. Spelling is American: "color", "gray".
namespace eye::analyzers {

struct Lab {
    double l = 0;
    double a = 0;
    double b = 0;
};

// sRGB (D65) to CIELAB.
Lab to_lab(std::uint8_t red, std::uint8_t green, std::uint8_t blue);

// The basic color name nearest (CIELAB distance) to an sRGB color: one of black, white, gray, red,
// orange, yellow, green, cyan, blue, purple, pink, brown.
std::string color_name(std::uint8_t red, std::uint8_t green, std::uint8_t blue);

struct DominantColor {
    std::array<int, 3> rgb{};
    std::string name;
    double percentage = 0;
    std::size_t count = 0;

    std::string hex() const;
};

// Up to 5 colors, largest share first, from k-means in CIELAB seeded by median cut (so
// deterministic) on `thumbnail`; each reported as the mean sRGB of its members.
std::vector<DominantColor> dominant_colors(const Image& thumbnail);

// [{"hex":"#ff8000","rgb":[255,128,0],"name":"orange","percentage":35.2}, ...]
std::string dominant_colors_json(const std::vector<DominantColor>& colors);

// The dominant colors' shares summed by name, largest first.
struct NamedShare {
    std::string name;
    double percentage = 0;
};
std::vector<NamedShare> shares_by_name(const std::vector<DominantColor>& colors);

struct ColorStats {
    bool grayscale = false;
    double mean_saturation = 0;
    double colorfulness = 0;  // Hasler and Suesstrunk's metric, ~0 grey to ~100+ vivid
    double mean_chroma = 0;
};
ColorStats color_stats(const Image& image);

}  // namespace eye::analyzers
