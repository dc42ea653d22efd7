#pragma once

#include <string>
#include <string_view>

// Which image format a file holds, read from its first bytes, whatever it is named.
namespace eye::analyzers {

// The formats eye analyzes: what phones, cameras and the web make.
enum class ImageFormat { jpeg, png, webp, gif, heic, avif, tiff, other };

inline constexpr std::string_view k_png_signature("\x89PNG\r\n\x1a\n", 8);

ImageFormat sniff_format(std::string_view bytes);

// "image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/avif" or
// "image/tiff"; "" for other.
std::string mime_of(ImageFormat format);
// "JPEG", "PNG", "WebP", "GIF", "HEIC", "AVIF", "TIFF", as messages name them.
std::string name_of(ImageFormat format);

// mime_of(sniff_format(bytes)).
std::string sniff_mime(std::string_view bytes);

// What a file that is none of the formats probably is, so the operator sees "looks like PDF"
// rather than guessing why a photo named .jpg is not one: "the file is empty", "looks like BMP",
// "looks like text", ... or "unknown format".
std::string describe_format(std::string_view bytes);

}  // namespace eye::analyzers
