#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

// Decoded images as the analyzers measure them.
namespace eye::analyzers {

// A decoded image: 8-bit RGB, row-major, no padding, upright (EXIF orientation applied).
struct Image {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> rgb;  // width * height * 3 bytes
};

// One channel of floats, row-major, e.g. luma 0..255.
struct Plane {
    int width = 0;
    int height = 0;
    std::vector<float> values;  // width * height

    float at(int x, int y) const { return values[static_cast<std::size_t>(y) * width + x]; }
};

// What decode_image refuses before it spends memory or time on an image.
struct DecodeLimits {
    std::int64_t max_pixels = 100'000'000;              // width * height, 100 megapixels
    std::int64_t max_file_bytes = 100LL * 1024 * 1024;  // 100 MiB
    int max_jpeg_scans = 500;                           // a progressive JPEG's scans
    double max_seconds = 30;                            // decoding one image
};

}  // namespace eye::analyzers
