#include "support/database.hpp"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/db/conninfo.hpp"
#include "eye/db/schema.hpp"

namespace eye::testing {
namespace {

std::atomic<int> g_counter{0};

pqxx::connection admin_connection() {
    return pqxx::connection(admin_url());
}

}  // namespace

const std::string& admin_url() {
    static const std::string url = [] {
        const char* value = std::getenv("EYE_TEST_DATABASE_URL");
        if (value == nullptr || *value == '\0') {
            throw std::runtime_error(
                "EYE_TEST_DATABASE_URL is not set; run scripts/test, or point it at a "
                "PostgreSQL server where the tests may create databases");
        }
        return std::string(value);
    }();
    return url;
}

bool server_has_pgvector() {
    static const bool available = [] {
        auto conn = admin_connection();
        pqxx::nontransaction tx(conn);
        return tx.exec("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'")[0][0]
                   .as<int>() > 0;
    }();
    return available;
}

void make_upstream(TestDatabase& db) {
    if (!server_has_pgvector()) {
        FAIL("the test server has no pgvector; hint: scripts/setup --pgvector");
    }
    std::ifstream file(std::string(EYE_SOURCE_DIR) + "/tests/fixtures/upstream_schema.sql");
    REQUIRE(file.good());
    std::ostringstream schema;
    schema << file.rdbuf();
    db.execute("CREATE EXTENSION IF NOT EXISTS vector");
    db.execute(schema.str());
    db.execute(
        "INSERT INTO users (name, email, password, created_at, updated_at) VALUES ('Ada', "
        "'ada@example.org', 'x', now(), now())");
    auto session = db.connect();
    eye::db::migrate(session, {});
}

TestDatabase::TestDatabase(bool migrated) {
    m_name = fmt::format("eye_test_{}_{}", getpid(), g_counter++);
    {
        auto conn = admin_connection();
        pqxx::nontransaction tx(conn);
        tx.exec(fmt::format("DROP DATABASE IF EXISTS {}", m_name));
        tx.exec(fmt::format("CREATE DATABASE {} TEMPLATE template0", m_name));
    }
    auto info = db::ConnInfo::parse(admin_url());
    m_url = info->with("dbname", m_name).to_string();
    if (migrated) {
        auto session = connect();
        db::migrate(session, {});
    }
}

TestDatabase::~TestDatabase() {
    try {
        auto conn = admin_connection();
        pqxx::nontransaction tx(conn);
        tx.exec(fmt::format("DROP DATABASE IF EXISTS {} WITH (FORCE)", m_name));
    } catch (const std::exception& e) {
        fmt::print(stderr, "could not drop test database {}: {}\n", m_name, e.what());
    }
}

db::Session TestDatabase::connect() const {
    db::ConnectOptions options;
    options.url = m_url;
    options.application_name = "eye-tests";
    return db::Session::connect(options);
}

std::string TestDatabase::query_value(const std::string& sql) const {
    pqxx::connection conn(m_url);
    pqxx::nontransaction tx(conn);
    tx.exec("SET TimeZone = 'UTC'");
    auto result = tx.exec(sql);
    if (result.empty() || result[0][0].is_null()) {
        return {};
    }
    return result[0][0].as<std::string>();
}

void TestDatabase::execute(const std::string& sql) const {
    pqxx::connection conn(m_url);
    pqxx::nontransaction tx(conn);
    tx.exec("SET TimeZone = 'UTC'");
    tx.exec(sql);
}

TestRole::TestRole(std::string name, std::string password, std::string attributes)
    : m_name(std::move(name)), m_password(std::move(password)) {
    auto conn = admin_connection();
    pqxx::nontransaction tx(conn);
    tx.exec(fmt::format("DROP ROLE IF EXISTS {}", m_name));
    tx.exec(fmt::format("CREATE ROLE {} LOGIN {} PASSWORD {}", m_name, attributes,
                        tx.quote(m_password)));
}

TestRole::~TestRole() {
    try {
        auto conn = admin_connection();
        pqxx::nontransaction tx(conn);
        tx.exec(fmt::format("DROP ROLE IF EXISTS {}", m_name));
    } catch (const std::exception& e) {
        fmt::print(stderr, "could not drop test role {}: {}\n", m_name, e.what());
    }
}

std::string TestRole::conninfo(const TestDatabase& db) const {
    return db::ConnInfo::parse(db.url())
        ->with("user", m_name)
        .with("password", m_password)
        .to_string();
}

}  // namespace eye::testing
