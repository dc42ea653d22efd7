#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "eye/schedule/cron.hpp"

using eye::format_iso8601;
using eye::TimePoint;
using eye::TimeZone;
using eye::schedule::CronExpression;
using namespace std::chrono_literals;

namespace {

TimePoint utc(int year, int month, int day, int hour = 0, int minute = 0, int second = 0) {
    std::tm fields{};
    fields.tm_year = year - 1900;
    fields.tm_mon = month - 1;
    fields.tm_mday = day;
    fields.tm_hour = hour;
    fields.tm_min = minute;
    fields.tm_sec = second;
    return std::chrono::system_clock::from_time_t(timegm(&fields));
}

CronExpression cron(std::string_view text) {
    auto parsed = CronExpression::parse(text);
    INFO("expression: '" << text << "'");
    REQUIRE(parsed);
    return *parsed;
}

std::string parse_error(std::string_view text) {
    auto parsed = CronExpression::parse(text);
    INFO("expression: '" << text << "'");
    REQUIRE_FALSE(parsed);
    return parsed.error();
}

// The next `count` runs after `from`, each as ISO 8601 on `zone`'s clock.
std::vector<std::string> runs(std::string_view text, TimePoint from, int count,
                              TimeZone zone = TimeZone::utc) {
    CronExpression expression = cron(text);
    std::vector<std::string> result;
    TimePoint cursor = from;
    for (int i = 0; i < count; ++i) {
        auto next = expression.next_after(cursor, zone);
        if (!next) {
            result.emplace_back("none");
            break;
        }
        result.push_back(format_iso8601(*next, zone));
        cursor = *next;
    }
    return result;
}

std::string next_run(std::string_view text, TimePoint from, TimeZone zone = TimeZone::utc) {
    return runs(text, from, 1, zone).front();
}

std::chrono::seconds gap(std::string_view text, TimePoint from, TimeZone zone = TimeZone::utc) {
    return cron(text).longest_gap(zone, from);
}

// Sets TZ for one test and puts the old value back, so the other tests keep their zone.
class ScopedTimeZone {
public:
    explicit ScopedTimeZone(const char* zone) {
        if (const char* previous = std::getenv("TZ")) {
            m_previous = previous;
        }
        setenv("TZ", zone, 1);
        tzset();
    }
    ~ScopedTimeZone() {
        if (m_previous) {
            setenv("TZ", m_previous->c_str(), 1);
        } else {
            unsetenv("TZ");
        }
        tzset();
    }
    ScopedTimeZone(const ScopedTimeZone&) = delete;
    ScopedTimeZone& operator=(const ScopedTimeZone&) = delete;

private:
    std::optional<std::string> m_previous;
};

const TimePoint k_new_year_2026 = utc(2026, 1, 1);

}  // namespace

TEST_CASE("a star matches every minute") {
    CHECK(runs("* * * * *", utc(2026, 1, 1, 12, 0, 30), 3) ==
          std::vector<std::string>{"2026-01-01T12:01:00+00:00", "2026-01-01T12:02:00+00:00",
                                   "2026-01-01T12:03:00+00:00"});
}

TEST_CASE("a number matches only that value") {
    CHECK(runs("7 * * * *", utc(2026, 1, 1, 12, 30), 2) ==
          std::vector<std::string>{"2026-01-01T13:07:00+00:00", "2026-01-01T14:07:00+00:00"});
    CHECK(next_run("0 0 1 1 *", utc(2026, 6, 15)) == "2027-01-01T00:00:00+00:00");
}

TEST_CASE("a list matches each of its items") {
    CHECK(runs("1,15 * * * *", utc(2026, 1, 1, 12, 0), 3) ==
          std::vector<std::string>{"2026-01-01T12:01:00+00:00", "2026-01-01T12:15:00+00:00",
                                   "2026-01-01T13:01:00+00:00"});
}

TEST_CASE("a range matches both ends and everything between") {
    CHECK(runs("0 1-3 * * *", utc(2026, 1, 1), 4) ==
          std::vector<std::string>{"2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00",
                                   "2026-01-01T03:00:00+00:00", "2026-01-02T01:00:00+00:00"});
}

