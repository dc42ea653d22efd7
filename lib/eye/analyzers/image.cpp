#include "eye/analyzers/image.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include "eye/analyzers/analyzer.hpp"

namespace eye::analyzers {

namespace {

enum class Format { jpeg, png, other };

[[noreturn]] void refuse(std::string message) {
    throw AnalysisError(AnalysisError::Kind::permanent, std::move(message));
}

const std::uint8_t* as_bytes(std::string_view bytes) {
    return reinterpret_cast<const std::uint8_t*>(bytes.data());
}

bool starts_with(std::string_view bytes, std::string_view prefix) {
    return bytes.substr(0, prefix.size()) == prefix;
}

constexpr std::string_view k_png_signature("\x89PNG\r\n\x1a\n", 8);

Format sniff_format(std::string_view bytes) {
    if (bytes.size() >= 3 && starts_with(bytes, std::string_view("\xff\xd8\xff", 3))) {
        return Format::jpeg;
    }
    if (starts_with(bytes, k_png_signature)) {
        return Format::png;
    }
    return Format::other;
}

// Says what a refused file probably is, so the operator sees "looks like WebP" rather than
// guessing why a photo named .jpg is not one.
std::string describe_other(std::string_view bytes) {
    if (bytes.empty()) {
        return "the file is empty";
    }
    if (starts_with(bytes, "GIF87a") || starts_with(bytes, "GIF89a")) {
        return "looks like GIF";
    }
    if (bytes.size() >= 12 && starts_with(bytes, "RIFF") && bytes.substr(8, 4) == "WEBP") {
        return "looks like WebP";
    }
    if (bytes.size() >= 12 && bytes.substr(4, 4) == "ftyp") {
        const auto brand = bytes.substr(8, 4);
        if (brand == "avif" || brand == "avis") {
            return "looks like AVIF";
        }
        if (brand == "heic" || brand == "heix" || brand == "mif1" || brand == "msf1") {
            return "looks like HEIC";
        }
        return "looks like an ISO media (MP4/MOV) file";
    }
    if (starts_with(bytes, "BM")) {
        return "looks like BMP";
    }
    if (starts_with(bytes, std::string_view("II*\0", 4)) ||
        starts_with(bytes, std::string_view("MM\0*", 4))) {
        return "looks like TIFF";
    }
    if (starts_with(bytes, "%PDF")) {
        return "looks like PDF";
    }
    const auto head = bytes.substr(0, 512);
    const bool text = std::all_of(head.begin(), head.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 || c == '\n' || c == '\r' || c == '\t' || u >= 0x80;
    });
    if (text) {
        return "looks like text";
    }
    return "unknown format";
}

std::uint32_t read_be32(const std::uint8_t* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           std::uint32_t(p[3]);
}

std::uint16_t read_be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

const std::array<std::uint32_t, 256>& crc32_table() {
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t n = 0; n < 256; ++n) {
            std::uint32_t c = n;
            for (int k = 0; k < 8; ++k) {
                c = (c & 1U) ? (0xedb88320U ^ (c >> 1)) : (c >> 1);
            }
            t[n] = c;
        }
        return t;
    }();
    return table;
}

std::uint32_t crc32(const std::uint8_t* data, std::size_t size) {
    const auto& table = crc32_table();
    std::uint32_t c = 0xffffffffU;
    for (std::size_t i = 0; i < size; ++i) {
        c = table[(c ^ data[i]) & 0xffU] ^ (c >> 8);
    }
    return c ^ 0xffffffffU;
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
        if (crc32(data + pos + 4, length + 4) != read_be32(data + crc_at)) {
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

const char* format_name(Format format) {
    return format == Format::jpeg ? "JPEG" : "PNG";
}

std::string stb_reason() {
    const char* reason = stbi_failure_reason();
    return reason != nullptr ? reason : "unknown decoder error";
}

struct StbFree {
    void operator()(unsigned char* pixels) const { stbi_image_free(pixels); }
};

void append_to_string(void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data),
                                               static_cast<std::size_t>(size));
}

// For one axis: output pixel o covers source interval [o * scale, (o + 1) * scale); each source
// pixel it touches is weighted by the overlap.
struct AxisWeights {
    std::vector<int> first;      // first source index per output pixel
    std::vector<int> offset;     // where its weights start in weights
    std::vector<float> weights;  // normalised to sum 1 per output pixel
    std::vector<int> count;
};

