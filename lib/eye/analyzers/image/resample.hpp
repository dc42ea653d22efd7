#pragma once

#include "eye/analyzers/image/image.hpp"

// Scaling images and planes down, and their luma. Pure and thread-safe.
namespace eye::analyzers {

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

}  // namespace eye::analyzers
