#pragma once

#include <string_view>

#include "eye/analyzers/image/image.hpp"

// Decoding of the two image formats eye analyzes (JPEG, PNG) on top of stb_image, with the checks
// stb leaves out. Pure (no I/O) and safe to call from several threads at once.
namespace eye::analyzers {

// Decodes a JPEG or PNG held in memory into 8-bit RGB. Grey is expanded to RGB; an alpha channel
// is composited over white (how a transparent background is usually shown); the EXIF orientation
// of a JPEG is applied, so width and height are as the image is displayed.
// Checks, in this order, each failure a permanent AnalysisError with a one-line message:
// - more than limits.max_file_bytes: "image file is too large: ...";
// - not JPEG or PNG by its magic bytes: "not a JPEG or PNG image (...)", naming what it looks like
//   (text, GIF, WebP, HEIC, ...) when it can tell;
// - width and height read from the PNG IHDR or the JPEG frame header, before any pixel is decoded:
//   a header that is missing or says 0 pixels is "corrupt ..." / "truncated ...", more than
//   limits.max_pixels is "image is too large: 640x427 is 0.3 megapixels, the limit is 0.1";
// - a file cut short: a JPEG whose segments or scan data end before the end-of-image marker, a PNG
//   without its IEND chunk: "truncated JPEG: ..." / "truncated PNG: ..."; a PNG chunk whose CRC is
//   wrong: "corrupt PNG: CRC mismatch ...";
// - whatever stb refuses: "corrupt JPEG: <stb's reason>" / "corrupt PNG: <stb's reason>".
// Bytes after a complete image (JPEG end marker, PNG IEND) are ignored.
Image decode_image(std::string_view bytes, const DecodeLimits& limits = {});

}  // namespace eye::analyzers
