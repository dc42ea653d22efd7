#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace eye {

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
};

}  // namespace eye
