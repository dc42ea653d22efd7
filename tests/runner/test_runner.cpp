// The runner every task shares: exit codes, the eye.runs record, the advisory lock, the begin and
// end lines, metrics files and pings.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/db/conninfo.hpp"
#include "eye/json/json.hpp"
#include "eye/runner/run_record.hpp"
#include "eye/runner/runner.hpp"
#include "support/database.hpp"
#include "support/http_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::Command;
using eye::CommandTraits;
using eye::Context;
using eye::ExitCode;
using eye::Outcome;
using eye::testing::TempDir;
using eye::testing::TestDatabase;

namespace {

// A task for the tests: it does what its --behave flag says.
struct ProbeOptions {
    std::string behave = "ok";
};

void add_probe_options(CLI::App& app, eye::Config&, ProbeOptions& options) {
    app.add_option("--behave", options.behave);
}

Outcome run_probe(Context& context, const ProbeOptions& options) {
    const std::string& how = options.behave;
    if (how == "usage") {
        throw eye::UsageError("a usage problem found late");
    }
    if (how == "unavailable") {
        throw eye::UnavailableError("the AI service at 'http://ai:8000' is unavailable",
                                    "start it or unset EYE_AI_URL");
    }
    if (how == "io") {
        throw eye::IoError("cannot write '/full/disk/export.jsonl': No space left on device");
    }
    if (how == "temporary") {
        throw eye::TempFailError("the database is restarting");
    }
    if (how == "config") {
        throw eye::ConfigError("EYE_TRAINER is 'gpu'", "use builtin, http or command");
    }
    if (how == "failed") {
        throw eye::TaskFailedError("the trainer rejected the data");
    }
    if (how == "bug") {
        throw std::logic_error("an invariant broke");
    }
    if (how == "slow") {
        eye::stop::wait_for(std::chrono::seconds(3));
    }
    if (how == "quote") {
        // a task that quotes what it was given, as a message quoting a URL does
        context.out << "connecting with " << context.config.database_url << "\n";
        Outcome quoting;
        quoting.summary_json = eye::json::quote(context.config.database_url);
        return quoting;
    }
    Outcome outcome;
    outcome.summary_json = R"({"probed":true})";
    outcome.metrics.push_back({"things_done", 7, "Things the probe did."});
    if (context.dry_run) {
        outcome.note = "dry run";
    }
    return outcome;
}

Command probe_command(std::string task = "probe") {
    Command command;
    command.name = "test:probe";
    command.program = "eye-probe";
    command.task = std::move(task);
    command.summary = "a task for the runner's tests";
    command.traits = CommandTraits{};
    command.make = eye::make_task<ProbeOptions>({add_probe_options, run_probe});
    return command;
}

int run_probe_command(const Command& command, const TestDatabase& db,
                      std::vector<std::string> args) {
    args.push_back("--database-url=" + db.url());
    std::ostringstream out;
    return eye::run_command(command, args, out);
}

std::string read(const std::string& path) {
    std::ifstream file(path);
    std::stringstream buffer;
    buffer << file.rdbuf();
    return buffer.str();
}

// Sets an environment variable for one scope.
struct ScopedEnv {
    ScopedEnv(const char* name, const std::string& value) : m_name(name) {
        if (const char* old = std::getenv(name)) {
            m_old = old;
        }
        setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (m_old) {
            setenv(m_name, m_old->c_str(), 1);
        } else {
            unsetenv(m_name);
        }
    }
    const char* m_name;
    std::optional<std::string> m_old;
};

}  // namespace

TEST_CASE("every error class leaves the runner as its exit code and a failed run record") {
    TestDatabase db;
    auto command = probe_command();
    struct Case {
        std::string behave;
        ExitCode code;
    };
    for (const auto& c : std::vector<Case>{{"ok", ExitCode::ok},
                                           {"failed", ExitCode::failed},
                                           {"usage", ExitCode::usage},
                                           {"unavailable", ExitCode::unavailable},
                                           {"bug", ExitCode::software},
                                           {"io", ExitCode::io_error},
                                           {"temporary", ExitCode::temp_fail},
                                           {"config", ExitCode::config}}) {
        INFO(c.behave);
        db.execute("TRUNCATE eye.runs");
        int exit_code = run_probe_command(command, db, {"--behave", c.behave});
        CHECK(exit_code == eye::to_int(c.code));
        auto expected_status = c.code == ExitCode::ok ? "ok" : "failed";
        CHECK(
            db.query_value("SELECT status || ' ' || exit_code || ' ' || (finished_at IS NOT NULL) "
                           "FROM eye.runs") ==
            fmt::format("{} {} true", expected_status, eye::to_int(c.code)));
        if (c.code != ExitCode::ok) {
            CHECK_FALSE(db.query_value("SELECT summary->>'error' FROM eye.runs").empty());
        } else {
            CHECK(db.query_value("SELECT summary->>'probed' FROM eye.runs") == "true");
        }
    }
}

