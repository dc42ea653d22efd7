#include "eye/db/media_indexes.hpp"

#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "eye/log/log.hpp"

namespace eye::db {
namespace {

const Statement k_media_columns{
    "media_indexes.columns",
    "SELECT a.attname FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass('media_files') AND a.attnum > 0 AND NOT a.attisdropped"};

// eye's indexes on media_files, valid or left invalid by an interrupted concurrent build
const Statement k_eye_media_indexes{
    "media_indexes.existing",
    "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = to_regclass('media_files') AND c.relname LIKE 'eye\\_media\\_files\\_%'"};

// what each of them was last built from
const Statement k_index_records{"media_indexes.records",
                                "SELECT name, definition FROM eye.media_indexes"};

const Statement k_record_index{
    "media_indexes.record",
    "INSERT INTO eye.media_indexes (name, definition) VALUES ($1, $2) "
    "ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, built_at = now()"};

// eye's own indexes on media_files, upstream's table or ours. Each is built from the columns the
// table has; nullopt when it lacks one the index needs. `since` is the schema version that gave
// the index its present definition: one found on a database migrated from before that version
// is built again.
struct MediaIndex {
    const char* name;
    int since;
    std::function<std::optional<std::string>(const std::set<std::string>&)> sql;
};

bool has_all(const std::set<std::string>& columns, std::initializer_list<const char*> wanted) {
    for (const char* column : wanted) {
        if (columns.count(column) == 0) {
            return false;
        }
    }
    return true;
}

const std::vector<MediaIndex>& media_indexes() {
    static const std::vector<MediaIndex> k_indexes = {
        {"eye_media_files_processing", 1,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns, {"processing_status", "processing_started_at", "updated_at",
                                    "deleted_at"})) {
                 return std::nullopt;
             }
             return "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_processing ON "
                    "media_files "
                    "((coalesce(processing_started_at, updated_at))) "
                    "WHERE processing_status = 'processing' AND deleted_at IS NULL";
         }},
        {"eye_media_files_file_hash", 1,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns, {"file_hash", "deleted_at"})) {
                 return std::nullopt;
             }
             // a hash index: only ever looked up by equality, and cheaper to keep up on every
             // write to media_files than a btree of random hashes
             return "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_file_hash ON "
                    "media_files "
                    "USING hash (file_hash) WHERE deleted_at IS NULL";
         }},
        {"eye_media_files_file_path", 1,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns, {"file_path", "deleted_at"})) {
                 return std::nullopt;
             }
             // a hash index, like file_hash's: import only asks for equality, and the
             // monitor's mass reset pays less to maintain it than a btree of long paths
             return "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_file_path ON "
                    "media_files "
                    "USING hash (file_path) WHERE deleted_at IS NULL";
         }},
        {"eye_media_files_oldest", 1,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns, {"media_type", "processing_completed_at", "processing_status",
                                    "deleted_at"})) {
                 return std::nullopt;
             }
             return fmt::format(
                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_oldest ON "
                 "media_files (media_type, processing_completed_at NULLS FIRST, "
                 "id) WHERE {}",
                 k_oldest_rows);
         }},
        {"eye_media_files_failed", 1,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns,
                          {"media_type", "updated_at", "processing_status", "deleted_at"})) {
                 return std::nullopt;
             }
             return fmt::format(
                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_failed ON "
                 "media_files (media_type, updated_at, id) WHERE {}",
                 k_failed_rows);
         }},
        {"eye_media_files_completed", 1,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns, {"media_type", "processing_status", "deleted_at"})) {
                 return std::nullopt;
             }
             return fmt::format(
                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_completed ON "
                 "media_files (media_type, id) WHERE {}",
                 k_completed_rows);
         }},
        {"eye_media_files_missing", 3,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns,
                          {"media_type", "processing_status", "deleted_at", "description"})) {
                 return std::nullopt;
             }
             return fmt::format(
                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_missing ON "
                 "media_files (media_type, id) WHERE {}",
                 missing_rows(columns.count("embedding") != 0));
         }},
        {"eye_media_files_undescribed", 4,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns,
                          {"media_type", "processing_status", "deleted_at", "description"})) {
                 return std::nullopt;
             }
             // "missing" for an analyzer that gives no embeddings: only the description counts
             return fmt::format(
                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_undescribed ON "
                 "media_files (media_type, id) WHERE {}",
                 missing_rows(false));
         }},
        {"eye_media_files_newest", 5,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns,
                          {"media_type", "processing_status", "deleted_at", "created_at"})) {
                 return std::nullopt;
             }
             // the export's order (newest first) and the training gate's count of images added
             // since a time
             return fmt::format(
                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_newest ON "
                 "media_files (media_type, created_at DESC, id DESC) WHERE {}",
                 k_completed_rows);
         }},
        {"eye_media_files_status", 7,
         [](const auto& columns) -> std::optional<std::string> {
             if (!has_all(columns, {"media_type", "processing_status", "deleted_at"})) {
                 return std::nullopt;
             }
             // the library by status (eye serve, each refresh): counted from the index alone
             return std::string(
                 "CREATE INDEX CONCURRENTLY IF NOT EXISTS eye_media_files_status ON "
                 "media_files (media_type, processing_status) WHERE deleted_at IS NULL");
         }},
    };
    return k_indexes;
}

