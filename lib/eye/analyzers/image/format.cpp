#include "eye/analyzers/image/format.hpp"

#include <algorithm>

namespace eye::analyzers {
namespace {

bool starts_with(std::string_view bytes, std::string_view prefix) {
    return bytes.substr(0, prefix.size()) == prefix;
}

}  // namespace

ImageFormat sniff_format(std::string_view bytes) {
    if (bytes.size() >= 3 && starts_with(bytes, std::string_view("\xff\xd8\xff", 3))) {
        return ImageFormat::jpeg;
    }
    if (starts_with(bytes, k_png_signature)) {
        return ImageFormat::png;
    }
    return ImageFormat::other;
}

std::string sniff_mime(std::string_view bytes) {
    switch (sniff_format(bytes)) {
        case ImageFormat::jpeg:
            return "image/jpeg";
        case ImageFormat::png:
            return "image/png";
        case ImageFormat::other:
            break;
    }
    return "";
}

std::string describe_format(std::string_view bytes) {
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

}  // namespace eye::analyzers