TEST_CASE("the exit codes are the table of the design, by name") {
    CHECK(eye::to_int(ExitCode::ok) == 0);
    CHECK(eye::to_int(ExitCode::failed) == 1);
    CHECK(eye::to_int(eye::monitor_warning) == 1);
    CHECK(eye::to_int(ExitCode::critical) == 2);
    CHECK(eye::to_int(ExitCode::unknown) == 3);
    CHECK(eye::to_int(ExitCode::usage) == 64);
    CHECK(eye::to_int(ExitCode::unavailable) == 69);
    CHECK(eye::to_int(ExitCode::software) == 70);
    CHECK(eye::to_int(ExitCode::io_error) == 74);
    CHECK(eye::to_int(ExitCode::temp_fail) == 75);
    CHECK(eye::to_int(ExitCode::config) == 78);
    CHECK(eye::exit_code_name(ExitCode::temp_fail) == "temp_fail");
}

TEST_CASE("a task refuses to run on a database without the eye schema") {
    TestDatabase db(false);
    CHECK(run_probe_command(probe_command(), db, {}) == 78);
}

TEST_CASE("a database that is down is a temporary failure (75) for a task that needs it") {
    int port = eye::testing::closed_port();
    std::ostringstream out;
    int code = eye::run_command(
        probe_command(), {fmt::format("--database-url=postgresql://u@127.0.0.1:{}/x", port)}, out);
    CHECK(code == 75);
}

TEST_CASE("a run that finds the lock held skips with exit 0, or 75 with --fail-if-locked") {
    TestDatabase db;
    auto command = probe_command("locked-probe");
    eye::db::ConnectOptions options;
    options.url = db.url();
    options.application_name = eye::run_record::application_name("eye-probe");
    auto holder = eye::db::Session::connect(options);
    REQUIRE(eye::run_record::try_lock(holder, "locked-probe"));

    CHECK(run_probe_command(command, db, {}) == 0);
    CHECK(run_probe_command(command, db, {"--fail-if-locked"}) == 75);
    CHECK(db.query_value("SELECT string_agg(status || ':' || exit_code, ',') FROM eye.runs") ==
          "skipped:0,skipped:75");

    auto observer = db.connect();
    auto who = eye::run_record::find_lock_holder(observer, "locked-probe");
    CHECK(who.pid == std::to_string(getpid()));
    CHECK(who.since.has_value());
}

TEST_CASE("the lock is per task and released when its session ends") {
    TestDatabase db;
    {
        auto first = db.connect();
        REQUIRE(eye::run_record::try_lock(first, "a"));
        auto second = db.connect();
        CHECK_FALSE(eye::run_record::try_lock(second, "a"));
        CHECK(eye::run_record::try_lock(second, "b"));
    }
    auto third = db.connect();
    CHECK(eye::run_record::try_lock(third, "a"));
}

TEST_CASE("runs left 'running' by a process that died are closed by the next run") {
    TestDatabase db;
    db.execute(
        "INSERT INTO eye.runs (task, host, pid, started_at) VALUES "
        "('probe', 'gone', 1, now() - interval '1 day')");
    CHECK(run_probe_command(probe_command(), db, {}) == 0);
    CHECK(db.query_value("SELECT string_agg(status, ',' ORDER BY id) FROM eye.runs") ==
          "failed,ok");
    CHECK_THAT(db.query_value("SELECT summary->>'error' FROM eye.runs ORDER BY id LIMIT 1"),
               Catch::Contains("abandoned"));
}