TEST_CASE("a step over a star counts from the field's minimum") {
    CHECK(runs("*/20 * * * *", utc(2026, 1, 1, 12, 0), 4) ==
          std::vector<std::string>{"2026-01-01T12:20:00+00:00", "2026-01-01T12:40:00+00:00",
                                   "2026-01-01T13:00:00+00:00", "2026-01-01T13:20:00+00:00"});
    CHECK(runs("0 0 */10 * *", utc(2026, 1, 1), 4) ==
          std::vector<std::string>{"2026-01-11T00:00:00+00:00", "2026-01-21T00:00:00+00:00",
                                   "2026-01-31T00:00:00+00:00", "2026-02-01T00:00:00+00:00"});
}

TEST_CASE("a step over a range stays inside the range") {
    CHECK(runs("10-50/20 * * * *", utc(2026, 1, 1, 12, 0), 4) ==
          std::vector<std::string>{"2026-01-01T12:10:00+00:00", "2026-01-01T12:30:00+00:00",
                                   "2026-01-01T12:50:00+00:00", "2026-01-01T13:10:00+00:00"});
}

TEST_CASE("a step after a single value runs from that value to the field's maximum") {
    CHECK(runs("5/15 * * * *", utc(2026, 1, 1, 12, 0), 5) ==
          std::vector<std::string>{"2026-01-01T12:05:00+00:00", "2026-01-01T12:20:00+00:00",
                                   "2026-01-01T12:35:00+00:00", "2026-01-01T12:50:00+00:00",
                                   "2026-01-01T13:05:00+00:00"});
}

TEST_CASE("lists can mix values, ranges and steps") {
    CHECK(runs("0 1,5-6,20/2 * * *", utc(2026, 1, 1), 6) ==
          std::vector<std::string>{"2026-01-01T01:00:00+00:00", "2026-01-01T05:00:00+00:00",
                                   "2026-01-01T06:00:00+00:00", "2026-01-01T20:00:00+00:00",
                                   "2026-01-01T22:00:00+00:00", "2026-01-02T01:00:00+00:00"});
}

TEST_CASE("month names work in any case, alone and in ranges") {
    CHECK(next_run("0 0 1 MAR *", k_new_year_2026) == "2026-03-01T00:00:00+00:00");
    CHECK(next_run("0 0 1 mar *", k_new_year_2026) == "2026-03-01T00:00:00+00:00");
    CHECK(runs("0 0 1 Oct-dec/2 *", k_new_year_2026, 3) ==
          std::vector<std::string>{"2026-10-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00",
                                   "2027-10-01T00:00:00+00:00"});
    CHECK(cron("0 0 1 jan,JUL *").next_after(k_new_year_2026, TimeZone::utc) ==
          cron("0 0 1 1,7 *").next_after(k_new_year_2026, TimeZone::utc));
}

TEST_CASE("weekday names work in any case and 2026-01-01 is a thursday") {
    CHECK(next_run("0 0 * * THU", utc(2025, 12, 31)) == "2026-01-01T00:00:00+00:00");
    CHECK(runs("0 9 * * mon-Fri", utc(2026, 1, 2, 12, 0), 2) ==
          std::vector<std::string>{"2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00"});
}

TEST_CASE("day-of-week 7 and 0 both mean sunday") {
    CHECK(next_run("0 0 * * 7", k_new_year_2026) == "2026-01-04T00:00:00+00:00");
    CHECK(next_run("0 0 * * 0", k_new_year_2026) == "2026-01-04T00:00:00+00:00");
    CHECK(next_run("0 0 * * SUN", k_new_year_2026) == "2026-01-04T00:00:00+00:00");
}

TEST_CASE("a weekday range may end on sunday by number or by name") {
    const std::vector<std::string> friday_to_sunday{
        "2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00", "2026-01-04T00:00:00+00:00",
        "2026-01-09T00:00:00+00:00"};
    CHECK(runs("0 0 * * 5-7", k_new_year_2026, 4) == friday_to_sunday);
    CHECK(runs("0 0 * * FRI-SUN", k_new_year_2026, 4) == friday_to_sunday);
    CHECK(runs("0 0 * * 5-0", k_new_year_2026, 4) == friday_to_sunday);
}

TEST_CASE("a day matches when either day field matches if both are restricted") {
    // Fridays in January 2026 are the 2nd, 9th, 16th; the 13th is a Tuesday.
    CHECK(runs("0 0 13 * FRI", k_new_year_2026, 4) ==
          std::vector<std::string>{"2026-01-02T00:00:00+00:00", "2026-01-09T00:00:00+00:00",
                                   "2026-01-13T00:00:00+00:00", "2026-01-16T00:00:00+00:00"});
}

