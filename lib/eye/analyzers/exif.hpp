#pragma once

#include <optional>
#include <string>
#include <string_view>

// EXIF metadata as Avinash-EYE records it (upstream's app/Services/MetadataService.php, which
// reads PHP's exif_read_data): camera, lens, date taken, exposure, ISO, focal length and GPS in
// upstream's formats, and the EXIF data itself as JSON with control characters stripped. Read
// with libexif from a JPEG file's bytes or from a raw EXIF block ("Exif\0\0...", as other
// formats carry it).
namespace eye::analyzers {

struct ExifMetadata {
    std::optional<std::string> camera_make;    // IFD0 Make
    std::optional<std::string> camera_model;   // IFD0 Model
    std::optional<std::string> lens_model;     // EXIF LensModel
    std::optional<std::string> date_taken;     // EXIF DateTimeOriginal, "2024-05-06 07:08:09"
    std::optional<std::string> exposure_time;  // "1/125s" (a whole number of seconds: "2")
    std::optional<std::string> f_number;       // "f/2.8"
    std::optional<long long> iso;              // EXIF ISOSpeedRatings
    std::optional<double> focal_length;        // millimetres, rounded to 0.1
    std::optional<double> gps_latitude;        // signed decimal degrees (south negative)
    std::optional<double> gps_longitude;       // signed decimal degrees (west negative)
    std::string exif_json;  // {"IFD0": {...}, "EXIF": {...}, "GPS": {...}}, sections present
};

// The metadata in `bytes`, or nullopt when they hold no EXIF.
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
