// No password or token in what eye writes: log lines at any level and in either format, reports
// on stdout, and eye.runs. Every command runs with secrets in the database URL (as a URL and as a
// key=value string, from the environment and from a config file), the AI token and the ping
// URL's key, and everything it wrote is searched for them.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/db/conninfo.hpp"
#include "support/database.hpp"
#include "support/http_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::Environment;
using eye::testing::TempDir;
using eye::testing::TestDatabase;

namespace {

const char* const k_db_password = "pw-Secret-4711";
const char* const k_token = "tok-Secret-0815";
const char* const k_url_password = "urlpw-Secret-42";
const char* const k_ping_key = "ping-Secret-99";

// Where each secret must not appear, and what was found.
std::vector<std::string> leaks(const std::string& text) {
    std::vector<std::string> found;
    for (const char* secret : {k_db_password, k_token, k_url_password, k_ping_key}) {
        if (text.find(secret) != std::string::npos) {
            found.emplace_back(secret);
        }
    }
    return found;
}

// A login role with a password on the test database, as a key=value string and as a URL.
struct SecretLogin {
    std::string key_value;
    std::string url;
};

SecretLogin secret_login(const TestDatabase& db, const eye::testing::TestRole& role) {
    auto info = eye::db::ConnInfo::parse(db.url());
    REQUIRE(info);
    SecretLogin login;
    login.key_value = role.conninfo(db);
    // "eye_secret_user@host:port/dbname" from the description, with the password put in
    std::string where = info->with("user", role.name()).describe();
    login.url = fmt::format("postgresql://{}:{}@{}", role.name(), role.password(),
                            where.substr(where.find('@') + 1));
    return login;
}

}  // namespace

TEST_CASE("no command writes a password or token to its log, its report or eye.runs") {
    TestDatabase db;
    eye::testing::TestRole role("eye_secret_user", k_db_password, "SUPERUSER");
    auto login = secret_login(db, role);
    TempDir dir;
    std::filesystem::create_directories(dir.path / "images");
    std::ofstream(dir.path / "images" / "not-a-photo.jpg") << "hello";
    std::string config = (dir.path / "eye.conf").string();
    std::ofstream(config) << fmt::format("database-url = \"{}\"\nai-token = \"{}\"\n", login.url,
                                         k_token);
    int port = eye::testing::closed_port();
    // a service URL with a password in it, unreachable, so error messages quote it
    std::string ai_url = fmt::format("http://eye:{}@127.0.0.1:{}", k_url_password, port);
    std::string ping_url = fmt::format("http://127.0.0.1:{}/{}", port, k_ping_key);

    struct Run {
        std::string program;
        std::vector<std::string> args;
        bool from_config = false;
    };
    const std::vector<Run> runs = {
        {"eye", {"db:migrate"}},
        {"eye-monitor", {"--fix", "--log-level=debug"}},
        {"eye-monitor", {"--format=json", "--log-format=json"}},
        {"eye-monitor", {"--format=nagios"}, true},
        {"eye-worker", {"--stop-when-empty", "--log-level=debug"}},
        {"eye-worker", {"--stop-when-empty", "--analyzer=builtin", "--log-level=debug"}},
        {"eye-reanalyze", {"--priority=missing", "--log-level=debug"}},
        {"eye-cleanup", {"--log-level=debug", "--format=json"}},
        {"eye", {"media:import", (dir.path / "images").string(), "--log-level=debug"}},
        {"eye", {"queue:failed", "--format=json"}},
        {"eye", {"queue:retry", "all"}, true},
        {"eye-monitor", {"--ai-token", k_token, "--log-level=debug"}},
        // an AI URL curl cannot use, quoted whole in the check's message
        {"eye-monitor",
         {"--format=json", "--ai-url", fmt::format("http://eye:{}@[bad-host", k_url_password)}},
        {"eye", {"db:migrate", "--database-url", login.url}},
    };
    for (const auto& run : runs) {
        Environment env{{"EYE_AI_URL", ai_url},
                        {"EYE_PING_URL", ping_url},
                        {"EYE_MEDIA_ROOT", dir.str()},
                        {"EYE_STATE_DIR", dir.str()},
                        {"EYE_HTTP_TIMEOUT", "1s"}};
        auto args = run.args;
        if (run.from_config) {
            args.insert(args.begin(), {"--config", config});
        } else {
            env["EYE_DATABASE_URL"] = login.key_value;
            env["EYE_AI_TOKEN"] = k_token;
        }
        auto result = eye::testing::run(run.program, args, env);
        INFO(run.program << " " << fmt::format("{}", fmt::join(run.args, " ")) << "\nexit "
                         << result.exit_code << "\nstdout: " << result.out
                         << "\nstderr: " << result.err);
        CHECK(result.exit_code >= 0);  // ended, not killed
        CHECK(leaks(result.out).empty());
        CHECK(leaks(result.err).empty());
    }
    std::string records = db.query_value(
        "SELECT string_agg(row_to_json(r)::text, E'\\n' ORDER BY id) FROM eye.runs r");
    INFO(records);
    CHECK(db.query_value("SELECT count(*) FROM eye.runs") != "0");
    CHECK(leaks(records).empty());
    std::string errors = db.query_value(
        "SELECT concat_ws(E'\\n', (SELECT string_agg(coalesce(last_error, ''), ' ') FROM "
        "eye.jobs), (SELECT string_agg(error, ' ') FROM eye.failed_jobs), (SELECT "
        "string_agg(coalesce(processing_error, ''), ' ') FROM media_files))");
    CHECK(leaks(errors).empty());
}