std::set<std::string> media_columns(Transaction& tx) {
    std::set<std::string> columns;
    for (const auto& row : tx.many(k_media_columns)) {
        columns.insert(row[0].as<std::string>());
    }
    return columns;
}

}  // namespace

void record_existing_media_indexes(Transaction& tx, int from_version) {
    if (from_version >= 4) {
        return;
    }
    std::set<std::string> columns = media_columns(tx);
    for (const auto& row : tx.many(k_eye_media_indexes)) {
        std::string name = row[0].as<std::string>();
        for (const auto& index : media_indexes()) {
            auto sql = index.sql(columns);
            if (name == index.name && row[1].as<bool>() && sql && from_version >= index.since) {
                tx.none(k_record_index, name, *sql);
            }
        }
    }
}

void build_media_indexes(Session& session, const MigrationOptions& options,
                         const SchemaStatus& status, MigrationReport& report) {
    Transaction tx(session, Transaction::Mode::autocommit);
    // in a dry run on a database without media_files, the table we would create has them all
    bool assume_all_columns = options.dry_run && !status.media_files;
    std::set<std::string> columns;
    if (assume_all_columns) {
        columns = {"processing_status",
                   "processing_started_at",
                   "processing_completed_at",
                   "updated_at",
                   "deleted_at",
                   "file_hash",
                   "file_path",
                   "media_type",
                   "description",
                   "embedding"};
    } else {
        columns = media_columns(tx);
    }
    std::map<std::string, bool> existing;  // name -> valid
    if (status.media_files) {
        for (const auto& row : tx.many(k_eye_media_indexes)) {
            existing[row[0].as<std::string>()] = row[1].as<bool>();
        }
    }
    std::map<std::string, std::string> built;
    if (!options.dry_run) {
        for (const auto& row : tx.many(k_index_records)) {
            built[row[0].as<std::string>()] = row[1].as<std::string>();
        }
    }
    bool settings_made = false;
    for (const auto& index : media_indexes()) {
        auto sql = index.sql(columns);
        if (!sql) {
            log::warning("media_files lacks a column that index {} needs; skipping it", index.name);
            continue;
        }
        auto found = existing.find(index.name);
        bool exists = found != existing.end();
        bool current =
            exists && found->second &&
            (options.dry_run ? status.version >= index.since
                             : built.count(index.name) != 0 && built[index.name] == *sql);
        if (current) {
            continue;
        }
        std::string why = !exists          ? ""
                          : !found->second ? " (an earlier build was interrupted)"
                                           : " (its definition changed)";
        report.steps.push_back(
            fmt::format("{} index {}{}", exists ? "rebuild" : "create", index.name, why));
        if (options.dry_run) {
            continue;
        }
        if (!settings_made) {
            // a concurrent build takes as long as the table is large; waiting for a lock is
            // bounded, and an index a lost wait leaves invalid is rebuilt by the next run
            tx.run_sql("setting the statement timeout", "SET statement_timeout = 0");
            tx.run_sql("setting the lock timeout",
                       fmt::format("SET lock_timeout = {}", options.lock_timeout.count()));
            settings_made = true;
        }
        log::info("building index {} on media_files concurrently", index.name);
        if (exists) {
            tx.run_sql(index.name, fmt::format("DROP INDEX CONCURRENTLY IF EXISTS {}",
                                               session.connection().quote_name(index.name)));
        }
        tx.run_sql(index.name, *sql);
        tx.none(k_record_index, index.name, *sql);
    }
    if (settings_made) {
        tx.run_sql("resetting the timeouts", "RESET statement_timeout; RESET lock_timeout");
    }
}

}  // namespace eye::db
