#include "eye/analyzers/builtin.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <sys/stat.h>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::analyzers {

namespace {

// Measuring on a bounded copy keeps the cost flat for 50-megapixel photos and makes sharpness
// comparable between cameras: detail finer than this is invisible at any normal viewing size.
constexpr int k_work_side = 512;
constexpr int k_feature_side = 256;
constexpr int k_palette_side = 64;
constexpr int k_max_colors = 5;
constexpr double k_tag_color_share = 10.0;
constexpr int k_feature_size = 512;
constexpr double k_pi = 3.14159265358979323846;

constexpr double k_sharpness_scale = 300.0;
constexpr double k_blurry_below = 0.25;
constexpr double k_sharp_from = 0.6;
constexpr double k_dark_below = 0.2;
constexpr double k_dim_below = 0.3;
constexpr double k_bright_from = 0.65;
constexpr double k_overexposed_from = 0.85;
constexpr double k_low_contrast_below = 0.15;
constexpr double k_high_contrast_from = 0.4;

std::string hex64(std::uint64_t bits) {
    return fmt::format("{:016x}", bits);
}

// Only the 8x8 lowest frequencies are needed, so the separable DCT computes just those rows of
// the basis: 8 x 32 products per pass instead of a full 32x32 transform.
std::uint64_t perceptual_hash(const Plane& luma) {
    const Plane small = resize(luma, 32, 32);
    static const auto basis = [] {
        std::array<std::array<double, 32>, 8> table{};
        for (int u = 0; u < 8; ++u) {
            for (int x = 0; x < 32; ++x) {
                table[u][x] = std::cos((2 * x + 1) * u * k_pi / 64.0);
            }
        }
        return table;
    }();
    std::array<std::array<double, 8>, 32> rows{};
    for (int y = 0; y < 32; ++y) {
        for (int u = 0; u < 8; ++u) {
            double sum = 0;
            for (int x = 0; x < 32; ++x) {
                sum += small.at(x, y) * basis[u][x];
            }
            rows[y][u] = sum;
        }
    }
    std::array<double, 64> coefficients{};
    for (int v = 0; v < 8; ++v) {
        for (int u = 0; u < 8; ++u) {
            double sum = 0;
            for (int y = 0; y < 32; ++y) {
                sum += rows[y][u] * basis[v][y];
            }
            coefficients[v * 8 + u] = sum;
        }
    }
    // The DC term is the mean brightness, far larger than the rest: leaving it out of the median
    // keeps the threshold about structure, not exposure.
    std::array<double, 63> ac{};
    std::copy(coefficients.begin() + 1, coefficients.end(), ac.begin());
    std::nth_element(ac.begin(), ac.begin() + 31, ac.end());
    const double median = ac[31];
    // In a flat image every AC term is rounding noise around 0; a margin far below any real
    // structure makes such an image hash to its DC bit alone instead of to noise.
    const double margin = 1e-9 * (std::abs(coefficients[0]) + 1.0);
    std::uint64_t bits = 0;
    for (int i = 0; i < 64; ++i) {
        if (coefficients[i] > median + margin) {
            bits |= std::uint64_t(1) << (63 - i);
        }
    }
    return bits;
}

// Neighbours in a flat area (sky, a white background) differ only by compression noise; without a
// small tolerance their bits would flip between two encodings of the same picture.
constexpr float k_dhash_tolerance = 1.0F;

std::uint64_t difference_hash(const Plane& luma) {
    const Plane small = resize(luma, 9, 8);
    std::uint64_t bits = 0;
    int i = 0;
    for (int y = 0; y < 8; ++y) {
        for (int x = 0; x < 8; ++x, ++i) {
            if (small.at(x + 1, y) > small.at(x, y) + k_dhash_tolerance) {
                bits |= std::uint64_t(1) << (63 - i);
            }
        }
    }
    return bits;
}

struct Lab {
    double l = 0;
    double a = 0;
    double b = 0;
};

double distance2(const Lab& p, const Lab& q) {
    const double dl = p.l - q.l;
    const double da = p.a - q.a;
    const double db = p.b - q.b;
    return dl * dl + da * da + db * db;
}

const std::array<double, 256>& linear_table() {
    static const auto table = [] {
        std::array<double, 256> t{};
        for (int i = 0; i < 256; ++i) {
            const double c = i / 255.0;
            t[i] = c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
        }
        return t;
    }();
    return table;
}

Lab to_lab(std::uint8_t red, std::uint8_t green, std::uint8_t blue) {
    const auto& lin = linear_table();
    const double r = lin[red];
    const double g = lin[green];
    const double b = lin[blue];
    const double x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    const double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    const double z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
    auto f = [](double t) {
        constexpr double k_epsilon = 216.0 / 24389.0;
        return t > k_epsilon ? std::cbrt(t) : (24389.0 / 27.0 * t + 16.0) / 116.0;
    };
    const double fx = f(x);
    const double fy = f(y);
    const double fz = f(z);
    return {116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)};
}

