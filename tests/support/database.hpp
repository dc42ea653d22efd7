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

// EYE_TEST_DATABASE_URL: the server's administrative URL. Fails the test run with a hint when
// unset.
const std::string& admin_url();

// Whether the server has pgvector (the `vector` extension) available.
bool server_has_pgvector();

}  // namespace eye::testing
