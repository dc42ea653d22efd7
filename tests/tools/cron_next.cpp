// Prints the next due times of cron expressions, for cross-checking eye's cron against other
// implementations (tests/npm/cron_crosscheck.js). One request per line on stdin:
//   ZONE <tab> EPOCH_SECONDS <tab> COUNT <tab> EXPRESSION
// ZONE is a tz database name read as the local zone, or "utc" for eye's UTC path. One answer per
// line on stdout: the COUNT next times as epoch seconds separated by spaces (fewer when the
// schedule ends), or "error: " and the parse error.
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <sstream>
#include <string>

#include "eye/schedule/cron.hpp"

int main() {
    std::string current_zone;
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream fields(line);
        std::string zone;
        std::string epoch;
        std::string count;
        std::string expression;
        std::getline(fields, zone, '\t');
        std::getline(fields, epoch, '\t');
        std::getline(fields, count, '\t');
        std::getline(fields, expression);
        eye::TimeZone kind = zone == "utc" ? eye::TimeZone::utc : eye::TimeZone::local;
        if (kind == eye::TimeZone::local && zone != current_zone) {
            setenv("TZ", zone.c_str(), 1);
            tzset();
            current_zone = zone;
        }
        auto cron = eye::schedule::CronExpression::parse(expression);
        if (!cron) {
            std::cout << "error: " << cron.error() << '\n';
            continue;
        }
        eye::TimePoint at{std::chrono::seconds(std::stoll(epoch))};
        std::string out;
        for (int i = 0; i < std::stoi(count); ++i) {
            auto next = cron->next_after(at, kind);
            if (!next) {
                break;
            }
            at = *next;
            auto seconds = std::chrono::duration_cast<std::chrono::seconds>(at.time_since_epoch());
            out += (out.empty() ? "" : " ") + std::to_string(seconds.count());
        }
        std::cout << out << '\n';
    }
    return 0;
}
