#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Decoding, resizing and encoding of the two image formats eye analyzes (JPEG, PNG), on top of
// stb_image. Everything here is pure (no I/O) and safe to call from several threads at once.
namespace eye::analyzers {

// A decoded image: 8-bit RGB, row-major, no padding, upright (EXIF orientation applied).
struct Image {
    int width = 0;
    int height = 0;
    int channels_in_file = 0;       // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA, as the file stores it
    std::vector<std::uint8_t> rgb;  // width * height * 3 bytes
};

// One channel of floats, row-major, e.g. luma 0..255.
struct Plane {
    int width = 0;
    int height = 0;
    std::vector<float> values;  // width * height

    float at(int x, int y) const { return values[static_cast<std::size_t>(y) * width + x]; }
};

// What decode_image refuses before it spends memory on an image.
struct DecodeLimits {
    std::int64_t max_pixels = 100'000'000;              // width * height, 100 megapixels
    std::int64_t max_file_bytes = 100LL * 1024 * 1024;  // 100 MiB
};

// "image/jpeg" or "image/png" from the magic bytes at the start, whatever the file is named;
// "" for anything else.
std::string sniff_mime(std::string_view bytes);

// Decodes a JPEG or PNG held in memory into 8-bit RGB. Grey is expanded to RGB; an alpha channel
// is composited over white (how a transparent background is usually shown); the EXIF orientation
// of a JPEG is applied, so width and height are as the image is displayed.
// Checks, in this order, each failure a permanent AnalysisError with a one-line message:
// - more than limits.max_file_bytes: "image file is too large: ...";
// - not JPEG or PNG by its magic bytes: "not a JPEG or PNG image (...)", naming what it looks like
//   (text, GIF, WebP, HEIC, ...) when it can tell;
// - width and height read from the PNG IHDR or the JPEG frame header, before any pixel is decoded:
//   a header that is missing or says 0 pixels is "corrupt ..." / "truncated ...", more than
//   limits.max_pixels is "image is too large: 640x427 is 0.3 megapixels, the limit is 0.1";
// - a file cut short: a JPEG whose segments or scan data end before the end-of-image marker, a PNG
//   without its IEND chunk: "truncated JPEG: ..." / "truncated PNG: ..."; a PNG chunk whose CRC is
//   wrong: "corrupt PNG: CRC mismatch ...";
// - whatever stb refuses: "corrupt JPEG: <stb's reason>" / "corrupt PNG: <stb's reason>".
// Bytes after a complete image (JPEG end marker, PNG IEND) are ignored.
Image decode_image(std::string_view bytes, const DecodeLimits& limits = {});

// Exact-size copies by area averaging: each output pixel is the mean of the input area it covers
// (the right filter for shrinking; enlarging is blocky). Throws std::invalid_argument unless
// width and height are >= 1.
Image resize(const Image& image, int width, int height);
Plane resize(const Plane& plane, int width, int height);

// Rec. 601 luma (0.299 R + 0.587 G + 0.114 B), 0..255.
Plane luma_of(const Image& image);

// A copy scaled down so that its longer side is at most max_side pixels, keeping the aspect ratio
// (each side at least 1 pixel). An image that already fits, or max_side <= 0, is copied unchanged.
// Never enlarges. Area averaging, as resize().
Image downscale(const Image& image, int max_side);

// Encodes image as a baseline JPEG at quality (clamped to 1..100), scaled down first as downscale()
// does (max_side <= 0: full size). Throws std::invalid_argument for an empty image and
// std::runtime_error if the encoder fails.
std::string encode_jpeg(const Image& image, int max_side, int quality);

// SHA-256 of bytes as 64 lowercase hex digits (eye's own implementation of FIPS 180-4).
std::string sha256_hex(std::string_view bytes);

}  // namespace eye::analyzers
