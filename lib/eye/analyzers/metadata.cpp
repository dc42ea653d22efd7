#include "eye/analyzers/metadata.hpp"

#include "eye/analyzers/exif.hpp"
#include "eye/core/digest.hpp"

namespace eye::analyzers {

void record_file_facts(AnalysisResult& result, std::string_view bytes,
                       const DecodedImage& decoded) {
    result.file_size = static_cast<std::int64_t>(bytes.size());
    result.file_hash = sha256_hex(bytes);
    result.mime_type = mime_of(decoded.format);
    result.width = decoded.width;
    result.height = decoded.height;
    if (!decoded.exif.empty()) {
        result.exif = read_exif(decoded.exif);
    }
}

}  // namespace eye::analyzers