struct NamedColor {
    const char* name;
    Lab lab;
};

// Several references per name, because "brown" or "blue" covers a region (tan to chocolate,
// navy to sky) that a single point would split badly.
const std::vector<NamedColor>& named_colors() {
    static const auto colors = [] {
        struct Reference {
            const char* name;
            std::uint8_t r, g, b;
        };
        static constexpr Reference k_references[] = {
            {"black", 0, 0, 0},        {"black", 20, 20, 20},    {"gray", 80, 80, 80},
            {"gray", 128, 128, 128},   {"gray", 176, 176, 176},  {"white", 235, 235, 235},
            {"white", 255, 255, 255},  {"red", 255, 0, 0},       {"red", 200, 30, 30},
            {"red", 140, 15, 15},      {"orange", 255, 128, 0},  {"orange", 255, 165, 0},
            {"orange", 230, 110, 40},  {"yellow", 255, 255, 0},  {"yellow", 240, 220, 80},
            {"yellow", 255, 240, 140}, {"green", 0, 128, 0},     {"green", 0, 200, 0},
            {"green", 100, 180, 80},   {"green", 50, 90, 40},    {"green", 128, 128, 0},
            {"green", 160, 210, 130},  {"cyan", 0, 255, 255},    {"cyan", 0, 170, 170},
            {"cyan", 130, 215, 225},   {"blue", 0, 0, 255},      {"blue", 30, 70, 200},
            {"blue", 0, 0, 130},       {"blue", 100, 150, 230},  {"blue", 70, 110, 160},
            {"blue", 160, 195, 235},   {"blue", 35, 50, 85},     {"blue", 20, 30, 60},
            {"purple", 128, 0, 128},   {"purple", 140, 80, 200}, {"purple", 90, 40, 120},
            {"purple", 180, 150, 220}, {"pink", 255, 192, 203},  {"pink", 255, 105, 180},
            {"pink", 230, 140, 160},   {"pink", 200, 80, 140},   {"brown", 139, 69, 19},
            {"brown", 160, 100, 50},   {"brown", 101, 67, 33},   {"brown", 70, 45, 25},
            {"brown", 190, 150, 100},  {"brown", 210, 180, 140},
        };
        std::vector<NamedColor> out;
        for (const auto& ref : k_references) {
            out.push_back({ref.name, to_lab(ref.r, ref.g, ref.b)});
        }
        return out;
    }();
    return colors;
}

std::string name_of(const Lab& lab) {
    const auto& colors = named_colors();
    const NamedColor* best = &colors.front();
    double best_distance = distance2(lab, best->lab);
    for (const auto& color : colors) {
        const double d = distance2(lab, color.lab);
        if (d < best_distance) {
            best_distance = d;
            best = &color;
        }
    }
    return best->name;
}

struct DominantColor {
    std::array<int, 3> rgb{};
    std::string name;
    double percentage = 0;
    std::size_t count = 0;

    std::string hex() const { return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]); }
};