TEST_CASE("a run whose process still has a database session is not taken for abandoned") {
    TestDatabase db;
    eye::db::ConnectOptions options;
    options.url = db.url();
    options.application_name = "eye-worker pid=4242 host=still-alive";
    auto alive = eye::db::Session::connect(options);
    db.execute(
        "INSERT INTO eye.runs (task, host, pid, started_at) VALUES "
        "('worker', 'still-alive', 4242, now() - interval '1 day'), "
        "('worker', 'still-alive', 4243, now() - interval '1 day')");
    CHECK(run_probe_command(probe_command(), db, {}) == 0);
    CHECK(db.query_value("SELECT string_agg(pid || ':' || status, ',' ORDER BY id) FROM eye.runs "
                         "WHERE task = 'worker'") == "4242:running,4243:failed");
}

TEST_CASE("--dry-run is recorded on the run") {
    TestDatabase db;
    CHECK(run_probe_command(probe_command(), db, {"--dry-run"}) == 0);
    CHECK(db.query_value("SELECT dry_run FROM eye.runs") == "t");
}

TEST_CASE("the run record keeps the arguments without secrets") {
    TestDatabase db;
    std::ostringstream out;
    eye::testing::TestRole login("eye_test_pw_role", "hunter22secret", "SUPERUSER");
    auto url = login.conninfo(db);
    eye::run_command(probe_command(), {"--database-url=" + url, "--behave", "ok"}, out);
    auto args = db.query_value("SELECT args::text FROM eye.runs");
    CHECK_THAT(args, Catch::Contains("--behave"));
    CHECK_THAT(args, !Catch::Contains("hunter22secret"));
}

TEST_CASE("what a task quotes reaches neither its report nor eye.runs with a password in it") {
    TestDatabase db;
    std::ostringstream out;
    eye::testing::TestRole login("eye_test_pw_role", "hunter22secret", "SUPERUSER");
    auto url = login.conninfo(db);
    CHECK(eye::run_command(probe_command(), {"--database-url=" + url, "--behave", "quote"}, out) ==
          0);
    CHECK_THAT(out.str(), Catch::StartsWith("connecting with "));
    CHECK_THAT(out.str(), !Catch::Contains("hunter22secret"));
    auto summary = db.query_value("SELECT summary::text FROM eye.runs");
    CHECK_THAT(summary, Catch::Contains("password=***"));
    CHECK_THAT(summary, !Catch::Contains("hunter22secret"));
}

TEST_CASE(
    "with EYE_METRICS_DIR a run writes its metrics file atomically, keeping the last "
    "success") {
    TestDatabase db;
    TempDir metrics;
    ScopedEnv env("EYE_METRICS_DIR", metrics.str());
    auto command = probe_command();
    REQUIRE(run_probe_command(command, db, {}) == 0);
    auto path = (metrics.path / "eye_probe.prom").string();
    auto first = read(path);
    CHECK_THAT(first, Catch::Contains("eye_task_exit_code{task=\"probe\"} 0"));
    CHECK_THAT(first, Catch::Contains("eye_probe_things_done{task=\"probe\"} 7"));
    CHECK_THAT(first, Catch::Contains("eye_task_last_success_timestamp_seconds{task=\"probe\"}"));
    auto success_line = first.substr(first.find("eye_task_last_success_timestamp_seconds{"));
    success_line = success_line.substr(0, success_line.find('\n'));

    REQUIRE(run_probe_command(command, db, {"--behave", "temporary"}) == 75);
    auto second = read(path);
    CHECK_THAT(second, Catch::Contains("eye_task_exit_code{task=\"probe\"} 75"));
    CHECK_THAT(second, Catch::Contains(success_line));
    // no temporary files are left behind
    int files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(metrics.path)) {
        ++files;
    }
    CHECK(files == 1);
}

TEST_CASE("with EYE_PING_URL a run pings /start and then its exit code, paired by a run id") {
    TestDatabase db;
    eye::testing::HttpServer pings([](const eye::testing::Request&) {
        return eye::testing::text_reply(200, "text/plain", "OK");
    });
    ScopedEnv env("EYE_PING_URL", pings.url() + "/ping/abc");
    REQUIRE(run_probe_command(probe_command(), db, {"--behave", "failed"}) == 1);
    auto requests = pings.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].path == "/ping/abc/eye-probe/start");
    CHECK(requests[1].path == "/ping/abc/eye-probe/1");
    CHECK(requests[0].query == requests[1].query);
    CHECK_THAT(requests[0].query, Catch::StartsWith("rid="));
}

