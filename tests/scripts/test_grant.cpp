// scripts/grant end to end. An Avinash-EYE database as upstream's migrations leave it
// (tests/fixtures/upstream_schema.sql) is owned by an application role, as Laravel's database user
// owns it; that owner runs `eye db:migrate` and scripts/grant; then every task runs to its normal
// end as the role the script set up, with real photos, and that role must still be kept out of
// users and of the media_files columns eye does not use.

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <pqxx/pqxx>

#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::Environment;
using eye::testing::ProcessResult;
using eye::testing::TempDir;
using eye::testing::TestDatabase;
using eye::testing::TestRole;
namespace fs = std::filesystem;

namespace {

const std::string k_grant = std::string(EYE_SOURCE_DIR) + "/scripts/grant";
const fs::path k_upstream_schema = fs::path(EYE_SOURCE_DIR) / "tests/fixtures/upstream_schema.sql";

// Runs SQL on its own connection and returns the SQLSTATE it failed with, "" when it worked.
std::string sqlstate_of(const std::string& conninfo, const std::string& sql) {
    pqxx::connection conn(conninfo);
    pqxx::nontransaction tx(conn);
    try {
        tx.exec(sql);
    } catch (const pqxx::insufficient_privilege&) {
        return "42501";  // libpqxx 6.4 throws this one without its SQLSTATE
    } catch (const pqxx::sql_error& e) {
        return e.sqlstate();
    }
    return {};
}

void execute_as(const std::string& conninfo, const std::string& sql) {
    pqxx::connection conn(conninfo);
    pqxx::nontransaction tx(conn);
    tx.exec("SET TimeZone = 'UTC'");
    tx.exec(sql);
}

std::string describe(const std::string& what, const ProcessResult& result) {
    return fmt::format("{}\nexit {}\nstdout: {}\nstderr: {}", what, result.exit_code, result.out,
                       result.err);
}

// Every privilege that anyone but an object's owner holds in the database, one line each:
// tables, sequences, columns, schemas, the database itself and default privileges. An ACL that
// went from the default to explicit and back lists only the owner, so it drops out.
std::string privileges(const TestDatabase& db) {
    return db.query_value(R"sql(
SELECT string_agg(line, E'\n' ORDER BY line) FROM (
    SELECT format('%s %s %s', c.oid::regclass, a.grantee::regrole, a.privilege_type) AS line
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
    WHERE n.nspname IN ('public', 'eye') AND a.grantee <> c.relowner
    UNION ALL
    SELECT format('%s.%s %s %s', c.oid::regclass, t.attname, a.grantee::regrole,
                  a.privilege_type)
    FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(t.attacl) a
    WHERE n.nspname IN ('public', 'eye')
    UNION ALL
    SELECT format('schema %s %s %s', n.nspname, a.grantee::regrole, a.privilege_type)
    FROM pg_namespace n, aclexplode(n.nspacl) a
    WHERE n.nspname IN ('public', 'eye') AND a.grantee <> n.nspowner
    UNION ALL
    SELECT format('default %s %s %s', d.defaclobjtype, a.grantee::regrole, a.privilege_type)
    FROM pg_default_acl d, aclexplode(d.defaclacl) a
    UNION ALL
    SELECT format('database %s %s', a.grantee::regrole, a.privilege_type)
    FROM pg_database d, aclexplode(d.datacl) a
    WHERE d.datname = current_database() AND a.grantee <> d.datdba
) lines)sql");
}

// An Avinash-EYE database owned by an application role (not a superuser), with its first user,
// migrated by that owner, and a second login role for eye's tasks that has nothing yet.
struct Deployment {
    Deployment()
        : owner(fmt::format("eye_grant_owner_{}", getpid()), "owner-pw-4711"),
          tasks(fmt::format("eye_grant_tasks_{}", getpid()), "tasks-pw-0815"),
          db(false) {
        db.execute(fmt::format("ALTER DATABASE {} OWNER TO {}", db.name(), owner.name()));
        // pgvector is not a trusted extension: the superuser installs it, as upstream's image does
        db.execute("CREATE EXTENSION vector");
        execute_as(owner_url(), eye::testing::read_file(k_upstream_schema));
        execute_as(owner_url(),
                   "INSERT INTO users (name, email, password, created_at, updated_at) "
                   "VALUES ('Ada', 'ada@example.org', 'not-a-hash', now(), now())");
        auto migrated = eye::testing::run(
            "eye", {"db:migrate"}, {{"EYE_DATABASE_URL", owner_url()}}, std::chrono::seconds(120));
        INFO(describe("eye db:migrate as the owner", migrated));
        REQUIRE(migrated.exit_code == 0);
    }

