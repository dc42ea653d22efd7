#include "eye/schedule/cron.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <vector>

#include <fmt/format.h>

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

constexpr std::string_view k_month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                              "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::string_view k_weekday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct FieldSpec {
    std::string_view name;
    int min;
    int max;
    const std::string_view* names;  // names[0] stands for `min`; nullptr when the field has none
    int name_count;
    bool range_may_end_on_sunday;  // "FRI-SUN" reads as "FRI-7"
};

constexpr FieldSpec k_fields[] = {
    {"minute", 0, 59, nullptr, 0, false},
    {"hour", 0, 23, nullptr, 0, false},
    {"day-of-month", 1, 31, nullptr, 0, false},
    {"month", 1, 12, k_month_names, 12, false},
    {"day-of-week", 0, 7, k_weekday_names, 7, true},
};

struct Macro {
    std::string_view name;
    std::string_view expansion;
};

constexpr Macro k_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t position = 0;
    while (position < text.size()) {
        while (position < text.size() && is_blank(text[position])) {
            ++position;
        }
        std::size_t end = position;
        while (end < text.size() && !is_blank(text[end])) {
            ++end;
        }
        if (end > position) {
            words.push_back(text.substr(position, end - position));
        }
        position = end;
    }
    return words;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
}

// Digits only; nullopt on anything else, and `too_big` for numbers that overflow an int.
std::optional<int> read_number(std::string_view text, int too_big) {
    if (!all_digits(text)) {
        return std::nullopt;
    }
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc::result_out_of_range) {
        return too_big;
    }
    return value;
}

tl::expected<int, std::string> parse_value(std::string_view token, const FieldSpec& field) {
    if (auto number = read_number(token, field.max + 1)) {
        if (*number < field.min || *number > field.max) {
            return tl::make_unexpected(fmt::format("{} field: value '{}' out of range {}-{}",
                                                   field.name, token, field.min, field.max));
        }
        return *number;
    }
    for (int i = 0; i < field.name_count; ++i) {
        if (equals_ignoring_case(token, field.names[i])) {
            return field.min + i;
        }
    }
    std::string names_hint;
    if (field.names != nullptr) {
        names_hint = fmt::format(" or {}-{}", field.names[0], field.names[field.name_count - 1]);
    }
    return tl::make_unexpected(fmt::format("{} field: invalid value '{}' (use {}-{}{})", field.name,
                                           token, field.min, field.max, names_hint));
}

tl::expected<void, std::string> parse_item(std::string_view item, const FieldSpec& field,
                                           std::uint64_t& allowed) {
    std::string_view base = item;
    int step = 1;
    bool has_step = false;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
        base = item.substr(0, slash);
        std::string_view step_text = item.substr(slash + 1);
        auto number = read_number(step_text, field.max + 1);
        if (!number) {
            return tl::make_unexpected(
                fmt::format("{} field: invalid step '{}' in '{}'", field.name, step_text, item));
        }
        if (*number < 1 || *number > field.max - field.min) {
            return tl::make_unexpected(fmt::format("{} field: step '{}' out of range 1-{}",
                                                   field.name, step_text, field.max - field.min));
        }
        step = *number;
        has_step = true;
    }

    int first = field.min;
    int last = field.max;
    if (base == "*") {
        // the whole range
    } else if (auto dash = base.find('-'); dash != std::string_view::npos) {
        std::string_view start_text = base.substr(0, dash);
        std::string_view end_text = base.substr(dash + 1);
        if (start_text.empty() || end_text.empty()) {
            return tl::make_unexpected(
                fmt::format("{} field: invalid range '{}'", field.name, base));
        }
        auto start = parse_value(start_text, field);
        if (!start) {
            return tl::make_unexpected(start.error());
        }
        auto end = parse_value(end_text, field);
        if (!end) {
            return tl::make_unexpected(end.error());
        }
        first = *start;
        last = *end;
        // "FRI-SUN" is a natural way to write the end of the week; Sunday's other number makes it
        // an ordinary range.
        if (field.range_may_end_on_sunday && last == 0 && first > 0) {
            last = 7;
        }
        if (first > last) {
            return tl::make_unexpected(
                fmt::format("{} field: range '{}' runs backwards", field.name, base));
        }
    } else {
        auto value = parse_value(base, field);
        if (!value) {
            return tl::make_unexpected(value.error());
        }
        first = *value;
        last = has_step ? field.max : *value;
    }
    for (int value = first; value <= last; value += step) {
        allowed |= std::uint64_t{1} << value;
    }
    return {};
}

tl::expected<std::uint64_t, std::string> parse_field(std::string_view text,
                                                     const FieldSpec& field) {
    std::uint64_t allowed = 0;
    std::size_t position = 0;
    while (true) {
        std::size_t comma = text.find(',', position);
        std::string_view item = text.substr(
            position, comma == std::string_view::npos ? std::string_view::npos : comma - position);
        if (item.empty()) {
            return tl::make_unexpected(
                fmt::format("{} field: empty list item in '{}'", field.name, text));
        }
        if (auto parsed = parse_item(item, field, allowed); !parsed) {
            return tl::make_unexpected(parsed.error());
        }
        if (comma == std::string_view::npos) {
            return allowed;
        }
        position = comma + 1;
    }
}

tl::expected<std::string_view, std::string> expand_macro(std::string_view word,
                                                         std::size_t word_count) {
    if (equals_ignoring_case(word, "@reboot")) {
        return tl::make_unexpected(std::string(
            "cron macro '@reboot' is not supported: eye runs tasks at times of day, not at boot"));
    }
    for (const Macro& macro : k_macros) {
        if (equals_ignoring_case(word, macro.name)) {
            if (word_count != 1) {
                return tl::make_unexpected(fmt::format(
                    "cron macro '{}' must stand alone, got {} words", word, word_count));
            }
            return macro.expansion;
        }
    }
    return tl::make_unexpected(
        fmt::format("unknown cron macro '{}' (use @yearly, @annually, @monthly, @weekly, @daily, "
                    "@midnight or @hourly)",
                    word));
}

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

tl::expected<CronExpression, std::string> CronExpression::parse(std::string_view text) {
    std::vector<std::string_view> words = split_words(text);
    if (!words.empty() && words.front().front() == '@') {
        auto expansion = expand_macro(words.front(), words.size());
        if (!expansion) {
            return tl::make_unexpected(expansion.error());
        }
        words = split_words(*expansion);
    }
    if (words.size() != 5) {
        return tl::make_unexpected(
            fmt::format("expected 5 fields, got {} in '{}'", words.size(), text));
    }

    std::uint64_t allowed[5] = {};
    for (std::size_t i = 0; i < 5; ++i) {
        auto parsed = parse_field(words[i], k_fields[i]);
        if (!parsed) {
            return tl::make_unexpected(parsed.error());
        }
        allowed[i] = *parsed;
    }

    CronFields fields;
    fields.minutes = std::bitset<60>(allowed[0]);
    fields.hours = std::bitset<24>(allowed[1]);
    fields.days_of_month = std::bitset<32>(allowed[2]);
    fields.months = std::bitset<13>(allowed[3]);
    std::uint64_t sunday_as_7 = (allowed[4] >> 7) & 1U;
    fields.days_of_week = std::bitset<7>(allowed[4] | sunday_as_7);
    fields.either_day_field = words[2] != "*" && words[4] != "*";
    return CronExpression(std::string(text), fields);
}

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
