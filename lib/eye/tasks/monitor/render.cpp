#include "eye/tasks/monitor/render.hpp"

#include <cctype>
#include <ostream>

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::tasks::monitor {
namespace {

void write_metric_value(json::Writer& w, const Metric& metric) {
    std::visit([&w](const auto& value) { w.value(value); }, metric.value);
}

std::string upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

// The messages of the checks at the overall status, and how many others are not ok either.
std::string summary_line(const Report& report, Status overall) {
    std::vector<std::string> parts;
    int others = 0;
    for (const auto& check : report.checks) {
        if (check.status == overall && overall != Status::ok) {
            parts.push_back(check.name + ": " + check.message);
        } else if (gravity(check.status) > 0) {
            ++others;
        }
    }
    if (parts.empty()) {
        return "all checks ok";
    }
    std::string line = fmt::format("{}", fmt::join(parts, "; "));
    if (others > 0) {
        line += fmt::format(" (and {} more not ok)", others);
    }
    return line;
}

// '|' would start the perfdata, a line break a second line Nagios reads as long output
std::string nagios_text(std::string text) {
    for (auto& c : text) {
        if (c == '|') {
            c = '/';
        } else if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    return text;
}

}  // namespace

std::string report_json(const Report& report, Status overall) {
    json::Writer w;
    w.begin_object();
    w.field("status", status_name(overall));
    w.key("checks");
    w.begin_array();
    for (const auto& check : report.checks) {
        w.begin_object();
        w.field("name", check.name);
        w.field("status", status_name(check.status));
        w.field("message", check.message);
        w.key("metrics");
        w.begin_object();
        for (const auto& metric : check.metrics) {
            w.key(metric.name);
            write_metric_value(w, metric);
        }
        w.end_object();
        w.end_object();
    }
    w.end_array();
    w.key("fixes");
    w.begin_array();
    for (const auto& fix : report.fixes) {
        w.begin_object();
        w.field("name", fix.name);
        w.field("count", fix.count);
        for (const auto& detail : fix.details) {
            w.key(detail.name);
            write_metric_value(w, detail);
        }
        w.end_object();
    }
    w.end_array();
    w.end_object();
    return w.take();
}

std::string nagios_line(const Report& report, Status overall) {
    std::string perfdata;
    for (const auto& check : report.checks) {
        for (const auto& metric : check.metrics) {
            if (!metric.perfdata) {
                continue;
            }
            auto value = std::get<std::int64_t>(metric.value);
            auto threshold = [&metric](const std::optional<double>& limit) {
                return limit ? fmt::format("{}{}", *limit, metric.floor ? ":" : "") : std::string();
            };
            std::string name = metric.name;
            if (name == "latency_ms") {
                name = check.name + "_latency_ms";
            }
            perfdata += fmt::format(" {}={};{};{}", name, value, threshold(metric.warn),
                                    threshold(metric.crit));
        }
    }
    return fmt::format("EYE {} - {} |{}", upper(status_name(overall)),
                       nagios_text(summary_line(report, overall)), perfdata);
}

void print_table(std::ostream& out, const Report& report, Status overall) {
    out << fmt::format("{:<12} {:<9} {}\n", "CHECK", "STATUS", "MESSAGE");
    for (const auto& check : report.checks) {
        out << fmt::format("{:<12} {:<9} {}\n", check.name, status_name(check.status),
                           check.message);
    }
    for (const auto& fix : report.fixes) {
        if (!fix.would.empty()) {
            out << fmt::format("would {} (dry run: nothing changed)\n", fix.would);
            continue;
        }
        std::string details;
        for (const auto& detail : fix.details) {
            std::string value =
                std::visit([](const auto& v) { return fmt::format("{}", v); }, detail.value);
            details += fmt::format(" {}={}", detail.name, value);
        }
        out << fmt::format("fixed: {} {}{}\n", fix.name, fix.count, details);
    }
    out << fmt::format("status: {}\n", upper(status_name(overall)));
}

void print_not_run(std::ostream& out, const std::string& format, Status status,
                   const std::string& reason) {
    if (format == "nagios") {
        out << fmt::format("EYE UNKNOWN - {}{} |\n", status == Status::skipped ? "skipped: " : "",
                           nagios_text(reason));
    } else if (format == "json") {
        json::Writer w;
        w.begin_object();
        w.field("status", status_name(status));
        w.field("message", reason);
        w.key("checks");
        w.begin_array();
        w.end_array();
        w.key("fixes");
        w.begin_array();
        w.end_array();
        w.end_object();
        out << w.take() << "\n";
    } else if (status == Status::skipped) {
        out << fmt::format("status: SKIPPED - {}\n", reason);
    }
    out.flush();
}
}  // namespace eye::tasks::monitor