    std::string owner_url() const { return owner.conninfo(db); }
    std::string tasks_url() const { return tasks.conninfo(db); }

    ProcessResult grant() const {
        return eye::testing::run(k_grant, {tasks.name(), "--database-url", owner_url()});
    }

    // the roles are declared first, so the database (where they hold privileges) goes first
    TestRole owner;
    TestRole tasks;
    TestDatabase db;
};

void require_pgvector() {
    if (!eye::testing::server_has_pgvector()) {
        FAIL(
            "the test server has no pgvector, which upstream's media_files.embedding needs; "
            "hint: scripts/setup --pgvector, then restart the server");
    }
}

// Runs eye's programs as the role scripts/grant set up; none of them may be refused anything.
class TaskRunner {
public:
    TaskRunner(const Deployment& deployment, const TempDir& media)
        : m_env{{"EYE_DATABASE_URL", deployment.tasks_url()},
                {"EYE_MEDIA_ROOT", media.str()},
                {"EYE_STATE_DIR", (media.path / ".state").string()}} {}

    ProcessResult run(const std::string& program, const std::vector<std::string>& args) {
        auto result = eye::testing::run(program, args, m_env, std::chrono::seconds(120));
        INFO(describe(fmt::format("{} {}", program, fmt::join(args, " ")), result));
        CHECK(result.err.find("permission denied") == std::string::npos);
        return result;
    }

    // Exits 0, or fails the test with what the program said.
    ProcessResult run_ok(const std::string& program, const std::vector<std::string>& args) {
        auto result = run(program, args);
        INFO(describe(fmt::format("{} {}", program, fmt::join(args, " ")), result));
        REQUIRE(result.exit_code == 0);
        return result;
    }

private:
    Environment m_env;
};

}  // namespace

