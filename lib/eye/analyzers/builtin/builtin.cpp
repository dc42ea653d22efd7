#include "eye/analyzers/builtin/builtin.hpp"

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "eye/analyzers/builtin/color.hpp"
#include "eye/analyzers/builtin/description.hpp"
#include "eye/analyzers/builtin/embedding.hpp"
#include "eye/analyzers/builtin/hashes.hpp"
#include "eye/analyzers/builtin/quality.hpp"
#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/image/resample.hpp"
#include "eye/analyzers/media_file.hpp"
#include "eye/analyzers/metadata.hpp"

namespace eye::analyzers {
namespace {

// Measuring on a bounded copy keeps the cost flat for 50-megapixel photos and makes sharpness
// comparable between cameras: detail finer than this is invisible at any normal viewing size.
constexpr int k_work_side = 512;
constexpr int k_palette_side = 64;

void check_dimension(int dimension) {
    if (dimension < 1) {
        throw std::invalid_argument(
            fmt::format("embedding dimension must be at least 1, not {}", dimension));
    }
}

}  // namespace

AnalysisResult analyze_image_bytes(std::string_view bytes, const BuiltinOptions& options) {
    check_dimension(options.embedding_dimension);
    const DecodedImage decoded = decode_image(bytes, k_work_side, options.limits);
    const Image& work = decoded.image;

    const Plane luma = luma_of(work);
    ImageFacts facts;
    facts.width = decoded.width;
    facts.height = decoded.height;
    facts.file_size = static_cast<std::int64_t>(bytes.size());
    facts.mime_type = mime_of(decoded.format);
    facts.color = color_stats(work);
    facts.quality = measure_quality(luma, std::int64_t(decoded.width) * decoded.height);
    const std::vector<DominantColor> colors = dominant_colors(downscale(work, k_palette_side));
    facts.shares = shares_by_name(colors);

    AnalysisResult result;
    result.analyzer = k_builtin_name;
    result.model_version = k_builtin_model_version;
    record_file_facts(result, bytes, decoded);
    result.phash = hash_hex(perceptual_hash(luma));
    result.dhash = hash_hex(difference_hash(luma));
    result.dominant_colors_json = dominant_colors_json(colors);
    result.image_quality_json = quality_json(facts.quality);
    result.quality_tier = facts.quality.tier;
    result.embedding = embedding(work, facts.color, facts.quality, options.embedding_dimension);
    result.face_count = 0;

    ImageWords words = describe_image(facts);
    result.meta_tags = std::move(words.tags);
    result.description = std::move(words.description);
    result.detailed_description = std::move(words.detailed_description);
    return result;
}

BuiltinAnalyzer::BuiltinAnalyzer(BuiltinOptions options) : m_options(std::move(options)) {
    check_dimension(m_options.embedding_dimension);
}

AnalysisResult BuiltinAnalyzer::analyze(const MediaItem& item) {
    const std::string bytes =
        read_media_file(item, static_cast<std::uint64_t>(m_options.limits.max_file_bytes));
    return analyze_image_bytes(bytes, m_options);
}

}  // namespace eye::analyzers
