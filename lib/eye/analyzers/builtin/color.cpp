#include "eye/analyzers/builtin/color.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::analyzers {
namespace {

constexpr int k_max_colors = 5;

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

}  // namespace

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

std::string color_name(std::uint8_t red, std::uint8_t green, std::uint8_t blue) {
    return name_of(to_lab(red, green, blue));
}

std::string DominantColor::hex() const {
    return fmt::format("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]);
}

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

}  // namespace eye::analyzers
