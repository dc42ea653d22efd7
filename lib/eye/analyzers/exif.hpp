#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "eye/core/analysis_result.hpp"

// EXIF metadata as Avinash-EYE records it (upstream's app/Services/MetadataService.php, which
// reads PHP's exif_read_data): camera, lens, date taken, exposure, ISO, focal length and GPS in
// upstream's formats, and the EXIF data itself as JSON with control characters stripped. Read
// with libexif from a JPEG file's bytes or from an EXIF block as other formats carry it
// ("Exif\0\0" and a TIFF header, or the TIFF header alone, which is also how a TIFF file begins).
namespace eye::analyzers {

using eye::ExifMetadata;

// The metadata in `bytes`, or nullopt when they hold no EXIF. Values that do not fit upstream's
// columns (a date that does not exist, GPS beyond +-90/180, an ISO beyond 32 bits, text longer
// than 255 characters is cut) are left out rather than failing the analysis.
std::optional<ExifMetadata> read_exif(std::string_view bytes);

// Upstream's formats, on values as exif_read_data writes them ("num/den" for a rational).
std::string format_exposure_time(std::string_view value);            // "1/125" -> "1/125s"
std::string format_f_number(std::string_view value);                 // "28/10" -> "f/2.8"
std::optional<double> format_focal_length(std::string_view value);   // "501/10" -> 50.1
std::optional<std::string> parse_exif_date(std::string_view value);  // "2024:05:06 07:08:09"
// NUL bytes and control characters other than tab and newlines removed, invalid UTF-8 replaced
// by '?', surrounding white space trimmed.
std::string sanitize_exif_text(std::string_view value);

}  // namespace eye::analyzers
