#pragma once

#include <cstdint>
#include <string_view>

#include "eye/analyzers/image/format.hpp"

// What a decoder is not asked to judge: the shape of a JPEG or PNG file, walked over its raw bytes
// before a single pixel is decoded. Cheap (one pass, no allocation) and the source of the clearest
// messages for files that are cut short, damaged, or built to exhaust a decoder.
namespace eye::analyzers {

struct StructureLimits {
    // libjpeg decodes every scan of a progressive JPEG in full; real encoders write about 10
    int max_jpeg_scans = 500;
};

// Throws a permanent AnalysisError with a one-line message for
// - a JPEG whose segments or scan data end before the end-of-image marker ("truncated JPEG: ..."),
//   whose markers make no sense ("corrupt JPEG: ..."), or with more scans than the limit;
// - a PNG cut short before IEND ("truncated PNG: ..."), with a wrong CRC or a first chunk other
//   than IHDR ("corrupt PNG: ..."), or whose compressed image data is more than its pixels can
//   need, the shape of a decompression bomb ("PNG decompression bomb: ...").
// Other formats pass unchecked; their decoders' own checks apply. Bytes after a complete image
// are allowed. Returns whether the image is progressive (a JPEG) or interlaced (a PNG), which
// its decoder cannot shrink while loading: it holds the whole image.
bool check_structure(std::string_view bytes, ImageFormat format, const StructureLimits& limits);

}  // namespace eye::analyzers
