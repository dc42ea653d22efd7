#include "eye/analyzers/builtin/quality.hpp"

#include <algorithm>
#include <cmath>

#include "eye/json/json.hpp"

namespace eye::analyzers {
namespace {

constexpr double k_sharpness_scale = 300.0;
constexpr double k_blurry_below = 0.25;
constexpr double k_dark_below = 0.2;
constexpr double k_overexposed_from = 0.85;
constexpr double k_low_contrast_below = 0.15;

double round3(double value) {
    return std::round(value * 1000.0) / 1000.0;
}

}  // namespace

Quality measure_quality(const Plane& luma, std::int64_t original_pixels) {
    Quality q;
    const std::size_t count = luma.values.size();
    double sum = 0;
    double sq = 0;
    for (float v : luma.values) {
        sum += v;
        sq += double(v) * v;
    }
    const double mean = sum / count;
    const double std_dev = std::sqrt(std::max(0.0, sq / count - mean * mean));

    double lap_sum = 0;
    double lap_sq = 0;
    std::size_t lap_count = 0;
    for (int y = 1; y + 1 < luma.height; ++y) {
        for (int x = 1; x + 1 < luma.width; ++x) {
            const double lap = luma.at(x - 1, y) + luma.at(x + 1, y) + luma.at(x, y - 1) +
                               luma.at(x, y + 1) - 4.0 * luma.at(x, y);
            lap_sum += lap;
            lap_sq += lap * lap;
            ++lap_count;
        }
    }
    if (lap_count > 0) {
        const double lap_mean = lap_sum / lap_count;
        q.laplacian_variance = std::max(0.0, lap_sq / lap_count - lap_mean * lap_mean);
    }

    q.brightness = mean / 255.0;
    q.contrast = std::min(1.0, std_dev / 127.5);
    q.sharpness = 1.0 - std::exp(-q.laplacian_variance / k_sharpness_scale);
    const double exposure =
        1.0 - std::clamp((std::abs(q.brightness - 0.5) - 0.15) / 0.35, 0.0, 1.0);
    const double contrast_score = std::min(1.0, q.contrast / 0.35);
    const double resolution = std::min(1.0, std::sqrt(double(original_pixels) / 2e6));
    q.overall = 0.35 * q.sharpness + 0.25 * exposure + 0.25 * contrast_score + 0.15 * resolution;
    q.blurry = q.sharpness < k_blurry_below;
    q.dark = q.brightness < k_dark_below;
    q.overexposed = q.brightness > k_overexposed_from;
    q.low_contrast = q.contrast < k_low_contrast_below;
    q.tier = q.overall >= 0.8   ? "excellent"
             : q.overall >= 0.6 ? "good"
             : q.overall >= 0.4 ? "fair"
                                : "poor";
    return q;
}

std::string quality_json(const Quality& q) {
    json::Writer writer;
    writer.begin_object();
    writer.field("overall_score", round3(q.overall));
    writer.field("sharpness", round3(q.sharpness));
    writer.field("brightness", round3(q.brightness));
    writer.field("contrast", round3(q.contrast));
    writer.key("issues");
    writer.begin_object();
    writer.field("is_blurry", q.blurry);
    writer.field("is_dark", q.dark);
    writer.field("is_overexposed", q.overexposed);
    writer.field("is_low_contrast", q.low_contrast);
    writer.end_object();
    writer.end_object();
    return writer.take();
}

}  // namespace eye::analyzers
