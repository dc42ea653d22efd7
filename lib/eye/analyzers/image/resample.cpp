#include "eye/analyzers/image/resample.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

namespace eye::analyzers {
namespace {

// For one axis: output pixel o covers source interval [o * scale, (o + 1) * scale); each source
// pixel it touches is weighted by the overlap.
struct AxisWeights {
    std::vector<int> first;      // first source index per output pixel
    std::vector<int> offset;     // where its weights start in weights
    std::vector<float> weights;  // normalised to sum 1 per output pixel
    std::vector<int> count;
};

AxisWeights axis_weights(int in_size, int out_size) {
    AxisWeights axis;
    const double scale = double(in_size) / out_size;
    for (int o = 0; o < out_size; ++o) {
        const double begin = o * scale;
        const double end = std::min(double(in_size), (o + 1) * scale);
        const int first = std::min(in_size - 1, static_cast<int>(std::floor(begin)));
        const int last =
            std::max(first, std::min(in_size - 1, static_cast<int>(std::ceil(end)) - 1));
        axis.first.push_back(first);
        axis.offset.push_back(static_cast<int>(axis.weights.size()));
        double total = 0;
        for (int i = first; i <= last; ++i) {
            const double overlap = std::min(end, i + 1.0) - std::max(begin, double(i));
            const double weight = std::max(0.0, overlap);
            axis.weights.push_back(static_cast<float>(weight));
            total += weight;
        }
        const int n = last - first + 1;
        for (int k = 0; k < n; ++k) {
            float& weight = axis.weights[axis.offset.back() + k];
            weight = total > 0 ? static_cast<float>(weight / total) : 1.0F / n;
        }
        axis.count.push_back(n);
    }
    return axis;
}

// Separable and streaming: one float row of accumulated input per output row, so shrinking a
// 100-megapixel image needs no float copy of it.
template <typename In, typename Out>
void resample_area(const In* in, int in_width, int in_height, int channels, Out* out, int out_width,
                   int out_height) {
    const AxisWeights xs = axis_weights(in_width, out_width);
    const AxisWeights ys = axis_weights(in_height, out_height);
    const std::size_t row_values = std::size_t(in_width) * channels;
    std::vector<float> row(row_values);
    for (int oy = 0; oy < out_height; ++oy) {
        std::fill(row.begin(), row.end(), 0.0F);
        for (int k = 0; k < ys.count[oy]; ++k) {
            const float wy = ys.weights[ys.offset[oy] + k];
            const In* source = in + std::size_t(ys.first[oy] + k) * row_values;
            for (std::size_t i = 0; i < row_values; ++i) {
                row[i] += wy * static_cast<float>(source[i]);
            }
        }
        Out* target = out + std::size_t(oy) * out_width * channels;
        for (int ox = 0; ox < out_width; ++ox) {
            for (int c = 0; c < channels; ++c) {
                float sum = 0;
                for (int k = 0; k < xs.count[ox]; ++k) {
                    sum += xs.weights[xs.offset[ox] + k] *
                           row[std::size_t(xs.first[ox] + k) * channels + c];
                }
                if constexpr (std::is_same_v<Out, std::uint8_t>) {
                    target[ox * channels + c] =
                        static_cast<std::uint8_t>(std::clamp(std::lround(sum), 0L, 255L));
                } else {
                    target[ox * channels + c] = sum;
                }
            }
        }
    }
}

void check_size(int width, int height) {
    if (width < 1 || height < 1) {
        throw std::invalid_argument(fmt::format("cannot resize to {}x{}", width, height));
    }
}

}  // namespace

Image resize(const Image& image, int width, int height) {
    check_size(width, height);
    Image out;
    out.width = width;
    out.height = height;
    out.rgb.resize(std::size_t(width) * height * 3);
    if (!image.rgb.empty()) {
        resample_area(image.rgb.data(), image.width, image.height, 3, out.rgb.data(), width,
                      height);
    }
    return out;
}

Plane resize(const Plane& plane, int width, int height) {
    check_size(width, height);
    Plane out{width, height, std::vector<float>(std::size_t(width) * height)};
    if (!plane.values.empty()) {
        resample_area(plane.values.data(), plane.width, plane.height, 1, out.values.data(), width,
                      height);
    }
    return out;
}

Plane luma_of(const Image& image) {
    Plane plane{image.width, image.height, {}};
    const std::size_t count = std::size_t(image.width) * image.height;
    plane.values.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
        plane.values[i] = 0.299F * image.rgb[i * 3] + 0.587F * image.rgb[i * 3 + 1] +
                          0.114F * image.rgb[i * 3 + 2];
    }
    return plane;
}

Image downscale(const Image& image, int max_side) {
    const int longer = std::max(image.width, image.height);
    if (max_side <= 0 || longer <= max_side || image.rgb.empty()) {
        return image;
    }
    const double scale = double(max_side) / longer;
    return resize(image, std::max(1, static_cast<int>(std::lround(image.width * scale))),
                  std::max(1, static_cast<int>(std::lround(image.height * scale))));
}

}  // namespace eye::analyzers
