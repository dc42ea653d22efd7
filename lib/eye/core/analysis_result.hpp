#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eye {

// EXIF metadata in the formats of Avinash-EYE's MetadataService (read by analyzers/exif.hpp),
// each value within the type of its media_files column.
struct ExifMetadata {
    std::optional<std::string> camera_make;    // IFD0 Make, at most 255 characters
    std::optional<std::string> camera_model;   // IFD0 Model, idem
    std::optional<std::string> lens_model;     // EXIF LensModel, idem
    std::optional<std::string> date_taken;     // EXIF DateTimeOriginal, "2024-05-06 07:08:09"
    std::optional<std::string> exposure_time;  // "1/125s" (a whole number of seconds: "2")
    std::optional<std::string> f_number;       // "f/2.8"
    std::optional<long long> iso;              // EXIF ISOSpeedRatings
    std::optional<double> focal_length;        // millimetres, rounded to 0.1
    std::optional<double> gps_latitude;        // signed decimal degrees (south negative)
    std::optional<double> gps_longitude;       // signed decimal degrees (west negative)
    std::string exif_json;  // {"IFD0": {...}, "EXIF": {...}, "GPS": {...}}, sections present
};

// What an analysis of one image found: every analyzer (builtin, avinash, ollama) produces it and
// the worker writes it into media_files and eye.media_state in one transaction. Empty optionals
// leave their column as it is. JSON-valued columns are carried as serialised JSON text.
struct AnalysisResult {
    std::string analyzer;       // "builtin", "avinash", "ollama"
    std::string model_version;  // e.g. "builtin-1", "florence+clip", "llava:13b"

    std::optional<std::string> description;
    std::optional<std::string> detailed_description;
    std::vector<std::string> meta_tags;
    // the tags a learned model added to meta_tags, with their confidences: {"sea": 0.91}
    std::optional<std::string> predicted_tags_json;
    std::optional<std::vector<float>> embedding;

    int face_count = 0;
    std::optional<std::string> face_encodings_json;  // [[128 floats], ...]
    std::optional<std::string> face_locations_json;  // [[t, r, b, l], ...]

    std::optional<std::string> dominant_colors_json;  // [{"hex","rgb","name","percentage"}]
    std::optional<std::string> image_quality_json;    // {"overall_score","sharpness",...}
    std::optional<std::string> quality_tier;          // excellent | good | fair | poor
    std::optional<std::string> phash;                 // 16 hex digits
    std::optional<std::string> dhash;                 // 16 hex digits
    std::optional<std::string> objects_detected_json;
    std::optional<std::string> scene_classification_json;
    std::optional<std::string> extracted_text;

    std::optional<int> width;
    std::optional<int> height;
    std::optional<std::string> mime_type;
    std::optional<std::int64_t> file_size;
    std::optional<std::string> file_hash;  // sha256, hex
    std::optional<ExifMetadata> exif;      // the file's, when it carries EXIF
};

}  // namespace eye