TEST_CASE("a day must match both day fields if either is a plain star") {
    CHECK(runs("0 0 13 * *", k_new_year_2026, 2) ==
          std::vector<std::string>{"2026-01-13T00:00:00+00:00", "2026-02-13T00:00:00+00:00"});
    // Mondays in January 2026: the 5th, 12th, 19th.
    CHECK(runs("0 0 * 1 MON", k_new_year_2026, 3) ==
          std::vector<std::string>{"2026-01-05T00:00:00+00:00", "2026-01-12T00:00:00+00:00",
                                   "2026-01-19T00:00:00+00:00"});
}

TEST_CASE("a stepped star restricts its day field, as in cron-parser and Kubernetes") {
    // Odd days or Mondays: the 3rd, the 5th (both), the 7th, the 9th, the 11th, the 12th (Monday).
    CHECK(runs("0 0 */2 * MON", k_new_year_2026, 6) ==
          std::vector<std::string>{"2026-01-03T00:00:00+00:00", "2026-01-05T00:00:00+00:00",
                                   "2026-01-07T00:00:00+00:00", "2026-01-09T00:00:00+00:00",
                                   "2026-01-11T00:00:00+00:00", "2026-01-12T00:00:00+00:00"});
    // In February, the 29th or a Sunday: Sunday the 1st comes first.
    CHECK(next_run("0 0 29 2 */7", k_new_year_2026) == "2026-02-01T00:00:00+00:00");
}

TEST_CASE("the macros stand for their usual expressions") {
    const TimePoint from = utc(2026, 5, 17, 13, 45);
    const std::pair<std::string_view, std::string_view> macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {"@DAILY", "0 0 * * *"},
    };
    for (const auto& [macro, expansion] : macros) {
        INFO(macro);
        CHECK(runs(macro, from, 3) == runs(expansion, from, 3));
    }
    CHECK(next_run("@weekly", from) == "2026-05-24T00:00:00+00:00");
}

TEST_CASE("text gives back the expression as written") {
    CHECK(cron("@daily").text() == "@daily");
    CHECK(cron("*/5  * * * MON").text() == "*/5  * * * MON");
}

TEST_CASE("fields may be separated by several spaces or tabs") {
    CHECK(next_run(" 0\t1  * *  *  ", k_new_year_2026) == "2026-01-01T01:00:00+00:00");
}

TEST_CASE("parse names the field and the value that is out of range") {
    CHECK(parse_error("61 * * * *") == "minute field: value '61' out of range 0-59");
    CHECK(parse_error("0 24 * * *") == "hour field: value '24' out of range 0-23");
    CHECK(parse_error("0 0 0 * *") == "day-of-month field: value '0' out of range 1-31");
    CHECK(parse_error("0 0 32 * *") == "day-of-month field: value '32' out of range 1-31");
    CHECK(parse_error("0 0 * 13 *") == "month field: value '13' out of range 1-12");
    CHECK(parse_error("0 0 * * 8") == "day-of-week field: value '8' out of range 0-7");
    CHECK(parse_error("0-99999999999999999999 * * * *") ==
          "minute field: value '99999999999999999999' out of range 0-59");
}

TEST_CASE("parse refuses the wrong number of fields and quotes the expression") {
    CHECK(parse_error("*/5 * * *") == "expected 5 fields, got 4 in '*/5 * * *'");
    CHECK(parse_error("0 */5 * * * *") == "expected 5 fields, got 6 in '0 */5 * * * *'");
    CHECK(parse_error("") == "expected 5 fields, got 0 in ''");
}

TEST_CASE("parse refuses words that are not values of the field") {
    CHECK(parse_error("x * * * *") == "minute field: invalid value 'x' (use 0-59)");
    CHECK(parse_error("0 0 * JANUARY *") ==
          "month field: invalid value 'JANUARY' (use 1-12 or JAN-DEC)");
    CHECK(parse_error("0 0 * * MONDAY") ==
          "day-of-week field: invalid value 'MONDAY' (use 0-7 or SUN-SAT)");
    CHECK(parse_error("0 0 MON * *") == "day-of-month field: invalid value 'MON' (use 1-31)");
    CHECK(parse_error("0 0 ? * MON") == "day-of-month field: invalid value '?' (use 1-31)");
    CHECK(parse_error("0 0 L * *") == "day-of-month field: invalid value 'L' (use 1-31)");
}

