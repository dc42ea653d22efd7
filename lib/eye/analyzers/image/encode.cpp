#include "eye/analyzers/image/encode.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>
#include <stb/stb_image_write.h>

#include "eye/analyzers/image/resample.hpp"

namespace eye::analyzers {
namespace {

void append_to_string(void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                               static_cast<std::size_t>(size));
}

}  // namespace

std::string encode_jpeg(const Image& image, int max_side, int quality) {
    if (image.width <= 0 || image.height <= 0 ||
        image.rgb.size() != std::size_t(image.width) * image.height * 3) {
        throw std::invalid_argument("cannot encode an empty or inconsistent image as JPEG");
    }
    const Image scaled = downscale(image, max_side);
    std::string out;
    if (stbi_write_jpg_to_func(append_to_string, &out, scaled.width, scaled.height, 3,
                               scaled.rgb.data(), std::clamp(quality, 1, 100)) == 0) {
        throw std::runtime_error(
            fmt::format("cannot encode a {}x{} image as JPEG", scaled.width, scaled.height));
    }
    return out;
}

}  // namespace eye::analyzers