AxisWeights axis_weights(int in_size, int out_size) {
    AxisWeights axis;
    const double scale = double(in_size) / out_size;
    for (int o = 0; o < out_size; ++o) {
        const double begin = o * scale;
        const double end = std::min(double(in_size), (o + 1) * scale);
        const int first = std::min(in_size - 1, static_cast<int>(std::floor(begin)));
        const int last =
            std::max(first, std::min(in_size - 1, static_cast<int>(std::ceil(end)) - 1));
        axis.first.push_back(first);
        axis.offset.push_back(static_cast<int>(axis.weights.size()));
        double total = 0;
        for (int i = first; i <= last; ++i) {
            const double overlap = std::min(end, i + 1.0) - std::max(begin, double(i));
            const double weight = std::max(0.0, overlap);
            axis.weights.push_back(static_cast<float>(weight));
            total += weight;
        }
        const int n = last - first + 1;
        for (int k = 0; k < n; ++k) {
            float& weight = axis.weights[axis.offset.back() + k];
            weight = total > 0 ? static_cast<float>(weight / total) : 1.0F / n;
        }
        axis.count.push_back(n);
    }
    return axis;
}

// Separable and streaming: one float row of accumulated input per output row, so shrinking a
// 100-megapixel image needs no float copy of it.
template <typename In, typename Out>
void resample_area(const In* in, int in_width, int in_height, int channels, Out* out, int out_width,
                   int out_height) {
    const AxisWeights xs = axis_weights(in_width, out_width);
    const AxisWeights ys = axis_weights(in_height, out_height);
    const std::size_t row_values = std::size_t(in_width) * channels;
    std::vector<float> row(row_values);
    for (int oy = 0; oy < out_height; ++oy) {
        std::fill(row.begin(), row.end(), 0.0F);
        for (int k = 0; k < ys.count[oy]; ++k) {
            const float wy = ys.weights[ys.offset[oy] + k];
            const In* source = in + std::size_t(ys.first[oy] + k) * row_values;
            for (std::size_t i = 0; i < row_values; ++i) {
                row[i] += wy * static_cast<float>(source[i]);
            }
        }
        Out* target = out + std::size_t(oy) * out_width * channels;
        for (int ox = 0; ox < out_width; ++ox) {
            for (int c = 0; c < channels; ++c) {
                float sum = 0;
                for (int k = 0; k < xs.count[ox]; ++k) {
                    sum += xs.weights[xs.offset[ox] + k] *
                           row[std::size_t(xs.first[ox] + k) * channels + c];
                }
                if constexpr (std::is_same_v<Out, std::uint8_t>) {
                    target[ox * channels + c] =
                        static_cast<std::uint8_t>(std::clamp(std::lround(sum), 0L, 255L));
                } else {
                    target[ox * channels + c] = sum;
                }
            }
        }
    }
}

void check_size(int width, int height) {
    if (width < 1 || height < 1) {
        throw std::invalid_argument(fmt::format("cannot resize to {}x{}", width, height));
    }
}

