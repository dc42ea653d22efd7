#include <chrono>
#include <cmath>
#include <exception>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "eye/core/error.hpp"
#include "eye/db/conninfo.hpp"
#include "eye/db/schema.hpp"
#include "support/database.hpp"

using eye::db::EmbeddingColumn;
using eye::testing::TestDatabase;

namespace {

// Everything about the schema that a migration could change: tables, columns, types, defaults,
// indexes and constraints, as one text to compare.
std::string schema_fingerprint(const TestDatabase& db) {
    return db.query_value(R"sql(
SELECT md5(string_agg(line, E'\n' ORDER BY line)) FROM (
    SELECT format('col %s.%s.%s %s %s %s', table_schema, table_name, column_name, data_type,
                  is_nullable, coalesce(column_default, '')) AS line
    FROM information_schema.columns WHERE table_schema IN ('public', 'eye')
    UNION ALL
    SELECT format('idx %s %s', schemaname, indexdef) FROM pg_indexes
    WHERE schemaname IN ('public', 'eye')
    UNION ALL
    SELECT format('con %s %s', c.conname, pg_get_constraintdef(c.oid)) FROM pg_constraint c
    JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname IN ('public', 'eye')
) lines)sql");
}

// Upstream Avinash-EYE's table as its Laravel migrations leave it, with extra columns eye does not
// know, Laravel's varchar/json types, timestamp(0), and user_id NOT NULL.
void create_upstream_media_files(const TestDatabase& db, const std::string& embedding_type) {
    db.execute(R"sql(
CREATE TABLE media_files (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL,
    media_type varchar(255) NOT NULL,
    file_path varchar(255) NOT NULL,
    original_filename varchar(255),
    mime_type varchar(255),
    file_size bigint,
    file_hash varchar(255),
    description text,
    detailed_description text,
    meta_tags json,
    face_count integer NOT NULL DEFAULT 0,
    face_encodings json,
    objects_detected jsonb,
    dominant_colors jsonb,
    image_quality jsonb,
    quality_tier varchar(20),
    phash varchar(16),
    dhash varchar(16),
    width integer,
    height integer,
    is_favorite boolean NOT NULL DEFAULT false,
    album varchar(255),
    processing_status varchar(255) NOT NULL DEFAULT 'pending'
        CHECK (processing_status IN ('pending', 'processing', 'completed', 'failed')),
    processing_started_at timestamp(0) without time zone,
    processing_completed_at timestamp(0) without time zone,
    processing_error text,
    processing_attempts integer NOT NULL DEFAULT 0,
    created_at timestamp(0) without time zone,
    updated_at timestamp(0) without time zone,
    deleted_at timestamp(0) without time zone
))sql");
    db.execute("ALTER TABLE media_files ADD COLUMN embedding " + embedding_type);
    db.execute(R"sql(
INSERT INTO media_files (user_id, media_type, file_path, description, meta_tags,
                         processing_status, album, created_at, updated_at)
SELECT 1, 'image', 'storage/app/public/p' || g || '.jpg', 'photo ' || g, '["a","b"]',
       'completed', 'holiday', now(), now()
FROM generate_series(1, 50) g)sql");
}

std::string column_layout(const TestDatabase& db) {
    return db.query_value(
        "SELECT string_agg(column_name || ':' || data_type || ':' || is_nullable, ',' "
        "ORDER BY ordinal_position) FROM information_schema.columns "
        "WHERE table_name = 'media_files' AND table_schema = 'public'");
}

}  // namespace

