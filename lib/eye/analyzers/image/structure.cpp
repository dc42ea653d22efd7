#include "eye/analyzers/image/structure.hpp"

#include <cstring>
#include <string>
#include <zlib.h>

#include <fmt/format.h>

#include "eye/analyzers/analyzer.hpp"

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

// The most bytes of zlib data that the pixels of this IHDR can take: every row's filter byte
// and samples (Adam7 interlacing adds at most a filter byte per row of each of its 7 passes),
// plus what deflate adds to data it cannot compress (5 bytes per 64 KiB block) and some slack.
// Anything beyond it inflates to data no decoder needs, which is what a decompression bomb is.
std::uint64_t png_data_bound(const std::uint8_t* ihdr) {
    const std::uint64_t width = read_be32(ihdr);
    const std::uint64_t height = read_be32(ihdr + 4);
    const unsigned depth = ihdr[8];
    const unsigned colour = ihdr[9];
    const unsigned channels = colour == 0   ? 1
                              : colour == 2 ? 3
                              : colour == 3 ? 1
                              : colour == 4 ? 2
                                            : 4;
    const std::uint64_t row = (width * channels * depth + 7) / 8 + 1;
    const std::uint64_t raw = row * height + (ihdr[12] != 0 ? 7 * height : 0);
    return raw + raw / 8192 * 5 + 64 * 1024;
}

// stb and libpng alike would stop at the first IDAT they need, so a cut or damaged file decodes
// half grey without complaint; walking the chunks catches both, and sizes the compressed data.
bool check_png(std::string_view bytes) {
    const auto* data = as_bytes(bytes);
    const std::size_t size = bytes.size();
    std::size_t pos = k_png_signature.size();
    std::uint64_t compressed = 0;
    std::uint64_t bound = 0;
    bool interlaced = false;
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
        if (first && (type != "IHDR" || length != 13)) {
            refuse(fmt::format("corrupt PNG: the first chunk is '{}', not a 13-byte 'IHDR'", type));
        }
        const std::size_t crc_at = pos + 8 + length;
        if (crc_at + 4 > size) {
            refuse(
                fmt::format("truncated PNG: data ends at byte {} inside chunk '{}'", size, type));
        }
        if (::crc32(0, data + pos + 4, length + 4) != read_be32(data + crc_at)) {
            refuse(fmt::format("corrupt PNG: CRC mismatch in chunk '{}' at byte {}", type, pos));
        }
        if (first) {
            bound = png_data_bound(data + pos + 8);
            interlaced = data[pos + 8 + 12] != 0;
            first = false;
        }
        if (type == "IDAT") {
            compressed += length;
            if (compressed > bound) {
                refuse(fmt::format(
                    "PNG decompression bomb: over {} bytes of compressed image data for {}x{} "
                    "pixels, which need at most {}",
                    compressed, read_be32(data + 16), read_be32(data + 20), bound));
            }
        }
        if (type == "IEND") {
            return interlaced;
        }
        pos = crc_at + 4;
    }
}

// Walks the JPEG segments (skipping APPn payloads by their length, so an embedded EXIF thumbnail's
// end marker is not mistaken for ours) and the entropy-coded scans up to the end-of-image marker.
bool check_jpeg(std::string_view bytes, const StructureLimits& limits) {
    const auto* data = as_bytes(bytes);
    const std::size_t size = bytes.size();
    std::size_t pos = 2;
    int scans = 0;
    bool progressive = false;
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
            return progressive;
        }
        // SOF2, SOF6, SOF10 and SOF14 start a progressive frame
        progressive =
            progressive || marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce;
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
        pos += length;
        if (marker != 0xda) {
            continue;
        }
        if (++scans > limits.max_jpeg_scans) {
            refuse(
                fmt::format("JPEG with too many scans: more than {}, which no camera or "
                            "encoder writes (a decoder would spend minutes on it)",
                            limits.max_jpeg_scans));
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

}  // namespace

bool check_structure(std::string_view bytes, ImageFormat format, const StructureLimits& limits) {
    if (format == ImageFormat::jpeg) {
        return check_jpeg(bytes, limits);
    }
    if (format == ImageFormat::png) {
        return check_png(bytes);
    }
    return false;
}

}  // namespace eye::analyzers
