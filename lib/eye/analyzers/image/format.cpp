#include "eye/analyzers/image/format.hpp"

#include <algorithm>

namespace eye::analyzers {
namespace {

bool starts_with(std::string_view bytes, std::string_view prefix) {
    return bytes.substr(0, prefix.size()) == prefix;
}

// An ISO base media file (HEIF, AVIF, MP4, MOV) names its brands in its first box, "ftyp": the
// major one at byte 8, compatible ones from byte 16 to the end of the box. iPhones write "heic";
// AVIF encoders write "avif", or "mif1" with "avif" among the compatible brands.
ImageFormat iso_media_format(std::string_view bytes) {
    if (bytes.size() < 16 || bytes.substr(4, 4) != "ftyp") {
        return ImageFormat::other;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    std::size_t box = (std::size_t(p[0]) << 24) | (std::size_t(p[1]) << 16) |
                      (std::size_t(p[2]) << 8) | std::size_t(p[3]);
    box = std::min(box, std::min<std::size_t>(bytes.size(), 4096));
    bool heif = false;
    for (std::size_t at = 8; at + 4 <= box; at += (at == 8 ? 8 : 4)) {
        const std::string_view brand = bytes.substr(at, 4);
        if (brand == "avif" || brand == "avis") {
            return ImageFormat::avif;
        }
        heif = heif || brand == "heic" || brand == "heix" || brand == "heim" || brand == "heis" ||
               brand == "mif1" || brand == "msf1";
    }
    return heif ? ImageFormat::heic : ImageFormat::other;
}

}  // namespace

ImageFormat sniff_format(std::string_view bytes) {
    if (starts_with(bytes, std::string_view("\xff\xd8\xff", 3))) {
        return ImageFormat::jpeg;
    }
    if (starts_with(bytes, k_png_signature)) {
        return ImageFormat::png;
    }
    if (bytes.size() >= 12 && starts_with(bytes, "RIFF") && bytes.substr(8, 4) == "WEBP") {
        return ImageFormat::webp;
    }
    if (starts_with(bytes, "GIF87a") || starts_with(bytes, "GIF89a")) {
        return ImageFormat::gif;
    }
    if (starts_with(bytes, std::string_view("II*\0", 4)) ||
        starts_with(bytes, std::string_view("MM\0*", 4))) {
        return ImageFormat::tiff;
    }
    return iso_media_format(bytes);
}

std::string mime_of(ImageFormat format) {
    switch (format) {
        case ImageFormat::jpeg:
            return "image/jpeg";
        case ImageFormat::png:
            return "image/png";
        case ImageFormat::webp:
            return "image/webp";
        case ImageFormat::gif:
            return "image/gif";
        case ImageFormat::heic:
            return "image/heic";
        case ImageFormat::avif:
            return "image/avif";
        case ImageFormat::tiff:
            return "image/tiff";
        case ImageFormat::other:
            break;
    }
    return "";
}

std::string name_of(ImageFormat format) {
    switch (format) {
        case ImageFormat::jpeg:
            return "JPEG";
        case ImageFormat::png:
            return "PNG";
        case ImageFormat::webp:
            return "WebP";
        case ImageFormat::gif:
            return "GIF";
        case ImageFormat::heic:
            return "HEIC";
        case ImageFormat::avif:
            return "AVIF";
        case ImageFormat::tiff:
            return "TIFF";
        case ImageFormat::other:
            break;
    }
    return "image";
}

std::string sniff_mime(std::string_view bytes) {
    return mime_of(sniff_format(bytes));
}

std::string describe_format(std::string_view bytes) {
    if (bytes.empty()) {
        return "the file is empty";
    }
    if (bytes.size() >= 12 && bytes.substr(4, 4) == "ftyp") {
        return "looks like an ISO media (MP4/MOV) file";
    }
    if (starts_with(bytes, "BM")) {
        return "looks like BMP";
    }
    if (starts_with(bytes, "%PDF")) {
        return "looks like PDF";
    }
    if (starts_with(bytes, "<?xml") || starts_with(bytes, "<svg")) {
        return "looks like SVG or other XML";
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

}  // namespace eye::analyzers