TEST_CASE("as the role scripts/grant sets up, every task runs on an upstream database") {
    require_pgvector();
    Deployment deployment;
    const TestDatabase& db = deployment.db;
    auto granted = deployment.grant();
    INFO(describe("scripts/grant", granted));
    REQUIRE(granted.exit_code == 0);
    CHECK(granted.err.empty());

    TempDir media;
    fs::create_directories(media.path / ".state");
    for (const char* name : {"rocket.jpg", "coffee.png", "chelsea.png"}) {
        fs::copy_file(eye::testing::k_images / name, media.path / name);
    }
    // the photo carries what a camera writes, for the metadata columns upstream has
    auto tagged =
        eye::testing::run("/usr/bin/exiftool",
                          {"-q", "-overwrite_original", "-Make=Canon", "-Model=EOS R5",
                           "-DateTimeOriginal=2024:05:06 "
                           "07:08:09",
                           "-ExposureTime=1/250", "-FNumber=4", "-ISO=800", "-FocalLength=35",
                           "-GPSLatitude=22.951916", "-GPSLatitudeRef=S", "-GPSLongitude=43.210487",
                           "-GPSLongitudeRef=W", (media.path / "rocket.jpg").string()},
                          {}, std::chrono::seconds(60));
    REQUIRE(tagged.exit_code == 0);
    // a JPEG cut short: the worker fails it for good, which fills eye.failed_jobs
    std::ofstream(media.path / "broken.jpg", std::ios::binary)
        << eye::testing::photo("rocket.jpg").substr(0, 300);
    // Laravel's own queue rows: one failed job old enough for eye-cleanup to prune, one not
    db.execute(
        "INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at) VALUES "
        "('old-failure', 'database', 'default', '{}', 'boom', now() - interval '200 hours'), "
        "('new-failure', 'database', 'default', '{}', 'boom', now() - interval '1 hour')");
    db.execute(
        "INSERT INTO jobs (queue, payload, attempts, available_at, created_at) VALUES "
        "('default', '{}', 0, extract(epoch from now())::int, extract(epoch from now())::int)");

    TaskRunner tasks(deployment, media);
    auto id_of = [&](const std::string& file) {
        return db.query_value(
            fmt::format("SELECT id FROM media_files WHERE original_filename = '{}'", file));
    };
    auto status_of = [&](const std::string& id) {
        return db.query_value("SELECT processing_status FROM media_files WHERE id = " + id);
    };
    auto queued_for = [&](const std::string& reason) {
        return db.query_value(
            fmt::format("SELECT string_agg(media_id::text, ',' ORDER BY media_id) FROM eye.jobs "
                        "WHERE status = 'queued' AND reason = '{}'",
                        reason));
    };

    // media_files.user_id is NOT NULL upstream
    tasks.run_ok("eye", {"media:import", media.str(), "--user-id=1"});
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE user_id = 1") == "4");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued'") == "4");
    const std::string rocket = id_of("rocket.jpg");
    const std::string coffee = id_of("coffee.png");
    const std::string broken = id_of("broken.jpg");

    // an upload the web app queued for its own worker: eye-worker --laravel-queue takes it
    fs::copy_file(eye::testing::k_images / "text.png", media.path / "upload.png");
    const std::string upload = db.query_value(
        "INSERT INTO media_files (user_id, media_type, file_path, original_filename, "
        "processing_status, created_at, updated_at) VALUES (1, 'image', 'upload.png', "
        "'upload.png', 'pending', now(), now()) RETURNING id");
    db.execute(fmt::format(
        R"(INSERT INTO jobs (queue, payload, attempts, available_at, created_at) VALUES ('image-processing', $p${{"uuid":"u","displayName":"App\\Jobs\\ProcessImageAnalysis","job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{{"commandName":"App\\Jobs\\ProcessImageAnalysis","command":"O:29:\"App\\Jobs\\ProcessImageAnalysis\":1:{{s:11:\"imageFileId\";i:{};}}"}}}}$p$, 0, 0, 0))",
        upload));
    auto bridged = tasks.run_ok("eye-worker", {"--stop-when-empty", "--analyzer=builtin",
                                               "--laravel-queue=image-processing"});
    INFO(bridged.err);
    CHECK(db.query_value("SELECT count(*) FROM jobs WHERE queue = 'image-processing'") == "0");
    CHECK(db.query_value("SELECT processing_status || ' ' || processing_stage || ' ' || "
                         "upload_progress FROM media_files WHERE id = " +
                         upload) == "completed saving_results 100");
    db.execute("DELETE FROM media_files WHERE id = " + upload);
    CHECK(
        db.query_value("SELECT count(*) FROM media_files WHERE processing_status = 'completed' AND "
                       "description <> '' AND embedding IS NOT NULL AND width > 0") == "3");
    CHECK(status_of(broken) == "failed");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "1");
    // upstream's metadata columns, in upstream's types, written by the least-privilege role
    CHECK(db.query_value("SELECT concat_ws(' | ', camera_make, camera_model, date_taken, "
                         "exposure_time, f_number, iso, focal_length, gps_latitude, gps_longitude, "
                         "exif_data->'IFD0'->>'Model') FROM media_files WHERE id = " +
                         rocket) ==
          "Canon | EOS R5 | 2024-05-06 07:08:09 | 1/250s | f/4.0 | 800 | "
          "35.00 | -22.9519160 | -43.2104870 | EOS R5");

    // Something for each priority to pick: upstream analyzed the horse (no eye.media_state row),
    // the application took the coins but its own job never ran, and the rocket was analyzed
    // longest ago.
    for (const char* name : {"horse.png", "coins.png"}) {
        fs::copy_file(eye::testing::k_images / name, media.path / name);
    }
    const std::string horse = db.query_value(
        "INSERT INTO media_files (user_id, media_type, file_path, original_filename, mime_type, "
        "processing_status, description, processing_completed_at, created_at, updated_at) "
        "VALUES (1, 'image', 'horse.png', 'horse.png', 'image/png', 'completed', "
        "'a horse, described by upstream', now(), now(), now()) RETURNING id");
    const std::string coins = db.query_value(
        "INSERT INTO media_files (user_id, media_type, file_path, original_filename, mime_type, "
        "created_at, updated_at) VALUES (1, 'image', 'coins.png', 'coins.png', 'image/png', "
        "now(), now()) RETURNING id");
    db.execute(
        "UPDATE media_files SET processing_completed_at = processing_completed_at - "
        "interval '1 day' WHERE id = " +
        rocket);
    tasks.run_ok("eye-reanalyze", {"--priority=failed"});
    CHECK(queued_for("reanalyze:failed") == broken);
    tasks.run_ok("eye-reanalyze", {"--priority=outdated"});
    CHECK(queued_for("reanalyze:outdated") == horse);
    tasks.run_ok("eye-reanalyze", {"--priority=missing"});
    CHECK(queued_for("reanalyze:missing") == coins);
    tasks.run_ok("eye-reanalyze", {"--priority=oldest", "--batch=1"});
    CHECK(queued_for("reanalyze:oldest") == rocket);

    tasks.run_ok("eye-worker", {"--stop-when-empty", "--analyzer=builtin"});
    CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = 'completed' "
                         "AND description <> '' AND embedding IS NOT NULL") == "5");
    CHECK(db.query_value("SELECT analyzer FROM eye.media_state WHERE media_id = " + horse) ==
          "builtin");
    CHECK(status_of(broken) == "failed");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "2");

    // the coffee stuck in processing with no job; the rocket's job lost its worker
    db.execute(
        "UPDATE media_files SET processing_status = 'processing', "
        "processing_started_at = now() - interval '1 hour' WHERE id = " +
        coffee);
    db.execute(
        "UPDATE media_files SET processing_status = 'processing', "
        "processing_started_at = now() - interval '5 minutes' WHERE id = " +
        rocket);
    db.execute(
        "INSERT INTO eye.jobs (media_id, status, attempts, started_at, heartbeat_at, worker_id, "
        "previous_status, reason) VALUES (" +
        rocket +
        ", 'running', 1, now() - interval '5 minutes', now() - interval '5 minutes', "
        "'gone-worker', 'completed', 'test')");
    // the repairs leave jobs waiting with no worker running, which is CRITICAL (2) by design
    auto repaired = tasks.run("eye-monitor", {"--fix", "--format=json"});
    {
        INFO(describe("eye-monitor --fix", repaired));
        CHECK((repaired.exit_code >= 0 && repaired.exit_code <= 2));
        auto report = eye::json::parse(repaired.out);
        REQUIRE(report);
        for (const auto& check : (*report)["checks"].GetArray()) {
            INFO(check["name"].GetString() << ": " << check["message"].GetString());
            CHECK(std::string(check["status"].GetString()) != "unknown");
        }
        std::map<std::string, std::int64_t> fixed;
        for (const auto& fix : (*report)["fixes"].GetArray()) {
            fixed[fix["name"].GetString()] = fix["count"].GetInt64();
        }
        CHECK(fixed["stuck_media"] == 1);
        CHECK(fixed["stuck_jobs"] == 1);
    }
    CHECK(status_of(coffee) == "pending");
    CHECK(status_of(rocket) == "completed");
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued'") == "2");
    tasks.run_ok("eye-worker", {"--stop-when-empty", "--analyzer=builtin"});
    CHECK(status_of(coffee) == "completed");
    auto monitored = tasks.run_ok("eye-monitor", {});
    CHECK(monitored.out.find("Laravel: 1 in jobs, 2 in failed_jobs") != std::string::npos);

    tasks.run_ok("eye-cleanup", {});
    CHECK(db.query_value("SELECT string_agg(uuid, ',') FROM failed_jobs") == "new-failure");

    auto failed = tasks.run_ok("eye", {"queue:failed"});
    CHECK(failed.out.find("broken.jpg") != std::string::npos);
    tasks.run_ok("eye", {"queue:retry", "all"});
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") == "0");
    CHECK(queued_for("retry") == broken);

    // the learning loop: export, train, and the worker applying the new version
    auto exported = tasks.run_ok("eye-export", {"--format=avinash"});
    CHECK(exported.out.find("exported 5 image(s)") != std::string::npos);
    auto trained = tasks.run_ok("eye-train", {"--force"});
    CHECK(trained.out.find("trained tags-") != std::string::npos);
    CHECK(db.query_value("SELECT count(*) FROM eye.models WHERE status = 'succeeded'") == "1");
    tasks.run_ok("eye-reanalyze", {"--priority=outdated", "--batch=100"});
    tasks.run_ok("eye-worker", {"--stop-when-empty", "--analyzer=builtin"});
    CHECK(db.query_value("SELECT count(*) FROM eye.media_state WHERE model_version LIKE "
                         "'builtin-2+tags-%'") == "5");

    auto schedule = tasks.run_ok("eye", {"schedule:list", "--format=json"});
    CHECK(schedule.out.find("\"last_run\":{") != std::string::npos);

    // and nothing more
    const std::string role = deployment.tasks_url();
    CHECK(sqlstate_of(role, "SELECT * FROM users") == "42501");
    CHECK(sqlstate_of(role, "SELECT email FROM users WHERE id = 1") == "42501");
    CHECK(sqlstate_of(role, "SELECT original_filename FROM media_files") == "42501");
    CHECK(sqlstate_of(role, "SELECT * FROM media_files") == "42501");
    CHECK(sqlstate_of(role, "UPDATE media_files SET album = 'x'") == "42501");
    CHECK(sqlstate_of(role, "DELETE FROM media_files") == "42501");
    CHECK(sqlstate_of(role, "SELECT payload FROM failed_jobs") == "42501");
    CHECK(sqlstate_of(role, "UPDATE jobs SET payload = ''") == "42501");
    CHECK(sqlstate_of(role, "SELECT uuid FROM failed_jobs") == "42501");
    CHECK(sqlstate_of(role, "SELECT count(*) FROM sessions") == "42501");
    CHECK(sqlstate_of(role, "UPDATE eye.schema_version SET version = version") == "42501");
    CHECK(sqlstate_of(role, "SELECT count(*) FROM media_files") == "");
}

