// Configuration precedence (flag > environment > config file > default) and the typed flags.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "eye/config/config.hpp"
#include "eye/config/options.hpp"
#include "eye/core/error.hpp"

using eye::Milliseconds;

namespace {

struct ScopedEnv {
    ScopedEnv(const char* name, const char* value) : m_name(name) {
        if (const char* old = std::getenv(name)) {
            m_old = old;
        }
        if (value != nullptr) {
            setenv(name, value, 1);
        } else {
            unsetenv(name);
        }
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

struct ConfigFile {
    explicit ConfigFile(const std::string& text) {
        path = std::filesystem::temp_directory_path() /
               ("eye-options-test-" + std::to_string(getpid()) + ".conf");
        std::ofstream(path) << text;
    }
    ~ConfigFile() { std::filesystem::remove(path); }
    std::filesystem::path path;
};

// Parses args with one duration flag, the config file option and eye's env-first file reader.
Milliseconds parse_stuck_after(std::vector<std::string> args, const std::string& config = {}) {
    Milliseconds stuck_after{600'000};
    CLI::App app("test");
    app.config_formatter(std::make_shared<eye::options::EnvFirstConfig>());
    app.allow_config_extras(CLI::config_extras_mode::ignore);
    app.set_config("--config");
    eye::options::add_duration(app, "--stuck-after", stuck_after, "test");
    if (!config.empty()) {
        args.push_back("--config=" + config);
    }
    eye::options::set_command_line(args);
    app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
    return stuck_after;
}

}  // namespace

TEST_CASE("a flag beats the environment, which beats the config file, which beats the default") {
    ConfigFile file("stuck-after = \"30m\"\nsome-other-key = 1\n");
    ScopedEnv clear("EYE_STUCK_AFTER", nullptr);
    CHECK(parse_stuck_after({}) == Milliseconds(600'000));
    CHECK(parse_stuck_after({}, file.path) == Milliseconds(30 * 60'000));
    {
        ScopedEnv env("EYE_STUCK_AFTER", "20m");
        CHECK(parse_stuck_after({}, file.path) == Milliseconds(20 * 60'000));
        CHECK(parse_stuck_after({"--stuck-after=15m"}, file.path) == Milliseconds(15 * 60'000));
    }
    CHECK(parse_stuck_after({"--stuck-after", "90s"}) == Milliseconds(90'000));
}

TEST_CASE(
    "a bad value on the command line is a usage error, from the environment a config "
    "error") {
    ScopedEnv clear("EYE_STUCK_AFTER", nullptr);
    CHECK_THROWS_AS(parse_stuck_after({"--stuck-after=-5"}), CLI::ValidationError);
    ScopedEnv env("EYE_STUCK_AFTER", "abc");
    try {
        parse_stuck_after({});
        FAIL("no error");
    } catch (const eye::ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains("EYE_STUCK_AFTER"));
        CHECK(e.code() == eye::ExitCode::config);
    }
}

TEST_CASE("env_name turns a flag into its variable") {
    CHECK(eye::options::env_name("--stuck-after") == "EYE_STUCK_AFTER");
    CHECK(eye::options::env_name("--max-pending") == "EYE_MAX_PENDING");
}

TEST_CASE("integer flags check their range and say what is allowed") {
    long long batch = 25;
    CLI::App app("test");
    eye::options::add_int(app, "--batch", batch, "test", 1, 10'000);
    std::vector<std::string> args{"--batch=0"};
    eye::options::set_command_line(args);
    try {
        app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
        FAIL("no error");
    } catch (const CLI::ValidationError& e) {
        CHECK_THAT(e.what(), Catch::Contains("between 1 and 10000"));
    }
}

TEST_CASE(
    "the database URL comes from the flag, EYE_DATABASE_URL, EYE_DATABASE_URL_FILE, "
    "DATABASE_URL, in that order") {
    ScopedEnv a("EYE_DATABASE_URL", nullptr);
    ScopedEnv b("EYE_DATABASE_URL_FILE", nullptr);
    ScopedEnv c("DATABASE_URL", nullptr);
    {
        eye::Config config;
        eye::resolve_config(config);
        CHECK(config.database_url.empty());  // libpq's PG* variables decide
    }
    ScopedEnv plain("DATABASE_URL", "postgresql://plain/db");
    {
        eye::Config config;
        eye::resolve_config(config);
        CHECK(config.database_url == "postgresql://plain/db");
    }
    ConfigFile secret("postgresql://from-file/db\n");
    ScopedEnv file("EYE_DATABASE_URL_FILE", secret.path.c_str());
    {
        eye::Config config;
        eye::resolve_config(config);
        CHECK(config.database_url == "postgresql://from-file/db");
    }
    ScopedEnv own("EYE_DATABASE_URL", "postgresql://own/db");
    {
        eye::Config config;
        eye::resolve_config(config);
        CHECK(config.database_url == "postgresql://own/db");
    }
    {
        eye::Config config;
        config.database_url = "postgresql://flag/db";
        eye::resolve_config(config);
        CHECK(config.database_url == "postgresql://flag/db");
    }
}

TEST_CASE("an unreadable EYE_DATABASE_URL_FILE is a configuration error that names it") {
    ScopedEnv a("EYE_DATABASE_URL", nullptr);
    ScopedEnv file("EYE_DATABASE_URL_FILE", "/nonexistent/secret");
    eye::Config config;
    try {
        eye::resolve_config(config);
        FAIL("no error");
    } catch (const eye::ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains("/nonexistent/secret"));
    }
}

TEST_CASE("the analyzer defaults to avinash when EYE_AI_URL is set, else builtin") {
    eye::Config plain;
    eye::resolve_config(plain);
    CHECK(plain.analyzer == "builtin");
    eye::Config with_ai;
    with_ai.ai_url = "http://python-ai:8000";
    eye::resolve_config(with_ai);
    CHECK(with_ai.analyzer == "avinash");
}

namespace {

// Parses one flag of each duration kind: Laravel-style seconds and a retention.
std::pair<Milliseconds, Milliseconds> parse_times(std::vector<std::string> args) {
    Milliseconds max_time{0};
    Milliseconds keep{0};
    CLI::App app("test");
    eye::options::add_seconds(app, "--max-time", max_time, "test");
    eye::options::add_retention(app, "--keep-completed", keep, "test");
    eye::options::set_command_line(args);
    app.parse(std::vector<std::string>(args.rbegin(), args.rend()));
    return {max_time, keep};
}

}  // namespace

TEST_CASE("Laravel-style flags take a unit, and a bare number as seconds") {
    ScopedEnv clear("EYE_MAX_TIME", nullptr);
    CHECK(parse_times({"--max-time=1h"}).first == Milliseconds(3'600'000));
    CHECK(parse_times({"--max-time=5m"}).first == Milliseconds(300'000));
    CHECK(parse_times({"--max-time=90"}).first == Milliseconds(90'000));
    CHECK(parse_times({"--max-time=0"}).first == Milliseconds(0));
    CHECK_THROWS_AS(parse_times({"--max-time=soon"}), CLI::ValidationError);
}

TEST_CASE("a retention takes a unit and refuses a bare number with a hint") {
    ScopedEnv clear("EYE_KEEP_COMPLETED", nullptr);
    CHECK(parse_times({"--keep-completed=7d"}).second == Milliseconds(7LL * 24 * 3'600'000));
    try {
        parse_times({"--keep-completed=7"});
        FAIL("a bare number was taken");
    } catch (const CLI::ValidationError& e) {
        CHECK_THAT(e.what(), Catch::Contains("7 what? write 7d (days), 7h or 7m"));
    }
    // from the environment too, naming the variable
    ScopedEnv env("EYE_KEEP_COMPLETED", "30");
    try {
        parse_times({});
        FAIL("a bare number was taken");
    } catch (const eye::ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains("EYE_KEEP_COMPLETED") && Catch::Contains("30 what?"));
    }
}