// Median cut gives k well-spread starting centres without randomness, so the same image always
// yields the same palette; a few Lloyd iterations then settle them on the actual clusters.
std::vector<DominantColor> dominant_colors(const Image& thumbnail) {
    const std::size_t count = std::size_t(thumbnail.width) * thumbnail.height;
    std::vector<Lab> points(count);
    for (std::size_t i = 0; i < count; ++i) {
        points[i] =
            to_lab(thumbnail.rgb[i * 3], thumbnail.rgb[i * 3 + 1], thumbnail.rgb[i * 3 + 2]);
    }
    auto component = [&](std::size_t index, int axis) {
        const Lab& p = points[index];
        return axis == 0 ? p.l : (axis == 1 ? p.a : p.b);
    };

    struct Box {
        std::size_t begin;
        std::size_t end;
    };
    std::vector<std::size_t> order(count);
    std::iota(order.begin(), order.end(), 0);
    std::vector<Box> boxes{{0, count}};
    auto widest = [&](const Box& box) {
        std::array<double, 3> low{1e9, 1e9, 1e9};
        std::array<double, 3> high{-1e9, -1e9, -1e9};
        for (std::size_t i = box.begin; i < box.end; ++i) {
            for (int axis = 0; axis < 3; ++axis) {
                low[axis] = std::min(low[axis], component(order[i], axis));
                high[axis] = std::max(high[axis], component(order[i], axis));
            }
        }
        int axis = 0;
        for (int a = 1; a < 3; ++a) {
            if (high[a] - low[a] > high[axis] - low[axis]) {
                axis = a;
            }
        }
        return std::make_pair(axis, high[axis] - low[axis]);
    };
    while (static_cast<int>(boxes.size()) < k_max_colors) {
        int chosen = -1;
        int chosen_axis = 0;
        double chosen_score = 0;
        for (std::size_t i = 0; i < boxes.size(); ++i) {
            const auto [axis, range] = widest(boxes[i]);
            const double score = range * std::sqrt(double(boxes[i].end - boxes[i].begin));
            if (range > 1.0 && boxes[i].end - boxes[i].begin > 1 && score > chosen_score) {
                chosen = static_cast<int>(i);
                chosen_axis = axis;
                chosen_score = score;
            }
        }
        if (chosen < 0) {
            break;
        }
        const Box box = boxes[chosen];
        const std::size_t middle = box.begin + (box.end - box.begin) / 2;
        std::nth_element(order.begin() + box.begin, order.begin() + middle, order.begin() + box.end,
                         [&](std::size_t x, std::size_t y) {
                             return component(x, chosen_axis) < component(y, chosen_axis);
                         });
        boxes[chosen] = {box.begin, middle};
        boxes.push_back({middle, box.end});
    }

    std::vector<Lab> centres;
    for (const auto& box : boxes) {
        Lab mean;
        for (std::size_t i = box.begin; i < box.end; ++i) {
            mean.l += points[order[i]].l;
            mean.a += points[order[i]].a;
            mean.b += points[order[i]].b;
        }
        const double n = double(box.end - box.begin);
        centres.push_back({mean.l / n, mean.a / n, mean.b / n});
    }

    std::vector<int> assignment(count, -1);
    for (int iteration = 0; iteration < 20; ++iteration) {
        bool changed = false;
        for (std::size_t i = 0; i < count; ++i) {
            int best = 0;
            double best_distance = distance2(points[i], centres[0]);
            for (std::size_t c = 1; c < centres.size(); ++c) {
                const double d = distance2(points[i], centres[c]);
                if (d < best_distance) {
                    best_distance = d;
                    best = static_cast<int>(c);
                }
            }
            if (assignment[i] != best) {
                assignment[i] = best;
                changed = true;
            }
        }
        if (!changed) {
            break;
        }
        std::vector<Lab> sums(centres.size());
        std::vector<std::size_t> sizes(centres.size(), 0);
        for (std::size_t i = 0; i < count; ++i) {
            auto& sum = sums[assignment[i]];
            sum.l += points[i].l;
            sum.a += points[i].a;
            sum.b += points[i].b;
            ++sizes[assignment[i]];
        }
        for (std::size_t c = 0; c < centres.size(); ++c) {
            if (sizes[c] > 0) {
                centres[c] = {sums[c].l / sizes[c], sums[c].a / sizes[c], sums[c].b / sizes[c]};
            }
        }
    }

    // The reported colour is the members' mean in sRGB, a colour that is really in the picture
    // rather than a round trip through CIELAB.
    std::vector<std::array<double, 3>> rgb_sums(centres.size(), {0, 0, 0});
    std::vector<std::size_t> sizes(centres.size(), 0);
    for (std::size_t i = 0; i < count; ++i) {
        for (int c = 0; c < 3; ++c) {
            rgb_sums[assignment[i]][c] += thumbnail.rgb[i * 3 + c];
        }
        ++sizes[assignment[i]];
    }
    std::vector<DominantColor> colors;
    for (std::size_t c = 0; c < centres.size(); ++c) {
        if (sizes[c] == 0) {
            continue;
        }
        DominantColor color;
        for (int k = 0; k < 3; ++k) {
            color.rgb[k] = static_cast<int>(std::lround(rgb_sums[c][k] / sizes[c]));
        }
        color.name = name_of(centres[c]);
        color.count = sizes[c];
        color.percentage = std::round(1000.0 * sizes[c] / count) / 10.0;
        colors.push_back(color);
    }
    std::sort(colors.begin(), colors.end(), [](const DominantColor& x, const DominantColor& y) {
        return x.count != y.count ? x.count > y.count : x.hex() < y.hex();
    });
    return colors;
}