TEST_CASE("parse refuses malformed ranges, steps and lists") {
    CHECK(parse_error("0 5-1 * * *") == "hour field: range '5-1' runs backwards");
    CHECK(parse_error("0 0 * DEC-JAN *") == "month field: range 'DEC-JAN' runs backwards");
    CHECK(parse_error("-5 * * * *") == "minute field: invalid range '-5'");
    CHECK(parse_error("1- * * * *") == "minute field: invalid range '1-'");
    CHECK(parse_error("*/0 * * * *") == "minute field: step '0' out of range 1-59");
    CHECK(parse_error("*/60 * * * *") == "minute field: step '60' out of range 1-59");
    CHECK(parse_error("*/x * * * *") == "minute field: invalid step 'x' in '*/x'");
    CHECK(parse_error("*/ * * * *") == "minute field: invalid step '' in '*/'");
    CHECK(parse_error("1/2/3 * * * *") == "minute field: invalid step '2/3' in '1/2/3'");
    CHECK(parse_error("1,,2 * * * *") == "minute field: empty list item in '1,,2'");
    CHECK(parse_error("0 1, * * *") == "hour field: empty list item in '1,'");
    CHECK(parse_error("*-5 * * * *") == "minute field: invalid value '*' (use 0-59)");
}

TEST_CASE("parse refuses @reboot, unknown macros and macros with extra words") {
    CHECK(parse_error("@reboot") ==
          "cron macro '@reboot' is not supported: eye runs tasks at times of day, not at boot");
    CHECK(parse_error("@fortnightly") ==
          "unknown cron macro '@fortnightly' (use @yearly, @annually, @monthly, @weekly, "
          "@daily, @midnight or @hourly)");
    CHECK(parse_error("@daily eye-monitor") == "cron macro '@daily' must stand alone, got 2 words");
}

TEST_CASE("next_after is strictly after its argument, even on a run or between seconds") {
    CHECK(next_run("0 * * * *", utc(2026, 1, 1, 12, 0)) == "2026-01-01T13:00:00+00:00");
    CHECK(next_run("0 * * * *", utc(2026, 1, 1, 11, 59, 59)) == "2026-01-01T12:00:00+00:00");
    auto expression = cron("0 * * * *");
    auto half_second_before = utc(2026, 1, 1, 12, 0) - 500ms;
    CHECK(expression.next_after(half_second_before, TimeZone::utc) == utc(2026, 1, 1, 12, 0));
    CHECK(expression.next_after(utc(2026, 1, 1, 12, 0) + 1ns, TimeZone::utc) ==
          utc(2026, 1, 1, 13, 0));
}

TEST_CASE("next_after crosses hour, day, month and year ends") {
    CHECK(next_run("0 */6 * * *", utc(2026, 1, 31, 23, 0)) == "2026-02-01T00:00:00+00:00");
    CHECK(next_run("30 23 * * *", utc(2026, 12, 31, 23, 45)) == "2027-01-01T23:30:00+00:00");
    CHECK(next_run("0 0 1 * *", utc(2026, 12, 15)) == "2027-01-01T00:00:00+00:00");
    CHECK(next_run("59 23 31 12 *", utc(2026, 12, 31, 23, 59)) == "2027-12-31T23:59:00+00:00");
}

TEST_CASE("next_after skips months too short for the day") {
    CHECK(runs("0 0 31 * *", k_new_year_2026, 3) ==
          std::vector<std::string>{"2026-01-31T00:00:00+00:00", "2026-03-31T00:00:00+00:00",
                                   "2026-05-31T00:00:00+00:00"});
    CHECK(next_run("0 0 30 * *", utc(2026, 1, 31)) == "2026-03-30T00:00:00+00:00");
}

TEST_CASE("february 29th runs only in leap years, and not in 2100") {
    CHECK(next_run("0 0 29 2 *", k_new_year_2026) == "2028-02-29T00:00:00+00:00");
    CHECK(next_run("0 0 29 2 *", utc(2028, 2, 29)) == "2032-02-29T00:00:00+00:00");
    CHECK(next_run("0 0 29 2 *", utc(2097, 1, 1)) == "2104-02-29T00:00:00+00:00");
    CHECK(next_run("0 0 * 2 *", utc(2028, 2, 28, 12, 0)) == "2028-02-29T00:00:00+00:00");
}

