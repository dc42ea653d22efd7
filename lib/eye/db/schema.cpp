#include "eye/db/schema.hpp"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/db/media_indexes.hpp"
#include "eye/log/log.hpp"

namespace eye::db {
namespace {

// any fixed pair of numbers works; this one spells "eye" and "migrate"
constexpr long k_migration_lock_class = 0x657965;
constexpr long k_migration_lock_object = 1;

const Statement k_schema_exists{"schema.exists",
                                "SELECT to_regclass('eye.schema_version') IS NOT NULL, "
                                "       to_regclass('media_files') IS NOT NULL"};

const Statement k_read_schema_version{"schema.version",
                                      "SELECT coalesce(max(version), 0) FROM eye.schema_version"};

const Statement k_embedding_column{
    "schema.embedding_column",
    "SELECT t.typname, format_type(a.atttypid, a.atttypmod), a.atttypmod, "
    "       t.typcategory = 'A' AND e.typname = 'float4' "
    "FROM pg_attribute a "
    "JOIN pg_type t ON t.oid = a.atttypid "
    "LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A' "
    "WHERE a.attrelid = to_regclass('media_files') AND a.attname = 'embedding' "
    "  AND NOT a.attisdropped"};

// media_files as Avinash-EYE defines it, for a machine without Avinash-EYE. Same names and
// meanings; timestamps without time zone in the application's zone, as Laravel writes them.
const char* const k_create_media_files = R"sql(
CREATE TABLE media_files (
    id                      bigserial PRIMARY KEY,
    user_id                 bigint,
    media_type              varchar(255) NOT NULL DEFAULT 'image',
    file_path               text NOT NULL,
    original_filename       text,
    mime_type               varchar(255),
    file_size               bigint,
    file_hash               varchar(64),
    width                   integer,
    height                  integer,
    description             text,
    detailed_description    text,
    meta_tags               json,
    face_count              integer NOT NULL DEFAULT 0,
    face_encodings          json,
    objects_detected        jsonb,
    scene_classification    jsonb,
    dominant_colors         jsonb,
    image_quality           jsonb,
    quality_tier            varchar(20),
    phash                   varchar(16),
    dhash                   varchar(16),
    extracted_text          text,
    exif_data               jsonb,
    camera_make             varchar(255),
    camera_model            varchar(255),
    lens_model              varchar(255),
    date_taken              timestamp(0) without time zone,
    exposure_time           varchar(255),
    f_number                varchar(255),
    iso                     integer,
    focal_length            decimal(8, 2),
    gps_latitude            decimal(10, 7),
    gps_longitude           decimal(10, 7),
    processing_status       varchar(255) NOT NULL DEFAULT 'pending'
        CHECK (processing_status IN ('pending', 'processing', 'completed', 'failed')),
    processing_started_at   timestamp without time zone,
    processing_completed_at timestamp without time zone,
    processing_error        text,
    processing_attempts     integer NOT NULL DEFAULT 0,
    created_at              timestamp without time zone,
    updated_at              timestamp without time zone,
    deleted_at              timestamp without time zone
);
CREATE INDEX media_files_media_type_index ON media_files (media_type);
CREATE INDEX media_files_processing_status_index ON media_files (processing_status);
CREATE INDEX media_files_created_at_index ON media_files (created_at);
)sql";

const char* const k_eye_schema_v1 = R"sql(
CREATE SCHEMA IF NOT EXISTS eye;

CREATE TABLE IF NOT EXISTS eye.schema_version (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- The analysis queue. A job row stays after it completes (status 'completed') until
-- eye-cleanup prunes it; a job that used up its attempts moves to eye.failed_jobs.
CREATE TABLE IF NOT EXISTS eye.jobs (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL DEFAULT 'analyze',
    media_id        bigint NOT NULL,
    status          text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'completed')),
    priority        integer NOT NULL DEFAULT 100,
    attempts        integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL DEFAULT 3,
    available_at    timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    heartbeat_at    timestamptz,
    finished_at     timestamptz,
    worker_id       text,
    reason          text,
    previous_status text,
    last_error      text
);
-- at most one queued or running job per image and kind
CREATE UNIQUE INDEX IF NOT EXISTS jobs_one_active
    ON eye.jobs (media_id, kind) WHERE status IN ('queued', 'running');
CREATE INDEX IF NOT EXISTS jobs_claim
    ON eye.jobs (priority, available_at, id) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS jobs_running_heartbeat
    ON eye.jobs (heartbeat_at) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS jobs_completed_finished
    ON eye.jobs (finished_at) WHERE status = 'completed';

