#include "eye/tasks/monitor/report.hpp"

#include <fmt/format.h>

namespace eye::tasks::monitor {

std::string_view status_name(Status status) {
    switch (status) {
        case Status::ok:
            return "ok";
        case Status::warning:
            return "warning";
        case Status::critical:
            return "critical";
        case Status::unknown:
            return "unknown";
        case Status::skipped:
            return "skipped";
    }
    return "unknown";
}

int gravity(Status status) {
    switch (status) {
        case Status::critical:
            return 3;
        case Status::unknown:
            return 2;
        case Status::warning:
            return 1;
        default:
            return 0;
    }
}

ExitCode exit_code_for(Status status) {
    switch (status) {
        case Status::critical:
            return ExitCode::critical;
        case Status::unknown:
            return ExitCode::unknown;
        case Status::warning:
            return monitor_warning;
        default:
            return ExitCode::ok;
    }
}

Metric number(std::string name, std::int64_t value) {
    return {std::move(name), value};
}
Metric real(std::string name, double value) {
    return {std::move(name), value};
}
Metric text(std::string name, std::string value) {
    return {std::move(name), std::move(value)};
}
Metric perf(std::string name, std::int64_t value, std::optional<double> warn,
            std::optional<double> crit) {
    Metric metric(std::move(name), value);
    metric.perfdata = true;
    metric.warn = warn;
    metric.crit = crit;
    return metric;
}

Metric perf_floor(std::string name, std::int64_t value, double warn, double crit) {
    Metric metric = perf(std::move(name), value, warn, crit);
    metric.floor = true;
    return metric;
}

Check make_check(std::string name, Status status, std::string message) {
    return Check(std::move(name), status, std::move(message));
}

Status overall_status(const Report& report) {
    Status overall = Status::ok;
    for (const auto& check : report.checks) {
        if (gravity(check.status) > gravity(overall)) {
            overall = check.status;
        }
    }
    return overall;
}

std::string plural(std::int64_t count, std::string_view one, std::string_view many) {
    return fmt::format("{} {}", count, count == 1 ? one : many);
}
}  // namespace eye::tasks::monitor
