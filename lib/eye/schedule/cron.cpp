#include "eye/schedule/cron.hpp"

#include <algorithm>
#include <cstdint>
#include <ctime>

// The times a cron expression names, on a time zone's wall clock, across daylight-saving
// changes; cron_parse.cpp reads the expression.
namespace eye::schedule {
namespace {

using detail::CronFields;

constexpr std::int64_t k_seconds_per_day = 86'400;
constexpr std::int64_t k_seconds_per_hour = 3'600;
// The Gregorian calendar, weekdays included, repeats every 400 years: a schedule that has not
// matched in that long never will.
constexpr int k_gregorian_cycle_years = 400;
constexpr int k_min_gaps = 8;
// No daylight-saving change moves the wall clock by more than this (most move it one hour).
constexpr std::int64_t k_largest_dst_shift = 3 * k_seconds_per_hour;

// A minute on a wall clock; which clock is up to the caller.
struct CivilMinute {
    int year;
    int month;  // 1-12
    int day;    // 1-31
    int hour;
    int minute;
};

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t quotient = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient;
}

bool is_leap_year(int year) {
    return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

int days_in_month(int year, int month) {
    constexpr int k_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap_year(year) ? 29 : k_days[month - 1];
}

// Days since 1970-01-01. Years are counted from March so that the leap day is the last day of a
// counting year and every month before it has a fixed offset.
std::int64_t days_since_epoch(int year, int month, int day) {
    constexpr std::int64_t k_days_from_year_0_march_to_epoch = 719'468;
    const std::int64_t march_year = month <= 2 ? year - 1 : year;
    const int months_since_march = month <= 2 ? month + 9 : month - 3;
    const std::int64_t leap_days =
        floor_div(march_year, 4) - floor_div(march_year, 100) + floor_div(march_year, 400);
    const int day_of_march_year = (153 * months_since_march + 2) / 5 + day - 1;
    return march_year * 365 + leap_days + day_of_march_year - k_days_from_year_0_march_to_epoch;
}

// 0 = Sunday.
int weekday(int year, int month, int day) {
    constexpr std::int64_t k_epoch_weekday = 4;  // 1970-01-01 was a Thursday
    std::int64_t days = days_since_epoch(year, month, day) + k_epoch_weekday;
    return static_cast<int>(days - 7 * floor_div(days, 7));
}

// The civil fields read as if they were UTC.
std::int64_t seconds_as_utc(const CivilMinute& civil) {
    return days_since_epoch(civil.year, civil.month, civil.day) * k_seconds_per_day +
           civil.hour * k_seconds_per_hour + civil.minute * 60;
}

std::optional<CivilMinute> civil_of(std::int64_t epoch_seconds, TimeZone zone) {
    auto fields = calendar_time(epoch_seconds, zone);
    if (!fields) {
        return std::nullopt;
    }
    return CivilMinute{fields->tm_year + 1900, fields->tm_mon + 1, fields->tm_mday, fields->tm_hour,
                       fields->tm_min};
}

// The UTC offset of the local clock at `epoch_seconds`, in seconds east of UTC.
std::optional<std::int64_t> local_offset(std::int64_t epoch_seconds) {
    auto fields = calendar_time(epoch_seconds, TimeZone::local);
    if (!fields) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(fields->tm_gmtoff);
}

// The instants at which the local wall clock shows `civil`: none in a DST gap, two in a repeated
// hour. A zone changes its offset at most once within a day either side, so the offsets a day
// before and a day after are the only ones that can apply.
struct Readings {
    std::optional<std::int64_t> earliest;
    std::optional<std::int64_t> latest;
    std::int64_t offset_before = 0;  // the offset in force before a change near `civil`
};

Readings local_readings(const CivilMinute& civil) {
    const std::int64_t naive = seconds_as_utc(civil);
    Readings readings;
    auto before = local_offset(naive - k_seconds_per_day);
    auto after = local_offset(naive + k_seconds_per_day);
    if (!before || !after) {
        return readings;
    }
    readings.offset_before = *before;
    for (std::int64_t offset : {*before, *after}) {
        std::int64_t instant = naive - offset;
        auto shown = civil_of(instant, TimeZone::local);
        if (!shown || seconds_as_utc(*shown) != naive) {
            continue;
        }
        if (!readings.earliest || instant < *readings.earliest) {
            readings.earliest = instant;
        }
        if (!readings.latest || instant > *readings.latest) {
            readings.latest = instant;
        }
    }
    return readings;
}

std::int64_t last_representable_second() {
    return std::chrono::floor<std::chrono::seconds>(TimePoint::max().time_since_epoch()).count();
}

// No search needs to go past the year after the last one a TimePoint can hold.
int last_year_to_search(int from_year) {
    static const int k_last_useful_year =
        civil_of(last_representable_second(), TimeZone::utc).value().year + 1;
    return std::min(from_year + k_gregorian_cycle_years, k_last_useful_year);
}

bool day_matches(const CronFields& fields, int year, int month, int day) {
    bool by_day_of_month = fields.days_of_month[static_cast<std::size_t>(day)];
    bool by_day_of_week = fields.days_of_week[static_cast<std::size_t>(weekday(year, month, day))];
    return fields.either_day_field ? (by_day_of_month || by_day_of_week)
                                   : (by_day_of_month && by_day_of_week);
}

CivilMinute minute_after(CivilMinute civil) {
    if (++civil.minute < 60) {
        return civil;
    }
    civil.minute = 0;
    if (++civil.hour < 24) {
        return civil;
    }
    civil.hour = 0;
    if (++civil.day <= days_in_month(civil.year, civil.month)) {
        return civil;
    }
    civil.day = 1;
    if (++civil.month <= 12) {
        return civil;
    }
    civil.month = 1;
    ++civil.year;
    return civil;
}

// The first matching wall-clock minute after `after`, up to the end of `last_year`. Whole months,
// days and hours that cannot match are skipped without looking at their minutes.
std::optional<CivilMinute> next_matching_minute(const CronFields& fields, CivilMinute after,
                                                int last_year) {
    CivilMinute start = minute_after(after);
    int month = start.month;
    int day = start.day;
    int hour = start.hour;
    int minute = start.minute;
    for (int year = start.year; year <= last_year;
         ++year, month = 1, day = 1, hour = 0, minute = 0) {
        for (; month <= 12; ++month, day = 1, hour = 0, minute = 0) {
            if (!fields.months[static_cast<std::size_t>(month)]) {
                continue;
            }
            int month_length = days_in_month(year, month);
            for (; day <= month_length; ++day, hour = 0, minute = 0) {
                if (!day_matches(fields, year, month, day)) {
                    continue;
                }
                for (; hour < 24; ++hour, minute = 0) {
                    if (!fields.hours[static_cast<std::size_t>(hour)]) {
                        continue;
                    }
                    for (; minute < 60; ++minute) {
                        if (fields.minutes[static_cast<std::size_t>(minute)]) {
                            return CivilMinute{year, month, day, hour, minute};
                        }
                    }
                }
            }
        }
    }
    return std::nullopt;
}

template <std::size_t N>
int highest_value(const std::bitset<N>& values) {
    for (std::size_t i = N; i-- > 0;) {
        if (values[i]) {
            return static_cast<int>(i);
        }
    }
    return 0;
}

// The one UTC offset that holds for every run on `first`'s day, or nullopt when the day has a DST
// change between its first and last run, so that each run must be converted on its own. Assumes a
// zone changes its offset at most once a day.
std::optional<std::int64_t> offset_for_the_day(const CronFields& fields, const CivilMinute& first) {
    CivilMinute last{first.year, first.month, first.day, highest_value(fields.hours),
                     highest_value(fields.minutes)};
    auto first_instant = local_readings(first).earliest;
    auto last_instant = local_readings(last).earliest;
    if (!first_instant || !last_instant) {
        return std::nullopt;
    }
    std::int64_t first_offset = seconds_as_utc(first) - *first_instant;
    std::int64_t last_offset = seconds_as_utc(last) - *last_instant;
    return first_offset == last_offset ? std::optional<std::int64_t>(first_offset) : std::nullopt;
}

// How far the runs must reach for their gaps to repeat: set by the coarsest restricted field.
std::int64_t cycle_seconds(const CronFields& fields) {
    if (fields.months.count() < 12 || fields.days_of_month.count() < 31) {
        return 366 * k_seconds_per_day;
    }
    if (fields.days_of_week.count() < 7) {
        return 7 * k_seconds_per_day;
    }
    if (fields.hours.count() < 24) {
        return k_seconds_per_day;
    }
    return k_seconds_per_hour;
}

}  // namespace

std::optional<TimePoint> CronExpression::next_after(TimePoint after, TimeZone zone) const {
    const std::int64_t after_seconds =
        std::chrono::floor<std::chrono::seconds>(after.time_since_epoch()).count();
    auto shown = civil_of(after_seconds, zone);
    if (!shown) {
        return std::nullopt;
    }
    const int last_year = last_year_to_search(shown->year);
    auto within_range = [](std::int64_t instant) -> std::optional<TimePoint> {
        if (instant > last_representable_second()) {
            return std::nullopt;
        }
        return TimePoint(std::chrono::seconds(instant));
    };

    if (zone == TimeZone::utc) {
        auto candidate = next_matching_minute(m_fields, *shown, last_year);
        return candidate ? within_range(seconds_as_utc(*candidate)) : std::nullopt;
    }

    // In local time the wall clock is not monotonic: a minute before the one shown now may still
    // run later (the second pass of a repeated hour, or a skipped minute moved forward), and a
    // minute after it may run earlier than one before it. So the matching minutes from a little
    // before the wall clock's reading on are each turned into their instants, and the earliest
    // instant after `after` wins; the search ends once no later minute can beat it.
    // Away from a DST change (most of the time) that is the plain search from now on, ending at
    // the first run.
    auto steady_around = [](std::int64_t instant) {
        auto offset = local_offset(instant);
        return offset && local_offset(instant - k_largest_dst_shift) == offset &&
               local_offset(instant + k_largest_dst_shift) == offset;
    };
    const bool every_hour = m_fields.hours.all();
    auto cursor = steady_around(after_seconds)
                      ? shown
                      : civil_of(seconds_as_utc(*shown) - k_largest_dst_shift - 60, TimeZone::utc);
    std::optional<std::int64_t> best;
    std::optional<std::int64_t> best_shown;  // best's wall-clock reading, as seconds_as_utc
    while (auto candidate = next_matching_minute(m_fields, *cursor, last_year)) {
        cursor = candidate;
        const std::int64_t naive = seconds_as_utc(*candidate);
        if (best_shown && (naive > *best_shown + k_largest_dst_shift || steady_around(*best))) {
            break;
        }
        Readings readings = local_readings(*candidate);
        std::optional<std::int64_t> runs[2];
        if (every_hour) {
            // a schedule that runs every hour keeps to the real clock: a skipped minute does not
            // run, a repeated one runs twice
            runs[0] = readings.earliest;
            runs[1] = readings.latest;
        } else if (readings.earliest) {
            // a schedule of set hours runs once a day at each: a repeated minute at its first
            // pass only
            runs[0] = readings.earliest;
        } else {
            // ... and a skipped minute when the clock would have shown it, had it not been moved
            // on: 02:30 runs at 03:30 on the night the clock jumps from 02:00 to 03:00
            runs[0] = naive - readings.offset_before;
        }
        for (const auto& run : runs) {
            if (run && *run > after_seconds && (!best || *run < *best)) {
                best = *run;
                best_shown = naive;
            }
        }
    }
    return best ? within_range(*best) : std::nullopt;
}

std::chrono::seconds CronExpression::longest_gap(TimeZone zone, TimePoint from) const {
    auto first_run = next_after(from, zone);
    if (!first_run) {
        return std::chrono::seconds(0);
    }
    const std::int64_t first_seconds =
        std::chrono::floor<std::chrono::seconds>(first_run->time_since_epoch()).count();
    const std::int64_t cycle = cycle_seconds(m_fields);
    const std::int64_t last_second = last_representable_second();
    CivilMinute cursor = civil_of(first_seconds, zone).value();
    const int last_year = last_year_to_search(cursor.year);

    // Converting each run on its own would make a minute-by-minute schedule over a year slow;
    // one offset per day is enough unless DST changes that day.
    CivilMinute offset_day{0, 0, 0, 0, 0};
    std::optional<std::int64_t> day_offset;

    std::int64_t previous = first_seconds;
    std::int64_t longest = 0;
    int gaps = 0;
    while (gaps < k_min_gaps || previous - first_seconds < cycle) {
        auto candidate = next_matching_minute(m_fields, cursor, last_year);
        if (!candidate) {
            break;
        }
        cursor = *candidate;
        std::optional<std::int64_t> instant;
        if (zone == TimeZone::utc) {
            instant = seconds_as_utc(cursor);
        } else {
            if (cursor.year != offset_day.year || cursor.month != offset_day.month ||
                cursor.day != offset_day.day) {
                offset_day = cursor;
                day_offset = offset_for_the_day(m_fields, cursor);
            }
            if (day_offset) {
                instant = seconds_as_utc(cursor) - *day_offset;
            } else {
                // the day of a DST change: its runs as next_after() finds them, one by one
                auto next = next_after(TimePoint(std::chrono::seconds(previous)), zone);
                if (!next) {
                    break;
                }
                instant =
                    std::chrono::floor<std::chrono::seconds>(next->time_since_epoch()).count();
                cursor = civil_of(*instant, zone).value();
            }
        }
        if (!instant || *instant <= previous) {
            continue;
        }
        if (*instant > last_second) {
            break;
        }
        longest = std::max(longest, *instant - previous);
        ++gaps;
        previous = *instant;
    }
    return std::chrono::seconds(longest);
}

}  // namespace eye::schedule
