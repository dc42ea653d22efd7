#include <catch2/catch.hpp>

#include "eye/core/units.hpp"

using eye::Milliseconds;

TEST_CASE("parse_duration reads every unit and treats a bare number as seconds") {
    CHECK(eye::parse_duration("90s").value() == Milliseconds(90'000));
    CHECK(eye::parse_duration("10m").value() == Milliseconds(600'000));
    CHECK(eye::parse_duration("2h").value() == Milliseconds(7'200'000));
    CHECK(eye::parse_duration("7d").value() == Milliseconds(604'800'000));
    CHECK(eye::parse_duration("250ms").value() == Milliseconds(250));
    CHECK(eye::parse_duration("45").value() == Milliseconds(45'000));
    CHECK(eye::parse_duration("1.5h").value() == Milliseconds(5'400'000));
    CHECK(eye::parse_duration("0").value() == Milliseconds(0));
}

TEST_CASE("parse_duration refuses negative, empty and unknown units with a reason") {
    auto negative = eye::parse_duration("-5");
    REQUIRE_FALSE(negative);
    CHECK_THAT(negative.error(), Catch::Contains("must not be negative"));
    CHECK_FALSE(eye::parse_duration(""));
    CHECK_FALSE(eye::parse_duration("abc"));
    auto unit = eye::parse_duration("10 parsecs");
    REQUIRE_FALSE(unit);
    CHECK_THAT(unit.error(), Catch::Contains("'parsecs'"));
}

TEST_CASE("format_duration gives the shortest exact spelling") {
    CHECK(eye::format_duration(Milliseconds(0)) == "0s");
    CHECK(eye::format_duration(Milliseconds(600'000)) == "10m");
    CHECK(eye::format_duration(Milliseconds(9'000'000)) == "2h30m");
    CHECK(eye::format_duration(Milliseconds(1500)) == "1500ms");
}

TEST_CASE("parse_size knows binary and decimal units") {
    CHECK(eye::parse_size("1GiB").value() == 1024ull * 1024 * 1024);
    CHECK(eye::parse_size("500MB").value() == 500'000'000ull);
    CHECK(eye::parse_size("2048").value() == 2048ull);
    CHECK(eye::parse_size("1.5k").value() == 1536ull);
    CHECK_FALSE(eye::parse_size("-1GiB"));
    CHECK_FALSE(eye::parse_size("12 furlongs"));
}
