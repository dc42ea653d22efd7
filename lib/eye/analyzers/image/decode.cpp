#include "eye/analyzers/image/decode.hpp"

#include <climits>
#include <cstring>
#include <memory>
#include <zlib.h>

#include <fmt/format.h>
#include <stb/stb_image.h>

#include "eye/analyzers/analyzer.hpp"
#include "eye/analyzers/image/format.hpp"

namespace eye::analyzers {
namespace {

[[noreturn]] void refuse(std::string message) {
    throw AnalysisError(AnalysisError::Kind::permanent, std::move(message));
}

const std::uint8_t* as_bytes(std::string_view bytes) {
    return reinterpret_cast<const std::uint8_t*>(bytes.data());
}

std::uint32_t read_be32(const std::uint8_t* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}

std::uint16_t read_be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::string printable_chunk_type(const std::uint8_t* p) {
    std::string type;
    for (int i = 0; i < 4; ++i) {
        type += (p[i] >= 0x20 && p[i] < 0x7f) ? static_cast<char>(p[i]) : '?';
    }
    return type;
}

struct Dimensions {
    std::int64_t width = 0;
    std::int64_t height = 0;
};

// The limits are checked against our own reading of the header: stb's header reader refuses
// images above its internal 1 GiB bound with a misleading "unknown image type".
Dimensions png_dimensions(std::string_view bytes) {
    const auto* data = as_bytes(bytes);
    if (bytes.size() < 24) {
        refuse(fmt::format("truncated PNG: data ends at byte {} inside the header", bytes.size()));
    }
    if (std::memcmp(data + 12, "IHDR", 4) != 0) {
        refuse(fmt::format("corrupt PNG: the first chunk is '{}', not 'IHDR'",
                           printable_chunk_type(data + 12)));
    }
    const Dimensions size{read_be32(data + 16), read_be32(data + 20)};
    if (size.width == 0 || size.height == 0) {
        refuse(fmt::format("corrupt PNG: the header says {}x{} pixels", size.width, size.height));
    }
    return size;
}

Dimensions jpeg_dimensions(std::string_view bytes) {
    const auto* data = as_bytes(bytes);
    const std::size_t size = bytes.size();
    std::size_t pos = 2;
    while (true) {
        while (pos < size && data[pos] == 0xff) {
            ++pos;
        }
        if (pos + 3 > size) {
            refuse(
                fmt::format("truncated JPEG: data ends at byte {} before the frame header", size));
        }
        const std::uint8_t marker = data[pos];
        if (data[pos - 1] != 0xff) {
            refuse(fmt::format("corrupt JPEG: expected a marker at byte {}", pos - 1));
        }
        const std::size_t length = read_be16(data + pos + 1);
        // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
        const bool frame =
            marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
        if (frame) {
            if (pos + 8 > size) {
                refuse(fmt::format("truncated JPEG: data ends at byte {} inside the frame header",
                                   size));
            }
            const Dimensions dimensions{read_be16(data + pos + 6), read_be16(data + pos + 4)};
            if (dimensions.width == 0 || dimensions.height == 0) {
                refuse(fmt::format("corrupt JPEG: the frame header says {}x{} pixels",
                                   dimensions.width, dimensions.height));
            }
            return dimensions;
        }
        if (marker == 0xda || marker == 0xd9) {
            refuse("corrupt JPEG: no frame header before the image data");
        }
        if (length < 2) {
            refuse(fmt::format("corrupt JPEG: segment 0x{:02x} at byte {} has length {}", marker,
                               pos, length));
        }
        pos += 1 + length;
    }
}

// stb ignores PNG CRCs and stops reading at the last IDAT, so a cut or damaged file would decode
// into a partly grey image without complaint; walking the chunks catches both.
void check_png_structure(std::string_view bytes) {
    const auto* data = as_bytes(bytes);
    const std::size_t size = bytes.size();
    std::size_t pos = k_png_signature.size();
    bool first = true;
    while (true) {
        if (pos + 8 > size) {
            refuse(fmt::format("truncated PNG: data ends at byte {} before the IEND chunk", size));
        }
        const std::uint32_t length = read_be32(data + pos);
        const std::string type = printable_chunk_type(data + pos + 4);
        if (length > 0x7fffffffU) {
            refuse(fmt::format("corrupt PNG: chunk '{}' at byte {} has an impossible length", type,
                               pos));
        }
        if (first && type != "IHDR") {
            refuse(fmt::format("corrupt PNG: the first chunk is '{}', not 'IHDR'", type));
        }
        first = false;
        const std::size_t crc_at = pos + 8 + length;
        if (crc_at + 4 > size) {
            refuse(
                fmt::format("truncated PNG: data ends at byte {} inside chunk '{}'", size, type));
        }
        if (::crc32(0, data + pos + 4, length + 4) != read_be32(data + crc_at)) {
            refuse(fmt::format("corrupt PNG: CRC mismatch in chunk '{}' at byte {}", type, pos));
        }
        if (type == "IEND") {
            return;
        }
        pos = crc_at + 4;
    }
}

// Reads the orientation tag (0x0112) from IFD0 of an APP1 "Exif" payload; 1 (upright) when absent
// or malformed, since a damaged tag must not fail an otherwise good photo.
int exif_orientation(const std::uint8_t* payload, std::size_t size) {
    if (size < 6 + 8 || std::memcmp(payload, "Exif\0\0", 6) != 0) {
        return 1;
    }
    const std::uint8_t* tiff = payload + 6;
    const std::size_t tiff_size = size - 6;
    bool little;
    if (tiff[0] == 'I' && tiff[1] == 'I') {
        little = true;
    } else if (tiff[0] == 'M' && tiff[1] == 'M') {
        little = false;
    } else {
        return 1;
    }
    auto u16 = [&](std::size_t at) -> std::uint32_t {
        return little ? (tiff[at] | (tiff[at + 1] << 8)) : ((tiff[at] << 8) | tiff[at + 1]);
    };
    auto u32 = [&](std::size_t at) -> std::uint32_t {
        return little ? (u16(at) | (u16(at + 2) << 16)) : ((u16(at) << 16) | u16(at + 2));
    };
    if (u16(2) != 42) {
        return 1;
    }
    const std::size_t ifd = u32(4);
    if (ifd + 2 > tiff_size) {
        return 1;
    }
    const std::size_t entries = u16(ifd);
    for (std::size_t i = 0; i < entries; ++i) {
        const std::size_t entry = ifd + 2 + i * 12;
        if (entry + 12 > tiff_size) {
            return 1;
        }
        if (u16(entry) == 0x0112 && u16(entry + 2) == 3) {
            const int value = static_cast<int>(u16(entry + 8));
            return (value >= 1 && value <= 8) ? value : 1;
        }
    }
    return 1;
}

// Walks the JPEG segments (skipping APPn payloads by their length, so an embedded EXIF thumbnail's
// end marker is not mistaken for ours) and the entropy-coded scans up to the end-of-image marker.
// stb decodes a JPEG cut short into a partly grey picture without an error; this refuses it.
// Returns the EXIF orientation.
int check_jpeg_structure(std::string_view bytes) {
    const auto* data = as_bytes(bytes);
    const std::size_t size = bytes.size();
    int orientation = 0;
    std::size_t pos = 2;
    auto truncated = [&] {
        refuse(fmt::format("truncated JPEG: data ends at byte {} before the end-of-image marker",
                           size));
    };
    while (true) {
        if (pos >= size) {
            truncated();
        }
        if (data[pos] != 0xff) {
            refuse(fmt::format("corrupt JPEG: expected a marker at byte {}", pos));
        }
        while (pos < size && data[pos] == 0xff) {
            ++pos;
        }
        if (pos >= size) {
            truncated();
        }
        const std::uint8_t marker = data[pos++];
        if (marker == 0xd9) {
            return orientation == 0 ? 1 : orientation;
        }
        if ((marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {
            continue;
        }
        if (marker == 0xd8 || marker == 0x00) {
            refuse(fmt::format("corrupt JPEG: unexpected marker 0x{:02x} at byte {}", marker,
                               pos - 1));
        }
        if (pos + 2 > size) {
            truncated();
        }
        const std::size_t length = read_be16(data + pos);
        if (length < 2) {
            refuse(fmt::format("corrupt JPEG: segment 0x{:02x} at byte {} has length {}", marker,
                               pos - 1, length));
        }
        if (pos + length > size) {
            truncated();
        }
        if (marker == 0xe1 && orientation == 0 && length - 2 >= 6 &&
            std::memcmp(data + pos + 2, "Exif\0\0", 6) == 0) {
            orientation = exif_orientation(data + pos + 2, length - 2);
        }
        pos += length;
        if (marker != 0xda) {
            continue;
        }
        // Inside a scan 0xFF is always followed by 0x00 (a stuffed byte) or a restart marker;
        // anything else is the next segment.
        while (true) {
            const void* next = std::memchr(data + pos, 0xff, size - pos);
            if (next == nullptr) {
                truncated();
            }
            pos = static_cast<std::size_t>(static_cast<const std::uint8_t*>(next) - data);
            if (pos + 1 >= size) {
                truncated();
            }
            const std::uint8_t following = data[pos + 1];
            if (following == 0x00 || (following >= 0xd0 && following <= 0xd7)) {
                pos += 2;
            } else if (following == 0xff) {
                ++pos;
            } else {
                break;
            }
        }
    }
}

// Rotates or mirrors so the pixels are as the camera meant them to be shown (EXIF values 1-8).
Image apply_orientation(Image image, int orientation) {
    if (orientation <= 1 || orientation > 8) {
        return image;
    }
    const int w = image.width;
    const int h = image.height;
    const bool swap = orientation >= 5;
    Image out;
    out.width = swap ? h : w;
    out.height = swap ? w : h;
    out.channels_in_file = image.channels_in_file;
    out.rgb.resize(image.rgb.size());
    for (int y = 0; y < out.height; ++y) {
        for (int x = 0; x < out.width; ++x) {
            int sx = x;
            int sy = y;
            switch (orientation) {
                case 2:
                    sx = w - 1 - x;
                    break;
                case 3:
                    sx = w - 1 - x;
                    sy = h - 1 - y;
                    break;
                case 4:
                    sy = h - 1 - y;
                    break;
                case 5:
                    sx = y;
                    sy = x;
                    break;
                case 6:
                    sx = y;
                    sy = h - 1 - x;
                    break;
                case 7:
                    sx = w - 1 - y;
                    sy = h - 1 - x;
                    break;
                case 8:
                    sx = w - 1 - y;
                    sy = x;
                    break;
                default:
                    break;
            }
            const std::size_t from = (static_cast<std::size_t>(sy) * w + sx) * 3;
            const std::size_t to = (static_cast<std::size_t>(y) * out.width + x) * 3;
            std::memcpy(&out.rgb[to], &image.rgb[from], 3);
        }
    }
    return out;
}

const char* format_name(ImageFormat format) {
    return format == ImageFormat::jpeg ? "JPEG" : "PNG";
}

std::string stb_reason() {
    const char* reason = stbi_failure_reason();
    return reason != nullptr ? reason : "unknown decoder error";
}

struct StbFree {
    void operator()(unsigned char* pixels) const { stbi_image_free(pixels); }
};

// Kept apart from decode_image so stb's buffer is freed before the orientation pass copies the
// pixels once more: for a 100-megapixel photo that is 400 MB less at the peak.
Image load_pixels(std::string_view bytes, ImageFormat format, bool has_alpha) {
    int width = 0;
    int height = 0;
    int channels = 0;
    std::unique_ptr<unsigned char, StbFree> pixels(
        stbi_load_from_memory(as_bytes(bytes), static_cast<int>(bytes.size()), &width, &height,
                              &channels, has_alpha ? 4 : 3));
    if (!pixels) {
        refuse(fmt::format("corrupt {}: {}", format_name(format), stb_reason()));
    }
    Image image;
    image.width = width;
    image.height = height;
    image.channels_in_file = channels;
    const std::size_t count = std::size_t(width) * std::size_t(height);
    image.rgb.resize(count * 3);
    const unsigned char* in = pixels.get();
    if (has_alpha) {
        for (std::size_t i = 0; i < count; ++i) {
            const unsigned alpha = in[i * 4 + 3];
            for (int c = 0; c < 3; ++c) {
                const unsigned value = in[i * 4 + c] * alpha + 255U * (255U - alpha);
                image.rgb[i * 3 + c] = static_cast<std::uint8_t>((value + 127U) / 255U);
            }
        }
    } else {
        std::memcpy(image.rgb.data(), in, count * 3);
    }
    return image;
}

}  // namespace

Image decode_image(std::string_view bytes, const DecodeLimits& limits) {
    const auto size = static_cast<std::int64_t>(bytes.size());
    if (size > limits.max_file_bytes) {
        refuse(fmt::format("image file is too large: {} bytes, the limit is {} bytes", size,
                           limits.max_file_bytes));
    }
    if (size > INT_MAX) {
        refuse(fmt::format("image file is too large: {} bytes, the decoder reads at most {} bytes",
                           size, INT_MAX));
    }
    const ImageFormat format = sniff_format(bytes);
    if (format == ImageFormat::other) {
        refuse(fmt::format("not a JPEG or PNG image ({})", describe_format(bytes)));
    }
    const auto* data = as_bytes(bytes);
    const int length = static_cast<int>(bytes.size());

    const Dimensions size_in_header =
        format == ImageFormat::png ? png_dimensions(bytes) : jpeg_dimensions(bytes);
    const std::int64_t pixels = std::int64_t(size_in_header.width) * size_in_header.height;
    if (pixels > limits.max_pixels) {
        refuse(fmt::format("image is too large: {}x{} is {:.1f} megapixels, the limit is {:.1f}",
                           size_in_header.width, size_in_header.height, double(pixels) / 1e6,
                           double(limits.max_pixels) / 1e6));
    }
    int orientation = 1;
    if (format == ImageFormat::png) {
        check_png_structure(bytes);
    } else {
        orientation = check_jpeg_structure(bytes);
    }

    int width = 0;
    int height = 0;
    int channels = 0;
    if (stbi_info_from_memory(data, length, &width, &height, &channels) == 0) {
        refuse(fmt::format("corrupt {}: {}", format_name(format), stb_reason()));
    }
    return apply_orientation(load_pixels(bytes, format, channels == 2 || channels == 4),
                             orientation);
}

}  // namespace eye::analyzers
