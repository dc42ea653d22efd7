#pragma once

#include <vector>

#include "eye/analyzers/builtin/color.hpp"
#include "eye/analyzers/builtin/quality.hpp"
#include "eye/analyzers/image/image.hpp"

namespace eye::analyzers {

// A fixed-length colour and texture vector of `work` (the image at most 512 pixels on a side),
// `dimension` floats with L2 norm 1: an HSV color histogram, an 8x8 CIELAB layout grid,
// edge-orientation histograms (3x3 cells and whole image), local binary patterns at two scales,
// a gradient-magnitude histogram and global statistics. Nearer (larger dot product) for visually
// similar images; it says nothing about what the image shows. 512 values are the features
// themselves; other sizes fold them by signed feature hashing or pad with zeros.
std::vector<float> embedding(const Image& work, const ColorStats& color, const Quality& quality,
                             int dimension);

}  // namespace eye::analyzers
