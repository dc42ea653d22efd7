#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "eye/analyzers/image/image.hpp"

// The builtin analyzer's 64-bit perceptual hashes (builtin's own, not bit-compatible with other
// libraries' hashes). A resized, re-encoded copy stays within a few bits; different photos are
// typically 20 or more apart.
namespace eye::analyzers {

// phash: luma scaled to 32x32, 2-D DCT-II, the 8x8 lowest frequencies, each bit set when the
// coefficient is above the median of the 63 non-DC ones; row-major, first bit most significant.
std::uint64_t perceptual_hash(const Plane& luma);

// dhash: luma scaled to 9x8, bit set when a pixel is more than one level brighter than its left
// neighbour.
std::uint64_t difference_hash(const Plane& luma);

// 16 lowercase hex digits, as media_files.phash and dhash hold them.
std::string hash_hex(std::uint64_t bits);

// Number of differing bits between two 16-hex-digit hashes (phash or dhash), 0..64. Throws
// std::invalid_argument when either is not 16 hex digits.
int hash_distance(std::string_view a, std::string_view b);

}  // namespace eye::analyzers