// Kept apart from decode_image so stb's buffer is freed before the orientation pass copies the
// pixels once more: for a 100-megapixel photo that is 400 MB less at the peak.
Image load_pixels(std::string_view bytes, Format format, bool has_alpha) {
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

class Sha256 {
public:
    void update(const std::uint8_t* data, std::size_t size) {
        m_length += size;
        if (m_used > 0) {
            const std::size_t take = std::min(size, m_block.size() - m_used);
            std::memcpy(m_block.data() + m_used, data, take);
            m_used += take;
            data += take;
            size -= take;
            if (m_used < m_block.size()) {
                return;
            }
            compress(m_block.data());
            m_used = 0;
        }
        while (size >= 64) {
            compress(data);
            data += 64;
            size -= 64;
        }
        std::memcpy(m_block.data(), data, size);
        m_used = size;
    }

    std::array<std::uint8_t, 32> finish() {
        const std::uint64_t bits = m_length * 8;
        const std::uint8_t one = 0x80;
        update(&one, 1);
        const std::uint8_t zero = 0;
        while (m_used != 56) {
            update(&zero, 1);
        }
        std::array<std::uint8_t, 8> length{};
        for (int i = 0; i < 8; ++i) {
            length[i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
        }
        update(length.data(), length.size());
        std::array<std::uint8_t, 32> digest{};
        for (int i = 0; i < 8; ++i) {
            for (int j = 0; j < 4; ++j) {
                digest[i * 4 + j] = static_cast<std::uint8_t>(m_state[i] >> (24 - 8 * j));
            }
        }
        return digest;
    }

private:
    static std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

    void compress(const std::uint8_t* block) {
        static constexpr std::array<std::uint32_t, 64> k_rounds = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2};
        std::array<std::uint32_t, 64> w{};
        for (int i = 0; i < 16; ++i) {
            w[i] = read_be32(block + 4 * i);
        }
        for (int i = 16; i < 64; ++i) {
            const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        std::uint32_t a = m_state[0], b = m_state[1], c = m_state[2], d = m_state[3];
        std::uint32_t e = m_state[4], f = m_state[5], g = m_state[6], h = m_state[7];
        for (int i = 0; i < 64; ++i) {
            const std::uint32_t big_s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
            const std::uint32_t choose = (e & f) ^ (~e & g);
            const std::uint32_t t1 = h + big_s1 + choose + k_rounds[i] + w[i];
            const std::uint32_t big_s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
            const std::uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
            const std::uint32_t t2 = big_s0 + majority;
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        m_state[0] += a;
        m_state[1] += b;
        m_state[2] += c;
        m_state[3] += d;
        m_state[4] += e;
        m_state[5] += f;
        m_state[6] += g;
        m_state[7] += h;
    }

    std::array<std::uint32_t, 8> m_state = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::array<std::uint8_t, 64> m_block{};
    std::size_t m_used = 0;
    std::uint64_t m_length = 0;
};

}  // namespace

std::string sniff_mime(std::string_view bytes) {
    switch (sniff_format(bytes)) {
        case Format::jpeg:
            return "image/jpeg";
        case Format::png:
            return "image/png";
        case Format::other:
            break;
    }
    return "";
}

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
    const Format format = sniff_format(bytes);
    if (format == Format::other) {
        refuse(fmt::format("not a JPEG or PNG image ({})", describe_other(bytes)));
    }
    const auto* data = as_bytes(bytes);
    const int length = static_cast<int>(bytes.size());

    const Dimensions size_in_header =
        format == Format::png ? png_dimensions(bytes) : jpeg_dimensions(bytes);
    const std::int64_t pixels = std::int64_t(size_in_header.width) * size_in_header.height;
    if (pixels > limits.max_pixels) {
        refuse(fmt::format("image is too large: {}x{} is {:.1f} megapixels, the limit is {:.1f}",
                           size_in_header.width, size_in_header.height, double(pixels) / 1e6,
                           double(limits.max_pixels) / 1e6));
    }
    int orientation = 1;
    if (format == Format::png) {
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

Image resize(const Image& image, int width, int height) {
    check_size(width, height);
    Image out;
    out.width = width;
    out.height = height;
    out.channels_in_file = image.channels_in_file;
    out.rgb.resize(std::size_t(width) * height * 3);
    if (!image.rgb.empty()) {
        resample_area(image.rgb.data(), image.width, image.height, 3, out.rgb.data(), width,
                      height);
    }
    return out;
}

Plane resize(const Plane& plane, int width, int height) {
    check_size(width, height);
    Plane out{width, height, std::vector<float>(std::size_t(width) * height)};
    if (!plane.values.empty()) {
        resample_area(plane.values.data(), plane.width, plane.height, 1, out.values.data(), width,
                      height);
    }
    return out;
}

Plane luma_of(const Image& image) {
    Plane plane{image.width, image.height, {}};
    const std::size_t count = std::size_t(image.width) * image.height;
    plane.values.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
        plane.values[i] = 0.299F * image.rgb[i * 3] + 0.587F * image.rgb[i * 3 + 1] +
                          0.114F * image.rgb[i * 3 + 2];
    }
    return plane;
}

Image downscale(const Image& image, int max_side) {
    const int longer = std::max(image.width, image.height);
    if (max_side <= 0 || longer <= max_side || image.rgb.empty()) {
        return image;
    }
    const double scale = double(max_side) / longer;
    return resize(image, std::max(1, static_cast<int>(std::lround(image.width * scale))),
                  std::max(1, static_cast<int>(std::lround(image.height * scale))));
}

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

std::string sha256_hex(std::string_view bytes) {
    Sha256 hasher;
    hasher.update(as_bytes(bytes), bytes.size());
    const auto digest = hasher.finish();
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(64);
    for (const std::uint8_t byte : digest) {
        hex += k_hex[byte >> 4];
        hex += k_hex[byte & 0x0f];
    }
    return hex;
}

}  // namespace eye::analyzers