TEST_CASE("an impossible expression has no next run and says so quickly") {
    for (std::string_view text : {"0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30-31 2 *"}) {
        INFO(text);
        auto expression = cron(text);
        auto started = std::chrono::steady_clock::now();
        CHECK_FALSE(expression.next_after(k_new_year_2026, TimeZone::utc));
        CHECK_FALSE(expression.next_after(k_new_year_2026, TimeZone::local));
        CHECK(expression.longest_gap(TimeZone::utc, k_new_year_2026) == 0s);
        CHECK(std::chrono::steady_clock::now() - started < 200ms);
    }
}

TEST_CASE("next_after gives no run beyond the range of the time point") {
    CHECK_FALSE(cron("* * * * *").next_after(TimePoint::max(), TimeZone::utc));
    CHECK_FALSE(cron("0 0 1 1 *").next_after(utc(2262, 2, 1), TimeZone::utc));
}

TEST_CASE("the seed schedules have the expected longest gaps") {
    const TimePoint from = utc(2026, 11, 27, 17, 3, 20);
    CHECK(gap("*/5 * * * *", from) == 5min);
    CHECK(gap("0 1 * * *", from) == 24h);
    CHECK(gap("0 2 * * *", from) == 24h);
    CHECK(gap("0 */6 * * *", from) == 6h);
    CHECK(gap("0 3 * * 0", from) == 7 * 24h);
}

TEST_CASE("longest_gap covers a whole cycle, not just the next few runs") {
    // From Monday morning the next eight runs are an hour apart; the weekend is the real gap.
    CHECK(gap("0 9-17 * * 1-5", utc(2026, 1, 5, 8, 0)) == 64h);
    CHECK(gap("0,10 * * * *", utc(2026, 1, 5, 8, 0)) == 50min);
    // From January the 31sts run Jan, Mar, May, Jul, Aug, Oct, Dec: at most 61 days apart.
    CHECK(gap("0 0 31 * *", k_new_year_2026) == 61 * 24h);
    // Nov 30 23:59 to Jan 1 00:00; a minute-by-minute schedule over a year must stay cheap.
    auto started = std::chrono::steady_clock::now();
    CHECK(gap("* * * 1-11 *", k_new_year_2026) == 31 * 24h + 1min);
    CHECK(std::chrono::steady_clock::now() - started < 5s);
}

TEST_CASE("longest_gap reaches across years for rare schedules") {
    CHECK(gap("0 0 29 2 *", k_new_year_2026) == 1461 * 24h);
    // 2100 is not a leap year.
    CHECK(gap("0 0 29 2 *", utc(2090, 1, 1)) == 2921 * 24h);
    CHECK(gap("@yearly", k_new_year_2026) == 366 * 24h);
}

TEST_CASE("in berlin a time skipped by the spring change runs an hour later") {
    ScopedTimeZone berlin("Europe/Berlin");
    // 2026-03-29: 02:00 CET jumps to 03:00 CEST. A daily 02:30 runs at 03:30 that night.
    CHECK(runs("30 2 * * *", utc(2026, 3, 27, 12, 0), 3, TimeZone::local) ==
          std::vector<std::string>{"2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00",
                                   "2026-03-30T02:30:00+02:00"});
    // ... once, when 03:30 is due anyway
    CHECK(runs("30 2-3 * * *", utc(2026, 3, 28, 12, 0), 3, TimeZone::local) ==
          std::vector<std::string>{"2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00",
                                   "2026-03-30T03:30:00+02:00"});
    // A schedule of every hour keeps to the real clock: the skipped minutes just do not come.
    CHECK(runs("*/30 * * * *", utc(2026, 3, 29, 0, 15), 3, TimeZone::local) ==
          std::vector<std::string>{"2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00",
                                   "2026-03-29T03:30:00+02:00"});
    CHECK(gap("30 2 * * *", utc(2026, 3, 25), TimeZone::local) == 24h);
    CHECK(gap("0 1 * * *", utc(2026, 3, 25), TimeZone::local) == 24h);
    CHECK(gap("0 3 * * *", utc(2026, 3, 25), TimeZone::local) == 24h);
    CHECK(gap("0 * * * *", utc(2026, 3, 28, 12), TimeZone::local) == 1h);
}

