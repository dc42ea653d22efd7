// Prints the systemd OnCalendar= values eye writes for cron expressions, for checking them with
// `systemd-analyze calendar` (tests/schedule/check_systemd). One expression per line on stdin;
// one answer per line on stdout: the values separated by '|', or "error: " and the parse error.
#include <iostream>
#include <string>

#include "eye/schedule/cron.hpp"
#include "eye/schedule/export.hpp"

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        auto cron = eye::schedule::CronExpression::parse(line);
        if (!cron) {
            std::cout << "error: " << cron.error() << '\n';
            continue;
        }
        std::string out;
        for (const auto& value : eye::schedule::systemd_calendar(*cron)) {
            out += (out.empty() ? "" : "|") + value;
        }
        std::cout << out << '\n';
    }
    return 0;
}
