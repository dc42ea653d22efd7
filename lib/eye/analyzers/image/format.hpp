#pragma once

#include <string>
#include <string_view>

// Which image format a file holds, read from its first bytes, whatever it is named.
namespace eye::analyzers {

enum class ImageFormat { jpeg, png, other };

inline constexpr std::string_view k_png_signature("\x89PNG\r\n\x1a\n", 8);

ImageFormat sniff_format(std::string_view bytes);

// "image/jpeg" or "image/png"; "" for anything else.
std::string sniff_mime(std::string_view bytes);

// What a file that is neither JPEG nor PNG probably is, so the operator sees "looks like WebP"
// rather than guessing why a photo named .jpg is not one: "the file is empty", "looks like GIF",
// "looks like text", ... or "unknown format".
std::string describe_format(std::string_view bytes);

}  // namespace eye::analyzers