TEST_CASE("db:migrate on an empty database creates media_files and schema eye") {
    TestDatabase db(false);
    auto session = db.connect();
    auto report = eye::db::migrate(session, {});
    CHECK(report.from_version == 0);
    CHECK(report.to_version == eye::db::k_schema_version);
    CHECK(report.created_media_files);
    for (const char* table :
         {"eye.schema_version", "eye.jobs", "eye.failed_jobs", "eye.runs", "eye.workers",
          "eye.media_state", "eye.models", "public.media_files"}) {
        INFO(table);
        CHECK(db.query_value(std::string("SELECT to_regclass('") + table + "') IS NOT NULL") ==
              "t");
    }
    CHECK(db.query_value("SELECT max(version) FROM eye.schema_version") ==
          std::to_string(eye::db::k_schema_version));
    CHECK(db.query_value("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                         "WHERE indexname LIKE 'eye\\_media%'") ==
          "eye_media_files_completed,eye_media_files_failed,eye_media_files_file_hash,"
          "eye_media_files_file_path,eye_media_files_missing,eye_media_files_newest,"
          "eye_media_files_oldest,eye_media_files_processing,eye_media_files_status,"
          "eye_media_files_undescribed");
    CHECK(db.query_value("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == "0");
    CHECK(db.query_value("SELECT count(*) FROM eye.media_indexes") == "10");
}

TEST_CASE("db:migrate twice in a row changes nothing the second time") {
    TestDatabase db(false);
    auto session = db.connect();
    eye::db::migrate(session, {});
    auto before = schema_fingerprint(db);
    auto second = eye::db::migrate(session, {});
    CHECK(second.steps.empty());
    CHECK_FALSE(second.created_media_files);
    CHECK(schema_fingerprint(db) == before);
}

TEST_CASE("db:migrate from version 2 rebuilds the index of missing images with its new predicate") {
    TestDatabase db(false);
    auto session = db.connect();
    eye::db::migrate(session, {});
    // the database as version 2 left it
    db.execute("DELETE FROM eye.schema_version WHERE version >= 3");
    db.execute("DROP TABLE eye.media_indexes");
    db.execute("ALTER TABLE eye.jobs DROP COLUMN rescues");
    db.execute("DROP INDEX eye_media_files_undescribed");
    db.execute("DROP INDEX eye_media_files_missing");
    db.execute(
        "CREATE INDEX eye_media_files_missing ON media_files (media_type, id) WHERE "
        "deleted_at IS NULL AND (processing_status = 'pending' OR (processing_status = "
        "'completed' AND (embedding IS NULL OR description IS NULL)))");
    auto indexdef = [&] {
        return db.query_value(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'eye_media_files_missing'");
    };
    REQUIRE(indexdef().find("''") == std::string::npos);

    auto report = eye::db::migrate(session, {});
    CHECK(report.from_version == 2);
    CHECK(report.to_version == eye::db::k_schema_version);
    CHECK_THAT(indexdef(), Catch::Contains("= ''::text"));
    CHECK(eye::db::migrate(session, {}).steps.empty());
}

namespace {

std::string index_oid(const TestDatabase& db, const std::string& name) {
    return db.query_value("SELECT coalesce(to_regclass('" + name + "')::oid::text, '-')");
}

std::string steps_of(const eye::db::MigrationReport& report) {
    std::string text;
    for (const auto& step : report.steps) {
        text += step + "\n";
    }
    return text;
}

}  // namespace

TEST_CASE("db:migrate from version 3 keeps the indexes it finds current and builds the new one") {
    TestDatabase db(false);
    auto session = db.connect();
    eye::db::migrate(session, {});
    db.execute("DELETE FROM eye.schema_version WHERE version >= 4");
    db.execute("DROP TABLE eye.media_indexes");
    db.execute("ALTER TABLE eye.jobs DROP COLUMN rescues");
    db.execute("DROP INDEX eye_media_files_undescribed");
    db.execute("DROP INDEX eye_media_files_newest");
    db.execute("DROP INDEX eye_media_files_status");
    db.execute("ALTER TABLE eye.models DROP COLUMN model");
    db.execute("ALTER TABLE eye.media_state DROP COLUMN predicted_tags");
    auto missing = index_oid(db, "eye_media_files_missing");
    auto oldest = index_oid(db, "eye_media_files_oldest");

    auto report = eye::db::migrate(session, {});
    INFO(steps_of(report));
    CHECK(report.from_version == 3);
    REQUIRE(report.steps.size() == 7);
    CHECK_THAT(report.steps[4], Catch::Equals("create index eye_media_files_undescribed"));
    CHECK_THAT(report.steps[5], Catch::Equals("create index eye_media_files_newest"));
    CHECK_THAT(report.steps[6], Catch::Equals("create index eye_media_files_status"));
    CHECK(db.query_value("SELECT count(*) FROM information_schema.columns WHERE "
                         "(table_name, column_name) IN (('models', 'model'), "
                         "('media_state', 'predicted_tags'))") == "2");
    CHECK(index_oid(db, "eye_media_files_missing") == missing);
    CHECK(index_oid(db, "eye_media_files_oldest") == oldest);
    CHECK(db.query_value("SELECT count(*) FROM eye.media_indexes") == "10");
}

TEST_CASE("db:migrate from version 5 adds the EXIF columns to the media_files eye created") {
    TestDatabase db(false);
    auto session = db.connect();
    eye::db::migrate(session, {});
    const std::string exif_columns =
        "SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY column_name) FROM "
        "information_schema.columns WHERE table_name = 'media_files' AND column_name IN "
        "('exif_data', 'camera_make', 'camera_model', 'lens_model', 'date_taken', "
        "'exposure_time', 'f_number', 'iso', 'focal_length', 'gps_latitude', 'gps_longitude')";
    const std::string expected =
        "camera_make:character varying,camera_model:character varying,date_taken:timestamp "
        "without time zone,exif_data:jsonb,exposure_time:character varying,f_number:character "
        "varying,focal_length:numeric,gps_latitude:numeric,gps_longitude:numeric,iso:integer,"
        "lens_model:character varying";
    REQUIRE(db.query_value(exif_columns) == expected);

    db.execute("DELETE FROM eye.schema_version WHERE version >= 6");
    db.execute(
        "ALTER TABLE media_files DROP COLUMN exif_data, DROP COLUMN camera_make, DROP COLUMN "
        "camera_model, DROP COLUMN lens_model, DROP COLUMN date_taken, DROP COLUMN "
        "exposure_time, DROP COLUMN f_number, DROP COLUMN iso, DROP COLUMN focal_length, DROP "
        "COLUMN gps_latitude, DROP COLUMN gps_longitude");
    auto report = eye::db::migrate(session, {});
    INFO(steps_of(report));
    CHECK(report.from_version == 5);
    CHECK(report.to_version == eye::db::k_schema_version);
    CHECK(db.query_value(exif_columns) == expected);
    CHECK(db.query_value("SELECT numeric_precision || ',' || numeric_scale FROM "
                         "information_schema.columns WHERE table_name = 'media_files' AND "
                         "column_name = 'gps_latitude'") == "10,7");
}

TEST_CASE("an index whose definition changed is built again, concurrently") {
    TestDatabase db;
    db.execute(
        "UPDATE eye.media_indexes SET definition = 'CREATE INDEX ... (an older one)' "
        "WHERE name = 'eye_media_files_failed'");
    auto failed = index_oid(db, "eye_media_files_failed");
    auto session = db.connect();
    auto report = eye::db::migrate(session, {});
    CHECK(steps_of(report) == "rebuild index eye_media_files_failed (its definition changed)\n");
    CHECK(index_oid(db, "eye_media_files_failed") != failed);
    CHECK(db.query_value("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                         "'eye_media_files_failed'::regclass") == "t");
}

TEST_CASE("db:migrate builds its indexes on media_files without holding up upstream's writes") {
    TestDatabase db(false);
    auto session = db.connect();
    eye::db::migrate(session, {});
    db.execute("DROP INDEX eye_media_files_oldest");
    db.execute("DELETE FROM eye.media_indexes WHERE name = 'eye_media_files_oldest'");
    db.execute("INSERT INTO media_files (file_path) VALUES ('a.jpg')");
    // an upload in progress: an open transaction that wrote to media_files
    auto uploader = db.connect();
    eye::db::Transaction upload(uploader);
    upload.run_sql("upload", "UPDATE media_files SET file_size = 1");

    std::exception_ptr failure;
    std::thread migrating([&] {
        try {
            eye::db::migrate(session, {});
        } catch (...) {
            failure = std::current_exception();
        }
    });
    auto waiting = [&] {
        return db.query_value(
                   "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND query LIKE 'CREATE INDEX CONCURRENTLY%eye_media_files_oldest%'") == "1";
    };
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!waiting()) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // the build waits for the open upload; new uploads must not wait behind the build
    auto other = db.connect();
    eye::db::Transaction next_upload(other);
    next_upload.run_sql("short statement timeout", "SET LOCAL statement_timeout = '2s'");
    next_upload.run_sql("another upload", "INSERT INTO media_files (file_path) VALUES ('b.jpg')");
    next_upload.commit();
    upload.commit();
    migrating.join();
    CHECK_FALSE(failure);
    CHECK(db.query_value("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                         "'eye_media_files_oldest'::regclass") == "t");
}

TEST_CASE("an index build cut short by its lock timeout is rebuilt by the next db:migrate") {
    TestDatabase db(false);
    auto session = db.connect();
    eye::db::migrate(session, {});
    db.execute("DROP INDEX eye_media_files_oldest");
    db.execute("DELETE FROM eye.media_indexes WHERE name = 'eye_media_files_oldest'");
    auto holder = db.connect();
    {
        eye::db::Transaction long_upload(holder);
        long_upload.run_sql("upload", "INSERT INTO media_files (file_path) VALUES ('a.jpg')");
        eye::db::MigrationOptions impatient;
        impatient.lock_timeout = std::chrono::milliseconds(300);
        try {
            eye::db::migrate(session, impatient);
            FAIL("the build did not wait for the open transaction");
        } catch (const eye::Error& e) {
            CHECK(e.code() == eye::ExitCode::temp_fail);
        }
    }
    // what the interrupted build left behind
    CHECK(db.query_value("SELECT indisvalid FROM pg_index WHERE indexrelid = "
                         "'eye_media_files_oldest'::regclass") == "f");
    auto report = eye::db::migrate(session, {});
    CHECK(steps_of(report) ==
          "rebuild index eye_media_files_oldest (an earlier build was interrupted)\n");
    CHECK(db.query_value("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == "0");
    CHECK(eye::db::migrate(session, {}).steps.empty());
}

TEST_CASE("db:migrate --dry-run lists the steps and writes nothing") {
    TestDatabase db(false);
    auto session = db.connect();
    auto before = schema_fingerprint(db);
    eye::db::MigrationOptions options;
    options.dry_run = true;
    auto report = eye::db::migrate(session, options);
    CHECK_FALSE(report.steps.empty());
    CHECK(schema_fingerprint(db) == before);
    CHECK(db.query_value("SELECT to_regclass('eye.jobs') IS NULL") == "t");
}

TEST_CASE("db:migrate leaves an existing upstream media_files' columns and rows alone") {
    TestDatabase db(false);
    std::string type = eye::testing::server_has_pgvector() ? "vector(512)" : "real[]";
    if (type == "vector(512)") {
        db.execute("CREATE EXTENSION vector");
    }
    create_upstream_media_files(db, type);
    auto columns = column_layout(db);
    auto rows =
        db.query_value("SELECT md5(string_agg(m::text, '' ORDER BY id)) FROM media_files m");

    auto session = db.connect();
    auto report = eye::db::migrate(session, {});
    CHECK_FALSE(report.created_media_files);
    CHECK(column_layout(db) == columns);
    CHECK(db.query_value("SELECT md5(string_agg(m::text, '' ORDER BY id)) FROM media_files m") ==
          rows);
    CHECK(report.embedding.type_name == type);
    // eye's own index on the upstream table, so the stuck-image check stays fast at scale
    CHECK(db.query_value("SELECT count(*) FROM pg_indexes WHERE tablename = 'media_files' "
                         "AND indexname = 'eye_media_files_processing'") == "1");
}

TEST_CASE("the embedding column is vector(512) where pgvector can be created") {
    if (!eye::testing::server_has_pgvector()) {
        FAIL("this PostgreSQL server has no pgvector; scripts/setup builds it (--pgvector)");
    }
    TestDatabase db(false);
    auto session = db.connect();
    auto report = eye::db::migrate(session, {});
    CHECK(report.embedding.kind == EmbeddingColumn::Kind::vector);
    CHECK(report.embedding.dimensions == 512);
    CHECK(report.embedding.type_name == "vector(512)");
}

TEST_CASE("the embedding column falls back to real[] when the vector extension cannot be made") {
    // pgvector is not a trusted extension: a role without superuser cannot create it
    eye::testing::TestRole owner("eye_test_plain_" + std::to_string(getpid()), "plain-pw-1");
    TestDatabase db(false);
    const std::string& role = owner.name();
    db.execute("GRANT ALL ON SCHEMA public TO " + role);
    db.execute("GRANT CREATE ON DATABASE " + db.name() + " TO " + role);
    eye::db::ConnectOptions options;
    options.url = owner.conninfo(db);
    auto session = eye::db::Session::connect(options);
    auto report = eye::db::migrate(session, {});
    CHECK(report.embedding.kind == EmbeddingColumn::Kind::real_array);
    CHECK(report.embedding.type_name == "real[]");
    CHECK(db.query_value("SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == "0");
}

TEST_CASE("embedding literals match the column and refuse a vector of the wrong length") {
    EmbeddingColumn vector{EmbeddingColumn::Kind::vector, 3, "vector(3)"};
    CHECK(eye::db::embedding_literal(vector, {0.5f, -1.0f, 2.0f}) == "[0.5,-1,2]");
    CHECK_THROWS_AS(eye::db::embedding_literal(vector, {0.5f, 1.0f}), eye::Error);
    EmbeddingColumn array{EmbeddingColumn::Kind::real_array, 0, "real[]"};
    CHECK(eye::db::embedding_literal(array, {0.25f, 1.0f}) == "{0.25,1}");
    CHECK_THROWS_AS(eye::db::embedding_literal(array, {std::nanf("")}), eye::Error);
}

TEST_CASE("a vector literal of the right length is stored and read back by the database") {
    TestDatabase db;
    auto session = db.connect();
    eye::db::Transaction tx(session);
    auto column = eye::db::read_embedding_column(tx);
    std::vector<float> values(static_cast<std::size_t>(column.dimensions ? column.dimensions : 512),
                              0.0f);
    values[0] = 1.0f;
    auto literal = eye::db::embedding_literal(column, values);
    tx.run_sql("insert", "INSERT INTO media_files (file_path, embedding) VALUES ('a.jpg', '" +
                             literal + "')");
    tx.commit();
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE embedding IS NOT NULL") == "1");
}

TEST_CASE("db:migrate from version 6 indexes failing images and each image's jobs") {
    TestDatabase db(false);
    auto session = db.connect();
    eye::db::migrate(session, {});
    db.execute("DELETE FROM eye.schema_version WHERE version >= 7");
    db.execute("DROP INDEX eye.media_state_failing");
    db.execute("DROP INDEX eye.jobs_media");
    auto report = eye::db::migrate(session, {});
    INFO(steps_of(report));
    CHECK(report.from_version == 6);
    CHECK(report.to_version == 7);
    CHECK(db.query_value("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                         "WHERE indexname IN ('media_state_failing', 'jobs_media')") ==
          "jobs_media,media_state_failing");
}
