#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>

// Instants and how eye writes them: one module for the log's timestamps, messages, reports,
// schedules and SQL parameters.
namespace eye {

using TimePoint = std::chrono::system_clock::time_point;

// The clock a time is read on: UTC, or the process's local zone (TZ, as localtime_r and mktime
// see it; after changing TZ call tzset()).
enum class TimeZone { utc, local };

// The calendar fields of `epoch_seconds` on `zone`'s clock (tm_gmtoff holds the UTC offset), or
// nullopt when the C library cannot represent it.
std::optional<std::tm> calendar_time(std::int64_t epoch_seconds, TimeZone zone);

// "2026-11-28T02:00:00+00:00": `at` to the whole second (fractions are dropped) on `zone`'s clock,
// with that zone's real UTC offset at that instant ("+01:00" in Berlin's winter, "+02:00" in its
// summer). Historical offsets that are not whole minutes get seconds ("+00:53:28"). Throws
// std::out_of_range for an instant the C library cannot convert.
std::string format_iso8601(TimePoint at, TimeZone zone = TimeZone::utc);

// "2026-11-28T02:00:00Z": UTC to the whole second, as log lines and messages show it.
std::string format_utc(TimePoint at);

// "2026-11-28T02:00:00.123456Z": UTC to the microsecond, for timestamptz parameters.
std::string format_utc_micros(TimePoint at);

// Seconds since the epoch, as `extract(epoch from x)` gives them, and back.
TimePoint from_epoch(double seconds);
double to_epoch(TimePoint at);

}  // namespace eye