TEST_CASE("a ping that fails never fails the task") {
    TestDatabase db;
    ScopedEnv env("EYE_PING_URL", fmt::format("http://127.0.0.1:{}", eye::testing::closed_port()));
    CHECK(run_probe_command(probe_command(), db, {}) == 0);
}

TEST_CASE("SIGTERM during a run reaches the task, which decides how to end") {
    TestDatabase db;
    eye::stop::reset();
    auto started = std::chrono::steady_clock::now();
    std::thread stopper([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        eye::stop::request(SIGTERM);
    });
    CHECK(run_probe_command(probe_command(), db, {"--behave", "slow"}) == 0);
    stopper.join();
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
    CHECK(std::string(eye::stop::signal_name()) == "SIGTERM");
    eye::stop::reset();
}

TEST_CASE("the umbrella lists its commands and runs them by their artisan names") {
    auto list = eye::testing::run("eye", {"list"});
    CHECK(list.exit_code == 0);
    CHECK_THAT(list.out, Catch::Contains("system:monitor"));
    CHECK_THAT(list.out, Catch::Contains("eye-monitor"));
    CHECK_THAT(list.out, Catch::Contains("db:migrate"));

    auto help = eye::testing::run("eye", {"help", "system:monitor"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("--stuck-after"));
    auto own = eye::testing::run("eye-monitor", {"--help"});
    CHECK(own.out == help.out);

    auto unknown = eye::testing::run("eye", {"system:montor"});
    CHECK(unknown.exit_code == 64);
    CHECK_THAT(unknown.err, Catch::Contains("unknown command 'system:montor'"));
    CHECK_THAT(unknown.err, Catch::Contains("hint: did you mean 'system:monitor'? see 'eye list'"));
    auto far = eye::testing::run("eye", {"nothing:like-it"});
    CHECK(far.exit_code == 64);
    CHECK_THAT(far.err, Catch::Contains("unknown command 'nothing:like-it'; hint: see 'eye list'"));
}

TEST_CASE("the umbrella and the small executable behave identically") {
    TestDatabase db;
    eye::testing::Environment env{{"EYE_DATABASE_URL", db.url()}, {"EYE_STATE_DIR", "/tmp"}};
    auto own = eye::testing::run("eye-monitor", {"--format=json"}, env);
    auto umbrella = eye::testing::run("eye", {"system:monitor", "--format=json"}, env);
    CHECK(own.exit_code == umbrella.exit_code);
    auto strip_numbers = [](std::string text) {
        for (auto& c : text) {
            if (c >= '0' && c <= '9') {
                c = '#';
            }
        }
        return text;
    };
    CHECK(strip_numbers(own.out) == strip_numbers(umbrella.out));
    auto bad = eye::testing::run("eye", {"system:monitor", "--format=xml"}, env);
    CHECK(bad.exit_code == 64);
}

TEST_CASE("--log-format=json writes every log line as one JSON object without secrets") {
    TestDatabase db;
    eye::testing::TestRole login("eye_test_pw_role", "s3cret-pw-123", "SUPERUSER");
    auto url = login.conninfo(db);
    auto result = eye::testing::run("eye-monitor", {"--log-format=json", "--format=json"},
                                    {{"EYE_DATABASE_URL", url}, {"EYE_STATE_DIR", "/tmp"}});
    CHECK(result.exit_code == 0);
    std::istringstream lines(result.err);
    int count = 0;
    for (std::string line; std::getline(lines, line);) {
        INFO(line);
        auto parsed = eye::json::parse(line);
        REQUIRE(parsed);
        CHECK(parsed->HasMember("time"));
        CHECK(std::string((*parsed)["level"].GetString()) == "INFO");
        CHECK(std::string((*parsed)["program"].GetString()) == "eye-monitor");
        ++count;
    }
    CHECK(count >= 2);
    CHECK_THAT(result.err, Catch::Contains("eye-monitor end: ok in "));
    CHECK_THAT(result.err, !Catch::Contains("s3cret-pw-123"));
}