TEST_CASE("scripts/grant run again changes nothing, and takes back what eye does not need") {
    require_pgvector();
    Deployment deployment;
    const TestDatabase& db = deployment.db;
    REQUIRE(deployment.grant().exit_code == 0);
    const std::string granted = privileges(db);
    CHECK(granted.find(deployment.tasks.name()) != std::string::npos);

    auto again = deployment.grant();
    INFO(describe("scripts/grant, again", again));
    CHECK(again.exit_code == 0);
    CHECK(privileges(db) == granted);

    const std::string& role = deployment.tasks.name();
    db.execute(fmt::format("GRANT ALL ON media_files, failed_jobs, eye.jobs TO {}", role));
    db.execute(fmt::format("GRANT SELECT ON users TO {}", role));
    auto converged = deployment.grant();
    INFO(describe("scripts/grant over extra privileges", converged));
    CHECK(converged.exit_code == 0);
    // users is not eye's to revoke on, but the operator hears of it
    CHECK(converged.err.find("also holds privileges on users") != std::string::npos);
    db.execute(fmt::format("REVOKE ALL ON users FROM {}", role));
    CHECK(privileges(db) == granted);

    // a table a later `eye db:migrate` adds is the role's to use at once
    execute_as(deployment.owner_url(),
               "CREATE TABLE eye.added_later (id bigserial PRIMARY KEY, note text)");
    CHECK(sqlstate_of(deployment.tasks_url(), "INSERT INTO eye.added_later (note) VALUES ('x')") ==
          "");
    CHECK(sqlstate_of(deployment.tasks_url(), "DELETE FROM eye.added_later") == "");
}

