#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eye/analyzers/builtin/color.hpp"
#include "eye/analyzers/builtin/quality.hpp"

// The builtin analyzer's words: factual tags and sentences built from what it measured.
namespace eye::analyzers {

// What the sentences are made of.
struct ImageFacts {
    int width = 0;  // as displayed
    int height = 0;
    std::int64_t file_size = 0;
    std::string mime_type;  // image/jpeg or image/png
    ColorStats color;
    Quality quality;
    std::vector<NamedShare> shares;  // dominant colors by name, largest first
};

struct ImageWords {
    std::vector<std::string> tags;
    std::string description;
    std::string detailed_description;
};

// Tags, facts only, in this order: "landscape" | "portrait" | "square" (sides within 2%),
// "color" | "grayscale", the names of the dominant colors that cover at least 10% (at most 3),
// "bright" | "dark", "sharp" | "blurry", "high-contrast" | "low-contrast"; in between, no tag.
// description: one sentence from those facts ("A sharp, bright landscape color image dominated
// by orange and brown."); detailed_description: a longer one with dimensions, format and shares.
ImageWords describe_image(const ImageFacts& facts);

}  // namespace eye::analyzers