CREATE TABLE IF NOT EXISTS eye.failed_jobs (
    id          bigserial PRIMARY KEY,
    job_id      bigint NOT NULL,
    kind        text NOT NULL,
    media_id    bigint NOT NULL,
    attempts    integer NOT NULL,
    reason      text,
    error       text NOT NULL,
    worker_id   text,
    created_at  timestamptz NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS failed_jobs_failed_at ON eye.failed_jobs (failed_at);
CREATE INDEX IF NOT EXISTS failed_jobs_media ON eye.failed_jobs (media_id);

CREATE TABLE IF NOT EXISTS eye.runs (
    id          bigserial PRIMARY KEY,
    task        text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    args        jsonb NOT NULL DEFAULT '[]',
    dry_run     boolean NOT NULL DEFAULT false,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'ok', 'warning', 'failed', 'skipped')),
    exit_code   integer,
    summary     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS runs_task_started ON eye.runs (task, started_at DESC);
CREATE INDEX IF NOT EXISTS runs_started ON eye.runs (started_at);

CREATE TABLE IF NOT EXISTS eye.workers (
    id           text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    concurrency  integer NOT NULL DEFAULT 1,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz,
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'stopped')),
    jobs_done    bigint NOT NULL DEFAULT 0,
    jobs_failed  bigint NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS workers_heartbeat ON eye.workers (heartbeat_at);

-- per image: who analyzed it last and with which model, so "missing" and "outdated" are exact
CREATE TABLE IF NOT EXISTS eye.media_state (
    media_id             bigint PRIMARY KEY,
    analyzer             text,
    model_version        text,
    status               text NOT NULL CHECK (status IN ('completed', 'failed')),
    analyzed_at          timestamptz,
    failed_at            timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_error           text,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS media_state_model
    ON eye.media_state (analyzer, model_version, media_id);

-- training runs and the model versions they produced
CREATE TABLE IF NOT EXISTS eye.models (
    id              bigserial PRIMARY KEY,
    version         text NOT NULL UNIQUE,
    trainer         text NOT NULL,
    status          text NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'succeeded', 'failed')),
    is_current      boolean NOT NULL DEFAULT false,
    image_count     integer NOT NULL DEFAULT 0,
    new_image_count integer NOT NULL DEFAULT 0,
    metrics         jsonb NOT NULL DEFAULT '{}',
    export_path     text,
    model_path      text,
    error           text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS models_one_current ON eye.models (is_current) WHERE is_current;
CREATE INDEX IF NOT EXISTS models_finished ON eye.models (status, finished_at);
)sql";

// Version 2: runs left running by dead processes are found without a scan, and walks that no
// index can answer remember where they stopped.
const char* const k_eye_schema_v2 = R"sql(
CREATE INDEX IF NOT EXISTS runs_running ON eye.runs (id) WHERE status = 'running';

CREATE TABLE IF NOT EXISTS eye.cursors (
    name       text PRIMARY KEY,
    value      bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
)sql";

// Version 3: "missing" counts an empty description as none, so the partial index of missing
// images has a new predicate. The index step rebuilds it (concurrently, since version 4); this
// version itself changes nothing any more.
const char* const k_eye_schema_v3 = "SELECT 1";

// Version 4: a job that lost its worker counts its rescues; eye's indexes on media_files are
// built concurrently, and what each was built from is recorded, so an index whose definition
// changed (or whose build was interrupted) is rebuilt.
const char* const k_eye_schema_v4 = R"sql(
ALTER TABLE eye.jobs ADD COLUMN IF NOT EXISTS rescues integer NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS eye.media_indexes (
    name       text PRIMARY KEY,
    definition text NOT NULL,
    built_at   timestamptz NOT NULL DEFAULT now()
);
)sql";

// Version 5: the learning loop. A model version keeps the model itself (the builtin trainer's,
// small), and an image's state the tags the model added to it, with their confidences.
const char* const k_eye_schema_v5 = R"sql(
ALTER TABLE eye.models ADD COLUMN IF NOT EXISTS model bytea;
ALTER TABLE eye.media_state ADD COLUMN IF NOT EXISTS predicted_tags jsonb;
)sql";

