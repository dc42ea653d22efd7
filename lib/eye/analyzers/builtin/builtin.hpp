#pragma once

#include <string_view>

#include "eye/analyzers/analyzer.hpp"
#include "eye/analyzers/image/decode.hpp"

// The builtin analyzer: what can honestly be said about a photo without a neural network or
// any service, so eye works on a fresh machine. Its parts live beside this file: hashes, color,
// quality, embedding and description. Spelling in tags and text is American throughout:
// "color", "grayscale", "gray".
namespace eye::analyzers {

inline constexpr const char* k_builtin_name = "builtin";
// Bump when any output below changes for the same bytes, so --priority=outdated re-analyzes.
inline constexpr const char* k_builtin_model_version = "builtin-2";

struct BuiltinOptions {
    int embedding_dimension = 512;  // >= 1; upstream's column is vector(512)
    DecodeLimits limits;
};

// Analyzes one image held in memory, in any format decode_image reads (JPEG, PNG, WebP, GIF, HEIC,
// AVIF, TIFF), measured on a copy decoded straight to at most 512 pixels on a side, upright and in
// sRGB. Deterministic: the same bytes and options always give the same result. Fills:
// - what record_file_facts records: width, height (as displayed, EXIF orientation applied),
//   mime_type (from the content), file_size, file_hash (SHA-256 of the bytes, lowercase hex) and
//   the EXIF metadata;
// - phash: 64-bit DCT hash (luma scaled to 32x32, 2-D DCT-II, the 8x8 lowest frequencies, each bit
//   set when the coefficient is above the median of the 63 non-DC ones; row-major, first bit most
//   significant) and dhash: 64-bit difference hash (luma scaled to 9x8, bit set when a pixel is
//   more than one level brighter than its left neighbour). 16 lowercase hex digits each, builtin's
//   own (not bit-compatible with other libraries' hashes). Compare with hash_distance: a resized,
//   re-encoded copy stays within a few bits; different photos are typically 20 or more apart;
// - dominant_colors_json: up to 5 colors, largest share first, from k-means in CIELAB (seeded by
//   median cut, so deterministic) on a copy at most 64 pixels on a side:
//   [{"hex":"#ff8000","rgb":[255,128,0],"name":"orange","percentage":35.2}, ...]; names come from
//   color_name();
// - image_quality_json: {"overall_score","sharpness","brightness","contrast","issues":{"is_blurry",
//   "is_dark","is_overexposed","is_low_contrast"}}, all scores 0..1 with 3 decimals, measured on a
//   copy at most 512 pixels on a side (so they do not depend on the camera's resolution):
//   brightness is mean luma, contrast the luma standard deviation over its largest possible value
//   (127.5), sharpness 1 - exp(-v / 300) for the variance v of the 4-neighbour Laplacian of luma.
//   overall_score = 0.35 sharpness + 0.25 exposure + 0.25 contrast score + 0.15 resolution, where
//   exposure is 1 for brightness in 0.35..0.65 falling linearly to 0 at 0 and 1, the contrast
//   score is min(1, contrast / 0.35) and resolution min(1, sqrt(megapixels / 2));
//   issues: is_blurry sharpness < 0.25, is_dark brightness < 0.2, is_overexposed brightness > 0.85,
//   is_low_contrast contrast < 0.15;
// - quality_tier from overall_score: excellent >= 0.8, good >= 0.6, fair >= 0.4, else poor;
// - embedding: options.embedding_dimension floats, L2 norm 1, from an HSV color histogram, an 8x8
//   CIELAB layout grid, edge-orientation histograms (3x3 cells and whole image), local binary
//   patterns at two scales, a gradient-magnitude histogram and global statistics. Nearer (larger
//   dot product) for visually similar images; it says nothing about what the image shows. 512
//   values are the features themselves; other sizes fold them by signed feature hashing or pad with
//   zeros;
// - meta_tags, facts only, in this order: "landscape" | "portrait" | "square" (sides within 2%),
//   "color" | "grayscale" (grayscale when the channels are nearly equal everywhere, whatever the
//   file's color type), the names of the dominant colors that cover at least 10% (at most 3),
//   "bright" (brightness >= 0.65) | "dark" (< 0.3), "sharp" (sharpness >= 0.6) | "blurry" (as
//   is_blurry), "high-contrast" (contrast >= 0.4) | "low-contrast" (as is_low_contrast); in
//   between, no tag;
// - description: one sentence from those facts ("A sharp, bright landscape color image dominated by
//   orange and brown."), detailed_description: a longer one with dimensions, format and shares;
// - analyzer "builtin", model_version "builtin-2" (libvips; "builtin-1" decoded
//   with stb), face_count 0.
// Throws the permanent AnalysisError of decode_image for bytes it cannot use, and
// std::invalid_argument for an embedding_dimension below 1.
AnalysisResult analyze_image_bytes(std::string_view bytes, const BuiltinOptions& options = {});

class BuiltinAnalyzer : public Analyzer {
public:
    // Throws std::invalid_argument for an embedding_dimension below 1.
    explicit BuiltinAnalyzer(BuiltinOptions options = {});

    std::string name() const override { return k_builtin_name; }
    std::string model_version() const override { return k_builtin_model_version; }
    bool reads_media_files() const override { return true; }

    // Reads item.absolute_path (read_media_file) and runs analyze_image_bytes on it.
    AnalysisResult analyze(const MediaItem& item) override;

private:
    BuiltinOptions m_options;
};

}  // namespace eye::analyzers
