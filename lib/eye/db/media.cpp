#include "eye/db/media.hpp"

#include <functional>
#include <vector>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/json/json.hpp"

namespace eye::db {
namespace {

// The result columns in parameter order, from $2 on ($1 is the id, the last one "now").
constexpr const char* k_result_columns[] = {
    "description",
    "detailed_description",
    "meta_tags",
    "embedding",
    "face_count",
    "face_encodings",
    "dominant_colors",
    "image_quality",
    "quality_tier",
    "phash",
    "dhash",
    "objects_detected",
    "scene_classification",
    "extracted_text",
    "width",
    "height",
    "mime_type",
    "file_size",
    "file_hash",
    // the file's EXIF metadata, upstream's columns (absent from older schemas: skipped)
    "exif_data",
    "camera_make",
    "camera_model",
    "lens_model",
    "date_taken",
    "exposure_time",
    "f_number",
    "iso",
    "focal_length",
    "gps_latitude",
    "gps_longitude",
};

const Statement k_media_columns{
    "media.columns",
    "SELECT a.attname FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass('media_files') AND a.attnum > 0 AND NOT a.attisdropped"};

const Statement k_upsert_state{
    "media.upsert_state",
    "INSERT INTO eye.media_state AS s (media_id, analyzer, model_version, status, analyzed_at, "
    "                                  consecutive_failures, last_error, updated_at, "
    "                                  predicted_tags) "
    "VALUES ($1, $2, $3, 'completed', $4::timestamptz, 0, NULL, $4::timestamptz, $5::jsonb) "
    "ON CONFLICT (media_id) DO UPDATE "
    "SET analyzer = excluded.analyzer, model_version = excluded.model_version, "
    "    predicted_tags = excluded.predicted_tags, "
    "    status = 'completed', analyzed_at = excluded.analyzed_at, consecutive_failures = 0, "
    "    last_error = NULL, updated_at = excluded.updated_at"};

std::string tags_json(const std::vector<std::string>& tags) {
    json::Writer w;
    w.begin_array();
    for (const auto& tag : tags) {
        w.value(tag);
    }
    w.end_array();
    return w.take();
}

}  // namespace

MediaTable MediaTable::read(Transaction& tx) {
    MediaTable table;
    for (const auto& row : tx.many(k_media_columns)) {
        table.m_columns.insert(row[0].as<std::string>());
    }
    table.m_embedding = read_embedding_column(tx);

    // one statement for this table's columns: SET col = coalesce($n, col) leaves a column
    // alone when the analyzer gave nothing for it, and lets the server type each parameter
    std::string sets;
    int parameter = 2;
    for (const char* column : k_result_columns) {
        if (table.has(column)) {
            sets += fmt::format("{} = coalesce(${}, {}), ", column, parameter++, column);
        }
    }
    std::string now = fmt::format("${}::timestamptz", parameter);
    sets += fmt::format("processing_status = 'completed', processing_completed_at = {}::timestamp",
                        now);
    for (const char* column : {"processing_error"}) {
        if (table.has(column)) {
            sets += fmt::format(", {} = NULL", column);
        }
    }
    if (table.has("updated_at")) {
        sets += fmt::format(", updated_at = {}::timestamp", now);
    }
    if (table.has("processing_stage")) {
        sets += ", processing_stage = 'saving_results'";
    }
    // a deleted image is never written, even when it was deleted while being analyzed
    table.m_update_sql = fmt::format("UPDATE media_files SET {} WHERE id = $1{}", sets,
                                     table.has("deleted_at") ? " AND deleted_at IS NULL" : "");
    table.m_update_name =
        fmt::format("media.write_analysis.{:x}", std::hash<std::string>{}(table.m_update_sql));

    if (table.has("processing_stage")) {
        std::string started = "processing_stage = 'analyzing'";
        if (table.has("upload_completed_at")) {
            started +=
                ", upload_completed_at = coalesce(upload_completed_at, "
                "$2::timestamptz::timestamp)";
        }
        if (table.has("upload_progress")) {
            started += ", upload_progress = 100";
        }
        table.m_started_sql =
            fmt::format("UPDATE media_files SET {} WHERE id = ANY($1::bigint[])", started);
        table.m_started_name =
            fmt::format("media.mark_started.{:x}", std::hash<std::string>{}(table.m_started_sql));
    }
    return table;
}

bool MediaTable::write_analysis(Transaction& tx, std::int64_t media_id,
                                const AnalysisResult& result, TimePoint now) const {
    std::optional<std::string> embedding;
    if (result.embedding && has("embedding")) {
        embedding = embedding_literal(m_embedding, *result.embedding);
    }
    bool faces = result.face_encodings_json.has_value();
    std::optional<std::string> tags;
    if (!result.meta_tags.empty()) {
        tags = tags_json(result.meta_tags);
    }
    const ExifMetadata exif = result.exif.value_or(ExifMetadata{});
    std::optional<std::string> exif_json;
    if (result.exif) {
        exif_json = result.exif->exif_json;
    }
    // in k_result_columns' order
    const Param values[] = {result.description,
                            result.detailed_description,
                            tags,
                            embedding,
                            faces ? to_param(result.face_count) : std::nullopt,
                            result.face_encodings_json,
                            result.dominant_colors_json,
                            result.image_quality_json,
                            result.quality_tier,
                            result.phash,
                            result.dhash,
                            result.objects_detected_json,
                            result.scene_classification_json,
                            result.extracted_text,
                            to_param(result.width),
                            to_param(result.height),
                            result.mime_type,
                            to_param(result.file_size),
                            result.file_hash,
                            exif_json,
                            exif.camera_make,
                            exif.camera_model,
                            exif.lens_model,
                            exif.date_taken,
                            exif.exposure_time,
                            exif.f_number,
                            to_param(exif.iso),
                            to_param(exif.focal_length),
                            to_param(exif.gps_latitude),
                            to_param(exif.gps_longitude)};
    static_assert(std::size(values) == std::size(k_result_columns));
    std::vector<Param> params{to_param(media_id)};
    for (std::size_t i = 0; i < std::size(k_result_columns); ++i) {
        if (has(k_result_columns[i])) {
            params.push_back(values[i]);
        }
    }
    params.push_back(to_param(now));
    Statement update{m_update_name.c_str(), m_update_sql.c_str()};
    auto changed = tx.many_with(update, params).affected_rows();
    if (changed == 0) {
        return false;
    }
    tx.none(k_upsert_state, media_id, result.analyzer, result.model_version, now,
            result.predicted_tags_json);
    return true;
}

}  // namespace eye::db

namespace eye::db {

void MediaTable::mark_started(Transaction& tx, const std::vector<std::int64_t>& media_ids,
                              TimePoint now) const {
    if (m_started_sql.empty() || media_ids.empty()) {
        return;
    }
    const Statement started{m_started_name.c_str(), m_started_sql.c_str()};
    if (has("upload_completed_at")) {
        tx.none(started, media_ids, now);
    } else {
        tx.none(started, media_ids);
    }
}

}  // namespace eye::db
