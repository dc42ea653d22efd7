#pragma once

#include <string>
#include <string_view>

#include "eye/analyzers/image/format.hpp"
#include "eye/analyzers/image/image.hpp"

// Decoding on libvips: every format of sniff_format, shrunk while it is loaded straight to the size
// an analysis works at, upright, in sRGB. Safe to call from several threads at once.
namespace eye::analyzers {

// What decode_image found: the image as a viewer sees it, small.
struct DecodedImage {
    ImageFormat format = ImageFormat::other;
    int width = 0;          // of the whole image, as displayed (EXIF orientation applied)
    int height = 0;         // idem
    int bands_in_file = 0;  // 1 grey, 2 grey+alpha, 3 colour, 4 colour+alpha or CMYK, ...
    Image image;       // at most max_side on its longer side (never enlarged), 8-bit sRGB, alpha
                       // composited over white
    std::string exif;  // the file's EXIF block ("Exif\0\0" and a TIFF header, or the TIFF header
                       // alone), empty when it has none
};

// The header only: format, displayed size, bands and EXIF, without decoding any pixel (what the
// metadata of an analysis needs when a service does the decoding). Same refusals as decode_image
// up to and including the pixel limit.
DecodedImage read_image_header(std::string_view bytes, const DecodeLimits& limits = {});

// Decodes `bytes` into an image whose longer side is at most max_side. JPEG, PNG, WebP, GIF (the
// first frame), HEIC/HEIF, AVIF and TIFF (the first page), recognized by content. The work is
// bounded by max_side, not by what the file claims: JPEG, WebP and HEIF shrink while they load,
// the others stream through a shrink a few rows at a time.
// Refusals, each a permanent AnalysisError with a one-line message:
// - more than limits.max_file_bytes: "image file is too large: ...";
// - not one of the formats: "not a supported image (looks like PDF)" (describe_format);
// - what check_structure finds in a JPEG or PNG (truncated, corrupt, too many scans, a bomb);
// - more than limits.max_pixels by the header, before any pixel is decoded: "image is too large:
//   65535x65535 is 4294.8 megapixels, the limit is 100.0";
// - whatever libvips refuses, warnings it counts as errors included: "cannot decode WebP: ...";
// - more memory than all decodes of the process may hold at once (512 MiB), by an estimate from
//   the format and the header: "image is too large to decode: 9000x8000 HEIC needs about ...";
//   a decode that fits waits while others hold too much, so decodes of large HEICs, GIFs or
//   progressive JPEGs (which hold the whole image) take turns rather than add up;
// - decoding longer than limits.max_seconds: "decoding took longer than 30 s, ...".
DecodedImage decode_image(std::string_view bytes, int max_side, const DecodeLimits& limits = {});

}  // namespace eye::analyzers
