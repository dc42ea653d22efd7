#pragma once

#include <cstdint>
#include <string>

#include "eye/analyzers/image/image.hpp"

// How good a photo is, measured on its luma: brightness, contrast, sharpness and an overall score
// with its tier.
namespace eye::analyzers {

// Scores at or beyond these are worth a tag ("sharp", "bright", "dark", "high-contrast").
inline constexpr double k_sharp_from = 0.6;
inline constexpr double k_dim_below = 0.3;
inline constexpr double k_bright_from = 0.65;
inline constexpr double k_high_contrast_from = 0.4;

struct Quality {
    double brightness = 0;  // mean luma, 0..1
    double contrast = 0;    // luma standard deviation over 127.5, 0..1
    double sharpness = 0;   // 1 - exp(-v / 300) for the variance v of the Laplacian
    double laplacian_variance = 0;
    double overall = 0;
    bool blurry = false;        // sharpness < 0.25
    bool dark = false;          // brightness < 0.2
    bool overexposed = false;   // brightness > 0.85
    bool low_contrast = false;  // contrast < 0.15
    std::string tier;           // excellent >= 0.8, good >= 0.6, fair >= 0.4, else poor
};

// Measures `luma` (a copy at most 512 pixels on a side, so the figures do not depend on the
// camera's resolution) of an image of `original_pixels`. overall = 0.35 sharpness + 0.25
// exposure + 0.25 contrast score + 0.15 resolution, where exposure is 1 for brightness in
// 0.35..0.65 falling linearly to 0 at 0 and 1, the contrast score is min(1, contrast / 0.35)
// and resolution min(1, sqrt(megapixels / 2)).
Quality measure_quality(const Plane& luma, std::int64_t original_pixels);

// {"overall_score","sharpness","brightness","contrast","issues":{"is_blurry","is_dark",
// "is_overexposed","is_low_contrast"}}, scores with 3 decimals.
std::string quality_json(const Quality& quality);

}  // namespace eye::analyzers
