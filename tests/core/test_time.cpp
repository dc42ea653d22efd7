#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "eye/core/time.hpp"

using eye::format_iso8601;
using eye::format_utc;
using eye::format_utc_micros;
using eye::from_epoch;
using eye::TimePoint;
using eye::to_epoch;

namespace {

// 2026-11-28T02:00:00Z plus `micros`
TimePoint at(std::int64_t micros = 0) {
    return TimePoint(std::chrono::seconds(1'795'831'200)) + std::chrono::microseconds(micros);
}

}  // namespace

TEST_CASE("format_utc and format_iso8601 write one instant the ways eye shows it") {
    CHECK(format_utc(at()) == "2026-11-28T02:00:00Z");
    CHECK(format_iso8601(at()) == "2026-11-28T02:00:00+00:00");
    // fractions are dropped, not rounded
    CHECK(format_utc(at(999'999)) == "2026-11-28T02:00:00Z");
    CHECK(format_utc(at(-1)) == "2026-11-28T01:59:59Z");
}

TEST_CASE("format_utc_micros keeps the microseconds a timestamptz parameter needs") {
    CHECK(format_utc_micros(at()) == "2026-11-28T02:00:00.000000Z");
    CHECK(format_utc_micros(at(123'456)) == "2026-11-28T02:00:00.123456Z");
    // before a whole second: the second below and a positive fraction
    CHECK(format_utc_micros(at(-1)) == "2026-11-28T01:59:59.999999Z");
    CHECK(format_utc_micros(TimePoint(std::chrono::microseconds(-1))) ==
          "1969-12-31T23:59:59.999999Z");
}

TEST_CASE("epoch seconds convert both ways") {
    CHECK(to_epoch(at()) == 1'795'831'200.0);
    CHECK(from_epoch(1'795'831'200.5) == at(500'000));
    CHECK(format_utc(from_epoch(0)) == "1970-01-01T00:00:00Z");
}
