#pragma once

#include <string>

#include <fmt/format.h>

#include "support/database.hpp"

// Completed images with every field the learning loop reads (description, tags, faces, a real
// embedding), made in one statement, for the export and training tests and benchmarks.
namespace eye::testing {

// The embedding column's type, "vector(512)" or "real[]", and its length (512 for real[]).
inline std::pair<std::string, int> embedding_column(const TestDatabase& db) {
    std::string type = db.query_value(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = 'media_files'::regclass AND attname = 'embedding'");
    int length = 512;
    if (auto open = type.find('('); open != std::string::npos) {
        length = std::stoi(type.substr(open + 1));
    }
    return {type, length};
}

// Images first..last, created a minute apart from 2026-01-01 on (id order is created order) or
// at `created_at` (an SQL expression of i), tagged tag<i % 5> and "photo", i % 3 faces,
// embedding value d of image i = ((7i + d) % 97) / 97 - 0.5 (as real).
inline void insert_completed_images(
    const TestDatabase& db, long long first, long long last,
    const std::string& created_at = "timestamp '2026-01-01' + i * interval '1 minute'") {
    const auto [type, length] = embedding_column(db);
    const bool vector = type.rfind("vector", 0) == 0;
    db.execute(fmt::format(
        "INSERT INTO media_files (file_path, processing_status, description, "
        "  detailed_description, meta_tags, face_count, face_encodings, embedding, created_at, "
        "  updated_at) "
        "SELECT 'albums/photo-' || i || '.jpg', 'completed', 'photo ' || i, "
        "  'a detailed description of photo ' || i, json_build_array('tag' || (i % 5), 'photo'), "
        "  i % 3, CASE WHEN i % 3 > 0 THEN json_build_array(json_build_array(0.5, -0.25)) END, "
        "  (SELECT {} || string_agg((((7 * i + d) % 97) / 97.0 - 0.5)::real::text, ',') || {} "
        "   FROM generate_series(1, {}) d)::{}, "
        "  {}, now() "
        "FROM generate_series({}, {}) i",
        vector ? "'['" : "'{'", vector ? "']'" : "'}'", length, type, created_at, first, last));
}

}  // namespace eye::testing