struct NamedShare {
    std::string name;
    double percentage = 0;
};

// Five shades of gray are one fact for a reader: tags and sentences speak of names, the JSON keeps
// every cluster.
std::vector<NamedShare> shares_by_name(const std::vector<DominantColor>& colors) {
    std::vector<NamedShare> shares;
    for (const auto& color : colors) {
        auto it = std::find_if(shares.begin(), shares.end(),
                               [&](const NamedShare& share) { return share.name == color.name; });
        if (it == shares.end()) {
            shares.push_back({color.name, color.percentage});
        } else {
            it->percentage += color.percentage;
        }
    }
    std::stable_sort(shares.begin(), shares.end(), [](const NamedShare& x, const NamedShare& y) {
        return x.percentage > y.percentage;
    });
    return shares;
}

std::string dominant_colors_json(const std::vector<DominantColor>& colors) {
    json::Writer writer;
    writer.begin_array();
    for (const auto& color : colors) {
        writer.begin_object();
        writer.field("hex", color.hex());
        writer.key("rgb");
        writer.begin_array();
        for (int c : color.rgb) {
            writer.value(c);
        }
        writer.end_array();
        writer.field("name", color.name);
        writer.field("percentage", color.percentage);
        writer.end_object();
    }
    writer.end_array();
    return writer.take();
}

// Channels that differ by a few levels are JPEG chroma noise or a scanner's tint, not colour.
// Near-black pixels are left out: their hue is noise, and a night sky must not decide it.
struct ColorStats {
    bool grayscale = false;
    double mean_saturation = 0;
    double colorfulness = 0;  // Hasler and Suesstrunk's metric, ~0 grey to ~100+ vivid
    double mean_chroma = 0;
};

ColorStats color_stats(const Image& image) {
    const std::size_t count = std::size_t(image.width) * image.height;
    std::size_t lit = 0;
    std::size_t colored = 0;
    double chroma_sum = 0;
    double saturation_sum = 0;
    double rg_sum = 0;
    double rg_sq = 0;
    double yb_sum = 0;
    double yb_sq = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const int r = image.rgb[i * 3];
        const int g = image.rgb[i * 3 + 1];
        const int b = image.rgb[i * 3 + 2];
        const int high = std::max({r, g, b});
        const int low = std::min({r, g, b});
        const double rg = r - g;
        const double yb = 0.5 * (r + g) - b;
        rg_sum += rg;
        rg_sq += rg * rg;
        yb_sum += yb;
        yb_sq += yb * yb;
        chroma_sum += high - low;
        saturation_sum += high > 0 ? double(high - low) / high : 0.0;
        if (high >= 24) {
            ++lit;
            if (high - low > 24) {
                ++colored;
            }
        }
    }
    ColorStats stats;
    const double n = double(std::max<std::size_t>(count, 1));
    stats.mean_chroma = chroma_sum / n;
    stats.mean_saturation = saturation_sum / n;
    const double rg_mean = rg_sum / n;
    const double yb_mean = yb_sum / n;
    const double rg_std = std::sqrt(std::max(0.0, rg_sq / n - rg_mean * rg_mean));
    const double yb_std = std::sqrt(std::max(0.0, yb_sq / n - yb_mean * yb_mean));
    stats.colorfulness = std::hypot(rg_std, yb_std) + 0.3 * std::hypot(rg_mean, yb_mean);
    const double colored_share = lit > 0 ? double(colored) / lit : 0.0;
    stats.grayscale = colored_share < 0.01 && stats.mean_chroma < 6.0;
    return stats;
}

struct Quality {
    double brightness = 0;
    double contrast = 0;
    double sharpness = 0;
    double laplacian_variance = 0;
    double overall = 0;
    bool blurry = false;
    bool dark = false;
    bool overexposed = false;
    bool low_contrast = false;
    std::string tier;
};

double round3(double value) {
    return std::round(value * 1000.0) / 1000.0;
}

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

struct Features {
    Plane luma;
    ColorStats color;
    Quality quality;
};