TEST_CASE("in berlin a time repeated by the autumn change runs once unless every hour runs") {
    ScopedTimeZone berlin("Europe/Berlin");
    // 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:00-02:59 happens twice.
    CHECK(runs("30 2 * * *", utc(2026, 10, 24, 12, 0), 2, TimeZone::local) ==
          std::vector<std::string>{"2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"});
    CHECK(runs("*/20 2 * * *", utc(2026, 10, 24, 12, 0), 4, TimeZone::local) ==
          std::vector<std::string>{"2026-10-25T02:00:00+02:00", "2026-10-25T02:20:00+02:00",
                                   "2026-10-25T02:40:00+02:00", "2026-10-26T02:00:00+01:00"});
    // An hourly schedule runs every real hour, 25 times that day.
    CHECK(runs("0 * * * *", utc(2026, 10, 24, 23, 30), 3, TimeZone::local) ==
          std::vector<std::string>{"2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00",
                                   "2026-10-25T03:00:00+01:00"});
    // From the first 02:30, the second 02:00 comes before 03:00.
    CHECK(next_run("0 * * * *", utc(2026, 10, 25, 0, 30), TimeZone::local) ==
          "2026-10-25T02:00:00+01:00");
    CHECK(next_run("*/15 * * * *", utc(2026, 10, 25, 1, 10), TimeZone::local) ==
          "2026-10-25T02:15:00+01:00");
    CHECK(gap("0 1 * * *", utc(2026, 10, 20), TimeZone::local) == 25h);
    CHECK(gap("0 1 * * *", utc(2026, 10, 20), TimeZone::utc) == 24h);
    CHECK(gap("30 2 * * *", utc(2026, 10, 20), TimeZone::local) == 25h);
    CHECK(gap("*/15 * * * *", utc(2026, 10, 24, 23, 30), TimeZone::local) == 15min);
}

TEST_CASE("in new york the changes come at 02:00 local on other sundays") {
    ScopedTimeZone new_york("America/New_York");
    // 2026-03-08: 02:00 EST jumps to 03:00 EDT; 2026-11-01: 02:00 EDT falls back to 01:00 EST.
    CHECK(runs("0 2 * * *", utc(2026, 3, 7), 3, TimeZone::local) ==
          std::vector<std::string>{"2026-03-07T02:00:00-05:00", "2026-03-08T03:00:00-04:00",
                                   "2026-03-09T02:00:00-04:00"});
    CHECK(runs("30 1-2 * * *", utc(2026, 10, 31, 12), 4, TimeZone::local) ==
          std::vector<std::string>{"2026-11-01T01:30:00-04:00", "2026-11-01T02:30:00-05:00",
                                   "2026-11-02T01:30:00-05:00", "2026-11-02T02:30:00-05:00"});
}

TEST_CASE("local schedules follow the zone's wall clock") {
    ScopedTimeZone berlin("Europe/Berlin");
    auto next = cron("0 2 * * *").next_after(utc(2026, 11, 27, 12, 0), TimeZone::local);
    REQUIRE(next);
    CHECK(*next == utc(2026, 11, 28, 1, 0));
    CHECK(format_iso8601(*next, TimeZone::utc) == "2026-11-28T01:00:00+00:00");
}

TEST_CASE("format_iso8601 writes utc with a zero offset and drops fractions of a second") {
    CHECK(format_iso8601(utc(2026, 11, 28, 2, 0), TimeZone::utc) == "2026-11-28T02:00:00+00:00");
    CHECK(format_iso8601(utc(1999, 12, 31, 23, 59, 59) + 999ms, TimeZone::utc) ==
          "1999-12-31T23:59:59+00:00");
}

TEST_CASE("format_iso8601 writes local time with the offset in force at that instant") {
    {
        ScopedTimeZone berlin("Europe/Berlin");
        CHECK(format_iso8601(utc(2026, 1, 15, 12, 0), TimeZone::local) ==
              "2026-01-15T13:00:00+01:00");
        CHECK(format_iso8601(utc(2026, 7, 15, 12, 0), TimeZone::local) ==
              "2026-07-15T14:00:00+02:00");
    }
    {
        ScopedTimeZone new_york("America/New_York");
        CHECK(format_iso8601(utc(2026, 1, 15, 12, 0), TimeZone::local) ==
              "2026-01-15T07:00:00-05:00");
    }
    {
        ScopedTimeZone kolkata("Asia/Kolkata");
        CHECK(format_iso8601(utc(2026, 1, 15, 12, 0), TimeZone::local) ==
              "2026-01-15T17:30:00+05:30");
    }
    {
        // Berlin kept local mean time until 1893.
        ScopedTimeZone berlin("Europe/Berlin");
        CHECK(format_iso8601(utc(1890, 6, 1, 12, 0), TimeZone::local) ==
              "1890-06-01T12:53:28+00:53:28");
    }
}