TEST_CASE("scripts/grant refuses to run as anyone but the owner, and to grant to the owner") {
    require_pgvector();
    Deployment deployment;
    auto as_tasks = eye::testing::run(
        k_grant, {deployment.tasks.name(), "--database-url", deployment.tasks_url()});
    INFO(describe("scripts/grant as the tasks role", as_tasks));
    CHECK(as_tasks.exit_code == 1);
    CHECK(as_tasks.err ==
          fmt::format("grant: error: {} does not own media_files; hint: run scripts/grant as {}, "
                      "its owner\n",
                      deployment.tasks.name(), deployment.owner.name()));

    auto to_owner = eye::testing::run(
        k_grant, {deployment.owner.name(), "--database-url", deployment.owner_url()});
    INFO(describe("scripts/grant to the owner", to_owner));
    CHECK(to_owner.exit_code == 1);
    CHECK(to_owner.err.find("give eye a role of its own") != std::string::npos);

    auto unknown =
        eye::testing::run(k_grant, {"eye_grant_nobody", "--database-url", deployment.owner_url()});
    CHECK(unknown.exit_code == 1);
    CHECK(unknown.err.find("role eye_grant_nobody does not exist") != std::string::npos);
    // nothing was granted by any of them
    CHECK(deployment.db.query_value(fmt::format(
              "SELECT has_table_privilege('{}', 'eye.jobs', 'SELECT')", deployment.tasks.name())) ==
          "f");
}

