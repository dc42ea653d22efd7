#include "eye/analyzers/builtin/hashes.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "eye/analyzers/image/resample.hpp"

namespace eye::analyzers {
namespace {

constexpr double k_pi = 3.14159265358979323846;

// Neighbours in a flat area (sky, a white background) differ only by compression noise; without a
// small tolerance their bits would flip between two encodings of the same picture.
constexpr float k_dhash_tolerance = 1.0F;

}  // namespace

std::string hash_hex(std::uint64_t bits) {
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

}  // namespace eye::analyzers
