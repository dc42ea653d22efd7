#pragma once

#include <string>

#include "eye/db/session.hpp"

// A throwaway PostgreSQL database per test: created on the server that EYE_TEST_DATABASE_URL
// points at (scripts/test starts one), dropped when the object goes away.
namespace eye::testing {

class TestDatabase {
public:
    // Creates an empty database. With `migrated`, also runs db:migrate's migration on it.
    explicit TestDatabase(bool migrated = true);
    ~TestDatabase();
    TestDatabase(const TestDatabase&) = delete;
    TestDatabase& operator=(const TestDatabase&) = delete;

    const std::string& url() const { return m_url; }
    const std::string& name() const { return m_name; }

    // A new session on this database (UTC, like eye's default).
    db::Session connect() const;

    // Runs SQL and returns the first column of the first row as text ("" for no row or NULL).
    std::string query_value(const std::string& sql) const;
    // Runs SQL that returns nothing of interest.
    void execute(const std::string& sql) const;

private:
    std::string m_name;
    std::string m_url;
};

// A login role that exists for one test, with a password: servers that ask for one (as
// scripts/pg's do) let it in, and a test can look for that password in what eye wrote.
class TestRole {
public:
    // `attributes` as CREATE ROLE takes them ("SUPERUSER"); dropped (with what it owns in the
    // test databases) when the object goes away.
    TestRole(std::string name, std::string password, std::string attributes = {});
    ~TestRole();
    TestRole(const TestRole&) = delete;
    TestRole& operator=(const TestRole&) = delete;

    const std::string& name() const { return m_name; }
    const std::string& password() const { return m_password; }
    // `db`'s key=value connection string, logged in as this role.
    std::string conninfo(const TestDatabase& db) const;

private:
    std::string m_name;
    std::string m_password;
};

// EYE_TEST_DATABASE_URL: the server's administrative URL. Fails the test run with a hint when
// unset.
const std::string& admin_url();

// Whether the server has pgvector (the `vector` extension) available.
bool server_has_pgvector();

// Makes `db` (created without migrating) an Avinash-EYE database: pgvector,
// tests/fixtures/upstream_schema.sql and one user, then eye's schema beside it. Fails the test
// when the server has no pgvector.
void make_upstream(TestDatabase& db);

}  // namespace eye::testing
