#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eye/db/session.hpp"

// eye's tables (schema `eye`) and the media_files table it shares with Avinash-EYE.
namespace eye::db {

// The schema version this build of eye writes and expects.
constexpr int k_schema_version = 7;

// How media_files.embedding is stored: pgvector's vector(N) or real[] (N unknown: 0).
struct EmbeddingColumn {
    enum class Kind { missing, vector, real_array, other };
    Kind kind = Kind::missing;
    int dimensions = 0;
    std::string type_name;  // as format_type() prints it: "vector(512)", "real[]"
};

struct SchemaStatus {
    bool eye_schema = false;   // eye.schema_version exists
    int version = 0;           // highest applied version, 0 when none
    bool media_files = false;  // media_files exists (upstream's or ours)
};

SchemaStatus read_schema_status(Transaction& tx);
EmbeddingColumn read_embedding_column(Transaction& tx);

// Renders a vector as the literal the column accepts: "[1,2,3]" for vector, "{1,2,3}" for
// real[]. Throws DataError when the length does not fit a vector(N) column or a value is not
// finite.
std::string embedding_literal(const EmbeddingColumn& column, const std::vector<float>& values);

// The rows each re-analysis priority walks, as the predicates of the partial indexes that serve
// them: a query must repeat a predicate for PostgreSQL to use its index.
constexpr const char* k_oldest_rows =
    "deleted_at IS NULL AND processing_status IN ('pending', 'completed')";
constexpr const char* k_failed_rows = "deleted_at IS NULL AND processing_status = 'failed'";
constexpr const char* k_completed_rows = "deleted_at IS NULL AND processing_status = 'completed'";
// pending, or completed without a description (or an embedding, where the table has one)
std::string missing_rows(bool has_embedding);

struct MigrationOptions {
    int embedding_dimensions = 512;
    bool dry_run = false;
    // how long a step may wait for a lock before the migration gives up (exit 75; run it again)
    Milliseconds lock_timeout{60'000};
};

struct MigrationReport {
    int from_version = 0;
    int to_version = 0;
    bool created_media_files = false;
    EmbeddingColumn embedding;
    std::vector<std::string> steps;  // what was (or, in a dry run, would be) done
};

// Creates or upgrades the schema under an advisory lock, so two migrations at once are
// serialised: eye's own schema (and media_files, where there is none) in one transaction, then
// eye's indexes on media_files, each built CONCURRENTLY outside a transaction so that upstream's
// writes never wait for a build. An index whose build was interrupted (left invalid) or whose
// definition changed is dropped concurrently and built again. Leaves an existing media_files
// table's columns and rows alone. Running it twice changes nothing the second time.
MigrationReport migrate(Session& session, const MigrationOptions& options);

}  // namespace eye::db
