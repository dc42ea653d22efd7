#include "eye/core/units.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <utility>

#include <fmt/format.h>

namespace eye {
namespace {

struct Unit {
    std::string_view suffix;
    double factor;
};

// Splits "1.5h" into 1.5 and "h"; the number must be a plain non-negative decimal.
tl::expected<std::pair<double, std::string_view>, std::string> split_number(std::string_view text) {
    std::size_t end = 0;
    bool seen_digit = false;
    bool seen_dot = false;
    while (end < text.size()) {
        char c = text[end];
        if (std::isdigit(static_cast<unsigned char>(c))) {
            seen_digit = true;
        } else if (c == '.' && !seen_dot) {
            seen_dot = true;
        } else {
            break;
        }
        ++end;
    }
    if (!seen_digit) {
        if (!text.empty() && text.front() == '-') {
            return tl::make_unexpected("must not be negative");
        }
        return tl::make_unexpected("is not a number");
    }
    double value = std::strtod(std::string(text.substr(0, end)).c_str(), nullptr);
    std::string_view suffix = text.substr(end);
    while (!suffix.empty() && suffix.front() == ' ') {
        suffix.remove_prefix(1);
    }
    return std::make_pair(value, suffix);
}

}  // namespace

tl::expected<Milliseconds, std::string> parse_duration(std::string_view text) {
    static constexpr Unit k_units[] = {
        {"", 1000.0},       {"ms", 1.0},         {"s", 1000.0},
        {"sec", 1000.0},    {"m", 60'000.0},     {"min", 60'000.0},
        {"h", 3'600'000.0}, {"d", 86'400'000.0}, {"w", 604'800'000.0},
    };
    auto parts = split_number(text);
    if (!parts) {
        return tl::make_unexpected(parts.error() + " (use a duration such as 90s, 10m, 2h or 7d)");
    }
    auto [value, suffix] = *parts;
    for (const auto& unit : k_units) {
        if (suffix == unit.suffix) {
            double ms = value * unit.factor;
            if (ms > 1e15) {
                return tl::make_unexpected("is too large");
            }
            return Milliseconds(static_cast<std::int64_t>(std::llround(ms)));
        }
    }
    return tl::make_unexpected(
        fmt::format("has an unknown unit '{}' (use ms, s, m, h, d or w)", std::string(suffix)));
}

std::string format_duration(Milliseconds value) {
    std::int64_t ms = value.count();
    if (ms == 0) {
        return "0s";
    }
    if (ms % 1000 != 0) {
        return fmt::format("{}ms", ms);
    }
    std::int64_t s = ms / 1000;
    std::string out;
    const std::pair<std::int64_t, char> parts[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    for (auto [size, letter] : parts) {
        if (s >= size) {
            out += fmt::format("{}{}", s / size, letter);
            s %= size;
        }
    }
    return out;
}

tl::expected<std::uint64_t, std::string> parse_size(std::string_view text) {
    static constexpr Unit k_units[] = {
        {"", 1.0},
        {"b", 1.0},
        {"k", 1024.0},
        {"kib", 1024.0},
        {"kb", 1000.0},
        {"m", 1024.0 * 1024},
        {"mib", 1024.0 * 1024},
        {"mb", 1e6},
        {"g", 1024.0 * 1024 * 1024},
        {"gib", 1024.0 * 1024 * 1024},
        {"gb", 1e9},
        {"t", 1024.0 * 1024 * 1024 * 1024},
        {"tib", 1024.0 * 1024 * 1024 * 1024},
        {"tb", 1e12},
    };
    auto parts = split_number(text);
    if (!parts) {
        return tl::make_unexpected(parts.error() + " (use a size such as 500MB or 1GiB)");
    }
    auto [value, suffix] = *parts;
    std::string lower;
    for (char c : suffix) {
        lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    for (const auto& unit : k_units) {
        if (lower == unit.suffix) {
            return static_cast<std::uint64_t>(std::llround(value * unit.factor));
        }
    }
    return tl::make_unexpected(
        fmt::format("has an unknown unit '{}' (use B, KiB, MiB, GiB, TiB, kB, MB, GB or TB)",
                    std::string(suffix)));
}

std::string format_size(std::uint64_t bytes) {
    static constexpr std::string_view k_names[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < std::size(k_names)) {
        value /= 1024.0;
        ++unit;
    }
    if (unit == 0) {
        return fmt::format("{} B", bytes);
    }
    return fmt::format("{:.1f} {}", value, k_names[unit]);
}

}  // namespace eye
