#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

#include "eye/core/time.hpp"

namespace eye::schedule {

namespace detail {

// A parsed cron expression: bit i set means value i matches.
struct CronFields {
    std::bitset<60> minutes;
    std::bitset<24> hours;
    std::bitset<32> days_of_month;  // bits 1-31
    std::bitset<13> months;         // bits 1-12
    std::bitset<7> days_of_week;    // 0 = Sunday; a 7 in the text is folded onto 0
    // Vixie cron: when both day fields are restricted (neither starts with '*') a day matches if
    // either field does; otherwise both must.
    bool either_day_field = false;
};

}  // namespace detail

// A standard 5-field cron expression: "minute hour day-of-month month day-of-week".
class CronExpression {
public:
    // Parses `text`. Each field takes '*', numbers, lists ("1,15"), ranges ("1-5") and steps
    // ("*/5", "10-50/20", and "5/15" meaning "5-max/15"). Ranges run upwards only, except that a
    // day-of-week range may end on Sunday ("FRI-SUN", "5-0"). The month field also takes JAN-DEC
    // and the day-of-week field SUN-SAT (both case-insensitive); day-of-week 7 is Sunday.
    // The macros @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly stand for
    // their usual expressions; @reboot is refused. Fields are separated by spaces or tabs.
    // Impossible expressions such as "0 0 30 2 *" parse; next_after() then finds no run.
    // The error is one line that names the field and quotes the value, e.g.
    // "minute field: value '61' out of range 0-59" or "expected 5 fields, got 4 in '*/5 * * *'".
    static tl::expected<CronExpression, std::string> parse(std::string_view text);

    // The expression exactly as it was given to parse() ("@daily" stays "@daily").
    std::string text() const { return m_text; }

    // Which values of each field match, for writing the schedule in another notation (systemd's
    // OnCalendar).
    const detail::CronFields& fields() const { return m_fields; }

    // The first whole minute that matches strictly after `after`, read on `zone`'s clock.
    // nullopt when no minute ever matches ("0 0 30 2 *") or the next one lies beyond what TimePoint
    // can hold (the year 2262); finding that out is cheap. In local time a minute that a DST change
    // skips does not run at all, and a minute that a DST change repeats runs once, at its first
    // occurrence.
    std::optional<TimePoint> next_after(TimePoint after, TimeZone zone) const;

    // The longest interval between consecutive runs after `from`, for deciding that a task "has not
    // succeeded within twice its period". Looks at the runs that actually follow `from` (so in
    // local time a DST change inside the window shows, e.g. 25h for a daily task): at least 8
    // intervals, and enough of them to cover one full cycle of the schedule (an hour, a day, a
    // week, or a year when the month or day-of-month field is restricted), so "0 9-17 * * 1-5"
    // gives the weekend's 64h rather than 1h. Zero when fewer than two runs remain before the end
    // of TimePoint's range.
    std::chrono::seconds longest_gap(TimeZone zone, TimePoint from) const;

private:
    CronExpression(std::string text, detail::CronFields fields)
        : m_text(std::move(text)), m_fields(fields) {}

    std::string m_text;
    detail::CronFields m_fields;
};

}  // namespace eye::schedule
