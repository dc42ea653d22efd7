// COPY's text format as eye reads it back: fields, NULLs and every escape PostgreSQL writes,
// checked against what the server itself sends for awkward values.
#include <catch2/catch.hpp>

#include "eye/db/copy_out.hpp"
#include "support/database.hpp"

using eye::db::split_copy_line;

TEST_CASE("a COPY text line splits into fields with its escapes undone") {
    std::vector<std::optional<std::string_view>> fields;
    std::vector<std::string> scratch;
    split_copy_line("1\t\\N\t\ta\\tb\\nc\\\\d\\101\t[1,2]", fields, scratch);
    REQUIRE(fields.size() == 5);
    CHECK(fields[0] == std::string_view("1"));
    CHECK_FALSE(fields[1].has_value());
    CHECK(fields[2] == std::string_view(""));
    CHECK(fields[3] == std::string_view("a\tb\nc\\dA"));
    CHECK(fields[4] == std::string_view("[1,2]"));
    split_copy_line("", fields, scratch);
    CHECK(fields.size() == 1);
}

TEST_CASE("what the server sends through COPY comes back as it was stored") {
    eye::testing::TestDatabase db(false);
    auto session = db.connect();
    eye::db::Transaction tx(session);
    const std::string awkward = "tab\there, newline\nhere, back\\slash, \"quotes\", \\N, é";
    tx.run_sql("setup", "CREATE TEMP TABLE t (id int, v text, n text)");
    tx.run_sql("setup",
               "INSERT INTO t VALUES (1, " + tx.raw().quote(awkward) + ", NULL), (2, '', 'x')");
    eye::db::CopyOut out(tx, "test", "SELECT id, v, n FROM t ORDER BY id");
    std::vector<std::optional<std::string_view>> row;
    REQUIRE(out.next(row));
    CHECK(row[1] == std::string_view(awkward));
    CHECK_FALSE(row[2].has_value());
    REQUIRE(out.next(row));
    CHECK(row[1] == std::string_view(""));
    CHECK(row[2] == std::string_view("x"));
    CHECK_FALSE(out.next(row));
}