// Texture and colour statistics settle well below the quality measurements' 512 pixels, and a
// quarter of the pixels keeps the embedding cheap next to decoding.
std::vector<float> embedding(const Image& work, const Features& f, int dimension) {
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
    std::vector<double> globals = {f.quality.brightness,
                                   f.quality.contrast,
                                   f.quality.sharpness,
                                   std::min(1.0, f.color.colorfulness / 100.0),
                                   f.color.mean_saturation,
                                   grads.edge_density,
                                   aspect,
                                   f.quality.dark ? 1.0 : 0.0,
                                   f.quality.overexposed ? 1.0 : 0.0,
                                   1.0 - std::min(1.0, f.color.mean_chroma / 40.0)};
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

std::string join_names(const std::vector<std::string>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) {
            out += (i + 1 == names.size()) ? " and " : ", ";
        }
        out += names[i];
    }
    return out;
}

std::string article_for(const std::string& first_word) {
    const char c = first_word.empty() ? 'x' : first_word.front();
    const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
    return vowel ? "An" : "A";
}

std::string human_size(std::int64_t bytes) {
    if (bytes < 1024) {
        return fmt::format("{} bytes", bytes);
    }
    if (bytes < 1024 * 1024) {
        return fmt::format("{:.0f} KiB", bytes / 1024.0);
    }
    return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
}

[[noreturn]] void cannot_read(const std::filesystem::path& path, int error) {
    // Running out of descriptors or memory, or a network mount hiccup, says nothing about the
    // file itself; a retry later may well succeed.
    const bool transient = error == EINTR || error == EAGAIN || error == EMFILE ||
                           error == ENFILE || error == ENOMEM || error == EIO || error == ESTALE ||
                           error == ETIMEDOUT || error == ENOBUFS;
    throw AnalysisError(transient ? AnalysisError::Kind::temporary : AnalysisError::Kind::permanent,
                        fmt::format("cannot read '{}': {}", path.string(),
                                    std::error_code(error, std::generic_category()).message()));
}

struct FileCloser {
    void operator()(std::FILE* file) const { std::fclose(file); }
};

std::string read_image_file(const std::filesystem::path& path, std::int64_t max_bytes) {
    errno = 0;
    std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
    if (!file) {
        cannot_read(path, errno);
    }
    struct stat info {};
    if (::fstat(::fileno(file.get()), &info) != 0) {
        cannot_read(path, errno);
    }
    if (!S_ISREG(info.st_mode)) {
        throw AnalysisError(AnalysisError::Kind::permanent,
                            fmt::format("cannot read '{}': not a regular file", path.string()));
    }
    if (info.st_size > max_bytes) {
        throw AnalysisError(AnalysisError::Kind::permanent,
                            fmt::format("image file is too large: {} bytes, the limit is {} bytes",
                                        static_cast<std::int64_t>(info.st_size), max_bytes));
    }
    std::string bytes(static_cast<std::size_t>(info.st_size), '\0');
    const std::size_t got = std::fread(bytes.data(), 1, bytes.size(), file.get());
    if (got < bytes.size() && std::ferror(file.get()) != 0) {
        cannot_read(path, errno != 0 ? errno : EIO);
    }
    // A file that shrank while we read is analysed as what we got; decode_image then calls it
    // truncated, which is the truth about it.
    bytes.resize(got);
    return bytes;
}

void check_dimension(int dimension) {
    if (dimension < 1) {
        throw std::invalid_argument(
            fmt::format("embedding dimension must be at least 1, not {}", dimension));
    }
}

}  // namespace

std::string color_name(std::uint8_t red, std::uint8_t green, std::uint8_t blue) {
    return name_of(to_lab(red, green, blue));
}

int hash_distance(std::string_view a, std::string_view b) {
    auto parse = [](std::string_view hex) {
        if (hex.size() != 16) {
            throw std::invalid_argument(
                fmt::format("'{}' is not a 64-bit hash of 16 hex digits", hex));
        }
        std::uint64_t bits = 0;
        for (char c : hex) {
            int digit;
            if (c >= '0' && c <= '9') {
                digit = c - '0';
            } else if (c >= 'a' && c <= 'f') {
                digit = c - 'a' + 10;
            } else if (c >= 'A' && c <= 'F') {
                digit = c - 'A' + 10;
            } else {
                throw std::invalid_argument(
                    fmt::format("'{}' is not a 64-bit hash of 16 hex digits", hex));
            }
            bits = (bits << 4) | static_cast<std::uint64_t>(digit);
        }
        return bits;
    };
    std::uint64_t diff = parse(a) ^ parse(b);
    int count = 0;
    while (diff != 0) {
        diff &= diff - 1;
        ++count;
    }
    return count;
}