// Version 6: the EXIF metadata columns upstream's own job fills, with upstream's types, on a
// media_files that eye created: one with no column beyond eye's own definition (Avinash-EYE's
// always has more, is_favorite among them). An Avinash-EYE database gets them from its own
// migrations, and until then eye skips what is missing.
const char* const k_eye_schema_v6 = R"sql(
DO $v6$
BEGIN
    IF to_regclass('media_files') IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('media_files') AND attnum > 0 AND NOT attisdropped
          AND attname <> ALL (ARRAY['id', 'user_id', 'media_type', 'file_path',
              'original_filename', 'mime_type', 'file_size', 'file_hash', 'width', 'height',
              'description', 'detailed_description', 'meta_tags', 'face_count', 'face_encodings',
              'objects_detected', 'scene_classification', 'dominant_colors', 'image_quality',
              'quality_tier', 'phash', 'dhash', 'extracted_text', 'exif_data', 'camera_make',
              'camera_model', 'lens_model', 'date_taken', 'exposure_time', 'f_number', 'iso',
              'focal_length', 'gps_latitude', 'gps_longitude', 'processing_status',
              'processing_started_at', 'processing_completed_at', 'processing_error',
              'processing_attempts', 'created_at', 'updated_at', 'deleted_at', 'embedding']))
    THEN
        ALTER TABLE media_files
            ADD COLUMN IF NOT EXISTS exif_data jsonb,
            ADD COLUMN IF NOT EXISTS camera_make varchar(255),
            ADD COLUMN IF NOT EXISTS camera_model varchar(255),
            ADD COLUMN IF NOT EXISTS lens_model varchar(255),
            ADD COLUMN IF NOT EXISTS date_taken timestamp(0) without time zone,
            ADD COLUMN IF NOT EXISTS exposure_time varchar(255),
            ADD COLUMN IF NOT EXISTS f_number varchar(255),
            ADD COLUMN IF NOT EXISTS iso integer,
            ADD COLUMN IF NOT EXISTS focal_length decimal(8, 2),
            ADD COLUMN IF NOT EXISTS gps_latitude decimal(10, 7),
            ADD COLUMN IF NOT EXISTS gps_longitude decimal(10, 7);
    END IF;
END
$v6$;
)sql";

// Version 7: the images re-analysis leaves out (--max-reanalyze-attempts), counted so a run
// can say how many it left out (few rows, and none once images analyze again); an image's jobs,
// for media:show.
const char* const k_eye_schema_v7 = R"sql(
CREATE INDEX IF NOT EXISTS media_state_failing
    ON eye.media_state (consecutive_failures, media_id) WHERE consecutive_failures > 0;
CREATE INDEX IF NOT EXISTS jobs_media ON eye.jobs (media_id, id);
)sql";

struct Migration {
    int version;
    const char* what;
    const char* sql;
};

constexpr Migration k_migrations[] = {
    {1, "create schema eye", k_eye_schema_v1},
    {2, "add eye.cursors and an index of running runs", k_eye_schema_v2},
    {3, "a new predicate for the index of missing images", k_eye_schema_v3},
    {4, "count rescues of jobs; record how eye's indexes on media_files were built",
     k_eye_schema_v4},
    {5, "keep model versions' models and the tags they added to images", k_eye_schema_v5},
    {6, "add the EXIF metadata columns to a media_files that eye created", k_eye_schema_v6},
    {7, "index the images whose analyses keep failing, and each image's jobs", k_eye_schema_v7},
};
static_assert(std::size(k_migrations) == k_schema_version);

bool try_create_vector_extension(Transaction& tx) {
    if (auto error = tx.try_sql("CREATE EXTENSION IF NOT EXISTS vector")) {
        log::info("pgvector is not available ({}); media_files.embedding will be real[]", *error);
        return false;
    }
    return true;
}

}  // namespace

std::string missing_rows(bool has_embedding) {
    return fmt::format(
        "deleted_at IS NULL AND (processing_status = 'pending' OR "
        "(processing_status = 'completed' AND ({}description IS NULL OR description = '')))",
        has_embedding ? "embedding IS NULL OR " : "");
}

SchemaStatus read_schema_status(Transaction& tx) {
    SchemaStatus status;
    auto row = tx.one(k_schema_exists);
    status.eye_schema = row[0].as<bool>();
    status.media_files = row[1].as<bool>();
    if (status.eye_schema) {
        status.version = tx.one(k_read_schema_version)[0].as<int>();
    }
    return status;
}

EmbeddingColumn read_embedding_column(Transaction& tx) {
    EmbeddingColumn column;
    auto row = tx.at_most_one(k_embedding_column);
    if (!row) {
        return column;
    }
    std::string type = (*row)[0].as<std::string>();
    column.type_name = (*row)[1].as<std::string>();
    int typmod = (*row)[2].as<int>();
    bool real_array = (*row)[3].as<bool>();
    if (type == "vector") {
        column.kind = EmbeddingColumn::Kind::vector;
        column.dimensions = typmod > 0 ? typmod : 0;
    } else if (real_array) {
        column.kind = EmbeddingColumn::Kind::real_array;
    } else {
        column.kind = EmbeddingColumn::Kind::other;
    }
    return column;
}

