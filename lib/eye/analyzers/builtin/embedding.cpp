#include "eye/analyzers/builtin/embedding.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "eye/analyzers/image/resample.hpp"

namespace eye::analyzers {
namespace {

constexpr int k_feature_side = 256;
constexpr int k_feature_size = 512;
constexpr double k_pi = 3.14159265358979323846;

void normalize(std::vector<double>& values, double target_norm = 1.0) {
    double norm = 0;
    for (double v : values) {
        norm += v * v;
    }
    norm = std::sqrt(norm);
    if (norm <= 0) {
        return;
    }
    for (double& v : values) {
        v *= target_norm / norm;
    }
}

// Square roots of shares (the Hellinger mapping): a dot product of two such vectors is the
// Bhattacharyya coefficient of the histograms, and no single big bin drowns the rest.
void hellinger(std::vector<double>& histogram) {
    const double total = std::accumulate(histogram.begin(), histogram.end(), 0.0);
    if (total <= 0) {
        return;
    }
    for (double& v : histogram) {
        v = std::sqrt(v / total);
    }
}

// 16 hues x 3 saturations x 4 values, plus 8 grey levels for pixels whose hue means nothing.
// Hue is split between the two nearest bins so a slight colour shift moves weight gradually.
std::vector<double> color_histogram(const Image& image) {
    std::vector<double> hist(200, 0.0);
    const std::size_t count = std::size_t(image.width) * image.height;
    for (std::size_t i = 0; i < count; ++i) {
        const double r = image.rgb[i * 3] / 255.0;
        const double g = image.rgb[i * 3 + 1] / 255.0;
        const double b = image.rgb[i * 3 + 2] / 255.0;
        const double high = std::max({r, g, b});
        const double low = std::min({r, g, b});
        const double value = high;
        const double saturation = high > 0 ? (high - low) / high : 0.0;
        if (saturation < 0.15 || value < 0.15) {
            hist[192 + std::min(7, static_cast<int>(value * 8))] += 1.0;
            continue;
        }
        const double delta = high - low;
        double hue;
        if (high == r) {
            hue = std::fmod((g - b) / delta + 6.0, 6.0);
        } else if (high == g) {
            hue = (b - r) / delta + 2.0;
        } else {
            hue = (r - g) / delta + 4.0;
        }
        const double position = hue / 6.0 * 16.0 - 0.5;
        const double floor_position = std::floor(position);
        const double fraction = position - floor_position;
        const int hue_low = (static_cast<int>(floor_position) + 16) % 16;
        const int hue_high = (hue_low + 1) % 16;
        const int sat_bin = saturation < 0.4 ? 0 : (saturation < 0.7 ? 1 : 2);
        const int val_bin = std::min(3, static_cast<int>(value * 4));
        hist[(hue_low * 3 + sat_bin) * 4 + val_bin] += 1.0 - fraction;
        hist[(hue_high * 3 + sat_bin) * 4 + val_bin] += fraction;
    }
    hellinger(hist);
    return hist;
}

std::vector<double> color_layout(const Image& image) {
    const Image grid = resize(image, 64, 64);
    std::vector<double> layout(192, 0.0);
    for (int y = 0; y < 64; ++y) {
        for (int x = 0; x < 64; ++x) {
            const std::size_t p = (std::size_t(y) * 64 + x) * 3;
            const Lab lab = to_lab(grid.rgb[p], grid.rgb[p + 1], grid.rgb[p + 2]);
            const int cell = (y / 8) * 8 + x / 8;
            layout[cell * 3] += (lab.l - 50.0) / 50.0 / 64.0;
            layout[cell * 3 + 1] += lab.a / 50.0 / 64.0;
            layout[cell * 3 + 2] += lab.b / 50.0 / 64.0;
        }
    }
    normalize(layout);
    return layout;
}

struct Gradients {
    std::vector<double> orientation;  // 9 cells x 8 bins, then the whole image's 8
    std::vector<double> magnitude;    // 10 log2 bins
    double edge_density = 0;
};

Gradients gradients(const Plane& luma) {
    Gradients out;
    out.orientation.assign(80, 0.0);
    out.magnitude.assign(10, 0.0);
    std::size_t strong = 0;
    std::size_t total = 0;
    for (int y = 1; y + 1 < luma.height; ++y) {
        for (int x = 1; x + 1 < luma.width; ++x) {
            const double gx =
                (luma.at(x + 1, y - 1) + 2.0 * luma.at(x + 1, y) + luma.at(x + 1, y + 1)) -
                (luma.at(x - 1, y - 1) + 2.0 * luma.at(x - 1, y) + luma.at(x - 1, y + 1));
            const double gy =
                (luma.at(x - 1, y + 1) + 2.0 * luma.at(x, y + 1) + luma.at(x + 1, y + 1)) -
                (luma.at(x - 1, y - 1) + 2.0 * luma.at(x, y - 1) + luma.at(x + 1, y - 1));
            const double magnitude = std::sqrt(gx * gx + gy * gy);
            ++total;
            out.magnitude[std::min(9, std::ilogb(magnitude + 1.0))] += 1.0;
            if (magnitude > 64.0) {
                ++strong;
            }
            if (magnitude < 4.0) {
                continue;
            }
            double angle = std::atan2(gy, gx);
            if (angle < 0) {
                angle += k_pi;
            }
            const double position = angle / k_pi * 8.0 - 0.5;
            const double floor_position = std::floor(position);
            const double fraction = position - floor_position;
            const int low = (static_cast<int>(floor_position) + 8) % 8;
            const int high = (low + 1) % 8;
            const int cell = std::min(2, y * 3 / luma.height) * 3 + std::min(2, x * 3 / luma.width);
            out.orientation[cell * 8 + low] += magnitude * (1.0 - fraction);
            out.orientation[cell * 8 + high] += magnitude * fraction;
            out.orientation[72 + low] += magnitude * (1.0 - fraction);
            out.orientation[72 + high] += magnitude * fraction;
        }
    }
    out.edge_density = total > 0 ? double(strong) / total : 0.0;
    hellinger(out.orientation);
    normalize(out.orientation);
    hellinger(out.magnitude);
    return out;
}

// Rotation-invariant uniform local binary patterns: 0..8 set neighbours for patterns with at most
// two 0/1 transitions around the circle, 9 for the rest. A small threshold keeps flat areas from
// turning sensor noise into texture.
std::vector<double> local_binary_patterns(const Plane& luma) {
    std::vector<double> hist(10, 0.0);
    static constexpr int k_dx[8] = {-1, 0, 1, 1, 1, 0, -1, -1};
    static constexpr int k_dy[8] = {-1, -1, -1, 0, 1, 1, 1, 0};
    for (int y = 1; y + 1 < luma.height; ++y) {
        for (int x = 1; x + 1 < luma.width; ++x) {
            const float centre = luma.at(x, y);
            int bits[8];
            int ones = 0;
            for (int k = 0; k < 8; ++k) {
                bits[k] = luma.at(x + k_dx[k], y + k_dy[k]) - centre >= 3.0F ? 1 : 0;
                ones += bits[k];
            }
            int transitions = 0;
            for (int k = 0; k < 8; ++k) {
                transitions += bits[k] != bits[(k + 1) % 8] ? 1 : 0;
            }
            hist[transitions <= 2 ? ones : 9] += 1.0;
        }
    }
    hellinger(hist);
    return hist;
}

std::uint64_t mix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

}  // namespace

// Texture and colour statistics settle well below the quality measurements' 512 pixels, and a
// quarter of the pixels keeps the embedding cheap next to decoding.
std::vector<float> embedding(const Image& work, const ColorStats& color, const Quality& quality,
                             int dimension) {
    const Image small = downscale(work, k_feature_side);
    const Plane small_luma = luma_of(small);
    const std::vector<double> color_block = color_histogram(small);
    const std::vector<double> layout_block = color_layout(small);
    const Gradients grads = gradients(small_luma);
    std::vector<double> texture_fine = local_binary_patterns(small_luma);
    std::vector<double> texture_coarse = local_binary_patterns(
        resize(small_luma, std::max(3, small_luma.width / 2), std::max(3, small_luma.height / 2)));
    std::vector<double> magnitude = grads.magnitude;
    const double aspect =
        std::clamp(0.5 + 0.25 * std::log2(double(work.width) / std::max(1, work.height)), 0.0, 1.0);
    std::vector<double> globals = {quality.brightness,
                                   quality.contrast,
                                   quality.sharpness,
                                   std::min(1.0, color.colorfulness / 100.0),
                                   color.mean_saturation,
                                   grads.edge_density,
                                   aspect,
                                   quality.dark ? 1.0 : 0.0,
                                   quality.overexposed ? 1.0 : 0.0,
                                   1.0 - std::min(1.0, color.mean_chroma / 40.0)};
    for (auto* part : {&texture_fine, &texture_coarse, &magnitude, &globals}) {
        normalize(*part, 0.5);
    }

    std::vector<double> features;
    features.reserve(k_feature_size);
    auto append = [&](const std::vector<double>& block, double weight) {
        for (double v : block) {
            features.push_back(v * weight);
        }
    };
    append(color_block, 1.0);
    append(layout_block, 0.9);
    append(grads.orientation, 0.7);
    std::vector<double> texture;
    for (const auto* part : {&texture_fine, &texture_coarse, &magnitude, &globals}) {
        texture.insert(texture.end(), part->begin(), part->end());
    }
    append(texture, 0.6);

    std::vector<double> folded(static_cast<std::size_t>(dimension), 0.0);
    if (dimension >= static_cast<int>(features.size())) {
        std::copy(features.begin(), features.end(), folded.begin());
    } else {
        // Signed feature hashing keeps dot products unbiased when many features share a slot.
        for (std::size_t i = 0; i < features.size(); ++i) {
            const std::uint64_t h = mix64(i);
            const double sign = (h >> 63) != 0 ? -1.0 : 1.0;
            folded[h % static_cast<std::uint64_t>(dimension)] += sign * features[i];
        }
    }
    normalize(folded);
    return std::vector<float>(folded.begin(), folded.end());
}

}  // namespace eye::analyzers