TEST_CASE("scripts/grant works where eye made media_files itself and Laravel has no failed_jobs") {
    TestRole role(fmt::format("eye_grant_standalone_{}", getpid()), "standalone-pw-42");
    TestDatabase db;
    auto granted = eye::testing::run(k_grant, {role.name(), "--database-url", db.url()});
    INFO(describe("scripts/grant", granted));
    REQUIRE(granted.exit_code == 0);
    CHECK(granted.out.find("failed_jobs") == std::string::npos);

    TempDir media;
    fs::copy_file(eye::testing::k_images / "coins.png", media.path / "coins.png");
    Environment env{{"EYE_DATABASE_URL", role.conninfo(db)},
                    {"EYE_MEDIA_ROOT", media.str()},
                    {"EYE_STATE_DIR", media.str()}};
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"eye", "media:import", media.str()},
             {"eye-worker", "--stop-when-empty", "--analyzer=builtin"},
             {"eye-cleanup"},
             {"eye-reanalyze", "--priority=oldest"}}) {
        auto result = eye::testing::run(args[0], {args.begin() + 1, args.end()}, env);
        INFO(describe(fmt::format("{}", fmt::join(args, " ")), result));
        CHECK(result.exit_code == 0);
        CHECK(result.err.find("permission denied") == std::string::npos);
    }
    CHECK(db.query_value("SELECT processing_status FROM media_files") == "completed");
}

TEST_CASE("scripts/grant takes plain role names only, and --print shows its SQL") {
    for (const char* name :
         {"Eye", "eye-tasks", "a;b", "x\"y", "public", "none", "pg_monitor", "1eye", ""}) {
        auto result = eye::testing::run(k_grant, {name, "--print"});
        INFO(describe(name, result));
        CHECK(result.exit_code == 64);
        CHECK(result.out.empty());
    }
    CHECK(eye::testing::run(k_grant, {"eye_tasks", "--bogus"}).exit_code == 64);
    CHECK(eye::testing::run(k_grant, {"eye_tasks", "other_role"}).exit_code == 64);
    CHECK(eye::testing::run(k_grant, {"--print"}).exit_code == 64);

    auto help = eye::testing::run(k_grant, {"--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.rfind("Usage: scripts/grant ROLE", 0) == 0);

    auto printed = eye::testing::run(k_grant, {"eye_tasks", "--print"});
    INFO(describe("--print", printed));
    CHECK(printed.exit_code == 0);
    CHECK(printed.out.find("grantee constant text := 'eye_tasks';") != std::string::npos);
    CHECK(printed.out.find("GRANT %s (%s) ON %s TO %I") != std::string::npos);
    CHECK(printed.out.find("users") == std::string::npos);
}

TEST_CASE("a privilege the role lacks is a configuration error that says how to grant it") {
    require_pgvector();
    Deployment deployment;
    REQUIRE(deployment.grant().exit_code == 0);
    deployment.db.execute(fmt::format("REVOKE UPDATE (processing_attempts) ON media_files FROM {}",
                                      deployment.tasks.name()));
    execute_as(deployment.owner_url(),
               "INSERT INTO media_files (user_id, media_type, file_path, original_filename, "
               "mime_type, created_at, updated_at) VALUES (1, 'image', 'a.png', 'a.png', "
               "'image/png', now(), now())");
    auto queued = eye::testing::run("eye-reanalyze", {"--priority=missing"},
                                    {{"EYE_DATABASE_URL", deployment.tasks_url()}});
    REQUIRE(queued.exit_code == 0);
    auto worker = eye::testing::run("eye-worker", {"--stop-when-empty", "--analyzer=builtin"},
                                    {{"EYE_DATABASE_URL", deployment.tasks_url()}});
    INFO(describe("eye-worker without UPDATE (processing_attempts)", worker));
    CHECK(worker.exit_code == 78);
    CHECK(worker.err.find("permission denied for table media_files") != std::string::npos);
    CHECK(worker.err.find("hint: grant the database user the privileges eye needs "
                          "(scripts/grant") != std::string::npos);
}
