#pragma once

#include <string_view>

#include "eye/analyzers/image/decode.hpp"
#include "eye/core/analysis_result.hpp"

// What every analyzer records about the file itself before its analysis, as upstream's
// MetadataService does: size, sha256, mime type (by content), width and height as a viewer sees
// them, and the EXIF metadata (analyzers/exif.hpp).
namespace eye::analyzers {

// Sets file_size, file_hash, mime_type, width, height and exif of `result` from the file's bytes
// and what decode_image or read_image_header found in them.
void record_file_facts(AnalysisResult& result, std::string_view bytes, const DecodedImage& decoded);

}  // namespace eye::analyzers