TEST_CASE("a token on the command line or sent in clear text over the network is warned about") {
    TestDatabase db;
    Environment env{{"EYE_DATABASE_URL", db.url()}, {"EYE_STATE_DIR", "/tmp"}};
    auto typed = eye::testing::run(
        "eye-monitor",
        {"--ai-token", k_token, "--ai-url", "http://127.0.0.1:1", "--http-timeout=1s"}, env);
    CHECK_THAT(typed.err, Catch::Contains("--ai-token on the command line can be read by every "
                                          "user of this machine"));
    CHECK_THAT(typed.err, !Catch::Contains("clear text"));

    env["EYE_AI_TOKEN"] = k_token;
    env["EYE_AI_URL"] = "http://python-ai.invalid:8000";
    auto remote = eye::testing::run("eye-monitor", {"--http-timeout=1s"}, env);
    CHECK_THAT(remote.err, Catch::Contains("the AI token is sent in clear text to "
                                           "'http://python-ai.invalid:8000'"));
    CHECK_THAT(remote.err, !Catch::Contains("--ai-token on the command line"));
    env["EYE_AI_URL"] = "https://python-ai.invalid:8000";
    auto tls = eye::testing::run("eye-monitor", {"--http-timeout=1s"}, env);
    CHECK_THAT(tls.err, !Catch::Contains("clear text"));
}

TEST_CASE("EYE_AI_TOKEN_FILE supplies the token, as EYE_DATABASE_URL_FILE supplies the URL") {
    TestDatabase db;
    eye::testing::HttpServer server([](const eye::testing::Request& request) {
        eye::testing::Reply reply;
        reply.status =
            request.header("authorization") == std::string("Bearer ") + k_token ? 200 : 401;
        reply.content_type = "application/json";
        reply.body = R"({"status": "healthy", "models_loaded": true, "device": "cpu"})";
        return reply;
    });
    TempDir dir;
    std::ofstream(dir.path / "token") << k_token << "\n";
    Environment env{{"EYE_DATABASE_URL", db.url()},
                    {"EYE_STATE_DIR", "/tmp"},
                    {"EYE_AI_URL", server.url()},
                    {"EYE_AI_TOKEN_FILE", (dir.path / "token").string()}};
    auto result = eye::testing::run("eye-monitor", {"--format=json"}, env);
    CHECK_THAT(result.out, Catch::Contains("\"name\":\"ai_service\",\"status\":\"ok\""));
    env["EYE_AI_TOKEN_FILE"] = (dir.path / "missing").string();
    auto missing = eye::testing::run("eye-monitor", {}, env);
    CHECK(missing.exit_code == 78);
    CHECK_THAT(missing.err, Catch::Contains("cannot read EYE_AI_TOKEN_FILE"));
}
