#pragma once

#include <string>

#include "eye/analyzers/image/image.hpp"

namespace eye::analyzers {

// Encodes image as a baseline JPEG at quality (clamped to 1..100), scaled down first as downscale()
// does (max_side <= 0: full size). Throws std::invalid_argument for an empty image and
// std::runtime_error if the encoder fails.
std::string encode_jpeg(const Image& image, int max_side, int quality);

}  // namespace eye::analyzers