AnalysisResult analyze_image_bytes(std::string_view bytes, const BuiltinOptions& options) {
    check_dimension(options.embedding_dimension);
    const Image image = decode_image(bytes, options.limits);
    const Image work = downscale(image, k_work_side);

    Features features;
    features.luma = luma_of(work);
    features.color = color_stats(work);
    const std::int64_t pixels = std::int64_t(image.width) * image.height;
    features.quality = measure_quality(features.luma, pixels);
    const Quality& quality = features.quality;
    const std::vector<DominantColor> colors = dominant_colors(downscale(work, k_palette_side));

    AnalysisResult result;
    result.analyzer = k_builtin_name;
    result.model_version = k_builtin_model_version;
    result.width = image.width;
    result.height = image.height;
    result.mime_type = sniff_mime(bytes);
    result.file_size = static_cast<std::int64_t>(bytes.size());
    result.file_hash = sha256_hex(bytes);
    result.phash = hex64(perceptual_hash(features.luma));
    result.dhash = hex64(difference_hash(features.luma));
    result.dominant_colors_json = dominant_colors_json(colors);
    result.image_quality_json = quality_json(quality);
    result.quality_tier = quality.tier;
    result.embedding = embedding(work, features, options.embedding_dimension);
    result.face_count = 0;

    const int longer = std::max(image.width, image.height);
    const char* orientation = std::abs(image.width - image.height) <= longer / 50 ? "square"
                              : image.width > image.height                        ? "landscape"
                                                                                  : "portrait";
    const char* palette = features.color.grayscale ? "grayscale" : "color";
    const std::vector<NamedShare> shares = shares_by_name(colors);
    std::vector<std::string> color_names;
    for (const auto& share : shares) {
        if (share.percentage >= k_tag_color_share && color_names.size() < 3) {
            color_names.push_back(share.name);
        }
    }
    const char* light = quality.brightness >= k_bright_from ? "bright"
                        : quality.brightness < k_dim_below  ? "dark"
                                                            : nullptr;
    const char* focus = quality.sharpness >= k_sharp_from ? "sharp"
                        : quality.blurry                  ? "blurry"
                                                          : nullptr;
    const char* contrast = quality.contrast >= k_high_contrast_from ? "high-contrast"
                           : quality.low_contrast                   ? "low-contrast"
                                                                    : nullptr;

    result.meta_tags = {orientation, palette};
    result.meta_tags.insert(result.meta_tags.end(), color_names.begin(), color_names.end());
    for (const char* tag : {light, focus, contrast}) {
        if (tag != nullptr) {
            result.meta_tags.emplace_back(tag);
        }
    }

    std::vector<std::string> adjectives;
    for (const char* word : {focus, light, contrast}) {
        if (word != nullptr) {
            adjectives.emplace_back(word);
        }
    }
    std::string phrase;
    for (std::size_t i = 0; i < adjectives.size(); ++i) {
        phrase += adjectives[i] + (i + 1 < adjectives.size() ? ", " : " ");
    }
    phrase += fmt::format("{} {} image", orientation, palette);
    std::string sentence = article_for(phrase) + " " + phrase;
    if (!color_names.empty()) {
        sentence += " dominated by " + join_names(color_names);
    }
    result.description = sentence + ".";

    std::vector<std::string> share_texts;
    for (const auto& share : shares) {
        share_texts.push_back(fmt::format("{} ({:.0f}%)", share.name, share.percentage));
    }
    auto level = [](const char* word, const char* otherwise) {
        return word != nullptr ? std::string(word) : std::string(otherwise);
    };
    const std::string format = *result.mime_type == "image/png" ? "PNG" : "JPEG";
    result.detailed_description = fmt::format(
        "A {}x{} pixel {} {} {} image of {} whose main colors are {}; it is {}, {} and {}, "
        "with an overall quality of {:.2f} ({}).",
        image.width, image.height, orientation, palette, format, human_size(*result.file_size),
        join_names(share_texts), level(focus, "moderately sharp"),
        level(light, "of medium brightness"), level(contrast, "of moderate contrast"),
        quality.overall, quality.tier);
    return result;
}

BuiltinAnalyzer::BuiltinAnalyzer(BuiltinOptions options) : m_options(std::move(options)) {
    check_dimension(m_options.embedding_dimension);
}

AnalysisResult BuiltinAnalyzer::analyze(const MediaItem& item) {
    const std::string bytes = read_image_file(item.absolute_path, m_options.limits.max_file_bytes);
    return analyze_image_bytes(bytes, m_options);
}

}  // namespace eye::analyzers
