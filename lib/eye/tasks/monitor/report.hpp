#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "eye/core/exit_code.hpp"
#include "eye/core/time.hpp"
#include "eye/core/units.hpp"

// The monitor's findings: each check's status, message and metrics, and the repairs made.
namespace eye::tasks::monitor {

enum class Status { ok, warning, critical, unknown, skipped };

std::string_view status_name(Status status);

// Nagios' order of gravity: critical (3) beats unknown (2) beats warning (1) beats ok and
// skipped (0).
int gravity(Status status);

// The exit code of design section 4 for the overall status.
ExitCode exit_code_for(Status status);

struct Metric {
    using Value = std::variant<std::int64_t, double, std::string, bool>;
    Metric(std::string metric_name, Value metric_value)
        : name(std::move(metric_name)), value(std::move(metric_value)) {}

    std::string name;
    Value value;
    // perfdata (integers) with thresholds, for --format=nagios
    bool perfdata = false;
    std::optional<double> warn;
    std::optional<double> crit;
    // the thresholds are floors (free space): Nagios' "N:" range, alert below N
    bool floor = false;
};

Metric number(std::string name, std::int64_t value);
Metric real(std::string name, double value);
Metric text(std::string name, std::string value);
// An integer with thresholds that --format=nagios prints as perfdata.
Metric perf(std::string name, std::int64_t value, std::optional<double> warn,
            std::optional<double> crit);
// The same for a value that is bad when low: "disk_free_bytes=5000;1000:;100:".
Metric perf_floor(std::string name, std::int64_t value, double warn, double crit);

struct Check {
    explicit Check(std::string check_name, Status check_status = Status::ok,
                   std::string check_message = {})
        : name(std::move(check_name)), status(check_status), message(std::move(check_message)) {}

    std::string name;
    Status status;
    std::string message;
    std::vector<Metric> metrics;
};

struct Fix {
    explicit Fix(std::string fix_name) : name(std::move(fix_name)) {}

    std::string name;
    std::int64_t count = 0;
    std::vector<Metric> details;
    // in a dry run, what the fix would do: "reset 2 stuck images and queue their analysis"
    std::string would;
};

struct Report {
    std::vector<Check> checks;
    std::vector<Fix> fixes;
};

Check make_check(std::string name, Status status, std::string message);

// The worst status of all checks.
Status overall_status(const Report& report);

// "1 image", "3 images".
std::string plural(std::int64_t count, std::string_view one, std::string_view many);

inline TimePoint minus(TimePoint at, Milliseconds amount) {
    return at - amount;
}

}  // namespace eye::tasks::monitor
