#include "eye/core/time.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace eye {
namespace {

std::int64_t whole_seconds(TimePoint at) {
    return std::chrono::floor<std::chrono::seconds>(at.time_since_epoch()).count();
}

std::tm calendar_or_throw(std::int64_t epoch_seconds, TimeZone zone) {
    auto fields = calendar_time(epoch_seconds, zone);
    if (!fields) {
        throw std::out_of_range(fmt::format(
            "cannot convert '{}' seconds since the epoch to a calendar time", epoch_seconds));
    }
    return *fields;
}

std::string date_and_time(const std::tm& fields) {
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", fields.tm_year + 1900,
                       fields.tm_mon + 1, fields.tm_mday, fields.tm_hour, fields.tm_min,
                       fields.tm_sec);
}

}  // namespace

std::optional<std::tm> calendar_time(std::int64_t epoch_seconds, TimeZone zone) {
    auto as_time_t = static_cast<std::time_t>(epoch_seconds);
    std::tm fields{};
    bool converted = zone == TimeZone::utc ? gmtime_r(&as_time_t, &fields) != nullptr
                                           : localtime_r(&as_time_t, &fields) != nullptr;
    if (!converted) {
        return std::nullopt;
    }
    return fields;
}

std::string format_iso8601(TimePoint at, TimeZone zone) {
    const std::tm fields = calendar_or_throw(whole_seconds(at), zone);
    const long offset = fields.tm_gmtoff;
    const long magnitude = offset < 0 ? -offset : offset;
    std::string text = fmt::format("{}{}{:02}:{:02}", date_and_time(fields), offset < 0 ? '-' : '+',
                                   magnitude / 3600, magnitude % 3600 / 60);
    if (magnitude % 60 != 0) {
        text += fmt::format(":{:02}", magnitude % 60);
    }
    return text;
}

std::string format_utc(TimePoint at) {
    return date_and_time(calendar_or_throw(whole_seconds(at), TimeZone::utc)) + "Z";
}

std::string format_utc_micros(TimePoint at) {
    const std::int64_t seconds = whole_seconds(at);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            at.time_since_epoch() - std::chrono::seconds(seconds))
                            .count();
    return fmt::format("{}.{:06}Z", date_and_time(calendar_or_throw(seconds, TimeZone::utc)),
                       micros);
}

TimePoint from_epoch(double seconds) {
    return TimePoint(
        std::chrono::duration_cast<TimePoint::duration>(std::chrono::duration<double>(seconds)));
}

double to_epoch(TimePoint at) {
    return std::chrono::duration<double>(at.time_since_epoch()).count();
}

}  // namespace eye