std::string embedding_literal(const EmbeddingColumn& column, const std::vector<float>& values) {
    if (column.kind == EmbeddingColumn::Kind::vector && column.dimensions > 0 &&
        static_cast<int>(values.size()) != column.dimensions) {
        throw DataError(fmt::format("embedding has {} values but media_files.embedding is {}",
                                    values.size(), column.type_name));
    }
    std::string out;
    out.reserve(values.size() * 12 + 2);
    out += column.kind == EmbeddingColumn::Kind::vector ? '[' : '{';
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (!std::isfinite(values[i])) {
            throw DataError(fmt::format("embedding value {} is not a finite number", i));
        }
        if (i > 0) {
            out += ',';
        }
        out += fmt::format("{}", values[i]);
    }
    out += column.kind == EmbeddingColumn::Kind::vector ? ']' : '}';
    return out;
}

namespace {

// Holds the migration lock on the session from before the schema transaction until after the
// index builds, which cannot run inside a transaction; the server drops it should we die.
class MigrationLock {
public:
    explicit MigrationLock(Session& session) : m_session(session) {
        Transaction tx(session, Transaction::Mode::autocommit);
        tx.run_sql("taking the migration lock",
                   fmt::format("SELECT pg_advisory_lock({}, {})", k_migration_lock_class,
                               k_migration_lock_object));
    }
    ~MigrationLock() {
        try {
            Transaction tx(m_session, Transaction::Mode::autocommit);
            tx.run_sql("releasing the migration lock",
                       fmt::format("SELECT pg_advisory_unlock({}, {})", k_migration_lock_class,
                                   k_migration_lock_object));
        } catch (const Error&) {  // NOLINT(bugprone-empty-catch): gone with the session anyway
        }
    }
    MigrationLock(const MigrationLock&) = delete;
    MigrationLock& operator=(const MigrationLock&) = delete;

private:
    Session& m_session;
};

// Step 1, one transaction: media_files when there is none, and eye's own schema.
void migrate_schema(Session& session, const MigrationOptions& options, SchemaStatus& status,
                    MigrationReport& report) {
    Transaction tx(session);
    tx.run_sql("setting the statement timeout", "SET LOCAL statement_timeout = 0");
    // DDL on eye's tables waits for their locks; a worker holding one for long must not keep
    // the whole queue waiting behind the migration
    tx.run_sql("setting the lock timeout",
               fmt::format("SET LOCAL lock_timeout = {}", options.lock_timeout.count()));

    status = read_schema_status(tx);
    report.from_version = status.version;
    report.to_version = status.version;
    if (status.version > k_schema_version) {
        throw ConfigError(fmt::format("the database schema is version {}, newer than this eye "
                                      "understands ({})",
                                      status.version, k_schema_version),
                          "upgrade eye before migrating this database");
    }

    if (!status.media_files) {
        report.steps.push_back("create table media_files");
        report.created_media_files = true;
        if (!options.dry_run) {
            // the first schema on the search path that is not eye's own: "$user" would put
            // the table into schema eye for a database user named eye
            auto schema =
                tx.run_sql("choosing the schema for media_files",
                           "SELECT coalesce((SELECT s FROM unnest(current_schemas(false)) "
                           "s WHERE s <> 'eye' LIMIT 1), 'public')")[0][0]
                    .as<std::string>();
            tx.run_sql("setting the search path",
                       fmt::format("SET LOCAL search_path TO {}",
                                   session.connection().quote_name(schema)));
            tx.run_sql("creating media_files", k_create_media_files);
            bool vector = try_create_vector_extension(tx);
            std::string type = vector ? fmt::format("vector({})", options.embedding_dimensions)
                                      : std::string("real[]");
            tx.run_sql("adding media_files.embedding",
                       fmt::format("ALTER TABLE media_files ADD COLUMN embedding {}", type));
            report.steps.push_back(fmt::format("add column media_files.embedding {}", type));
        }
    }

    for (const auto& migration : k_migrations) {
        if (status.version >= migration.version) {
            continue;
        }
        report.steps.push_back(fmt::format("{} (version {})", migration.what, migration.version));
        if (!options.dry_run) {
            tx.run_sql(migration.what, migration.sql);
            tx.run_sql("recording the schema version",
                       fmt::format("INSERT INTO eye.schema_version (version) VALUES ({}) "
                                   "ON CONFLICT DO NOTHING",
                                   migration.version));
        }
        report.to_version = migration.version;
    }
    if (options.dry_run) {
        return;
    }
    // indexes eye built before it recorded its builds: those of the present definition are
    // recorded as they are, the others are left unrecorded and so are built again
    record_existing_media_indexes(tx, status.version);
    tx.commit();
}

}  // namespace

MigrationReport migrate(Session& session, const MigrationOptions& options) {
    MigrationReport report;
    MigrationLock lock(session);
    SchemaStatus status;
    migrate_schema(session, options, status, report);
    if (!options.dry_run) {
        status.media_files = true;
    }
    build_media_indexes(session, options, status, report);
    if (!options.dry_run) {
        Transaction tx(session, Transaction::Mode::autocommit);
        report.embedding = read_embedding_column(tx);
    }
    return report;
}

}  // namespace eye::db
