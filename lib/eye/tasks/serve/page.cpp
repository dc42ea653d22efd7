#include "eye/tasks/serve/page.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace eye::tasks::serve {
namespace {

const char* const k_style =
    "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
    "table{border-collapse:collapse;background:#fff}"
    "td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}.num{text-align:right}"
    ".ok{color:#1a7f37}.warning{color:#9a6700}.critical,.failed{color:#cf222e}"
    ".unknown,.skipped{color:#6e7781}.error{font-family:monospace;white-space:pre-wrap}";

std::string status_span(std::string_view status) {
    return fmt::format("<span class=\"{0}\">{0}</span>", html_escape(status));
}

std::string seconds_text(double seconds) {
    if (seconds < 90) {
        return fmt::format("{:.0f}s", seconds);
    }
    if (seconds < 90 * 60) {
        return fmt::format("{:.0f}m", seconds / 60);
    }
    if (seconds < 36 * 3600) {
        return fmt::format("{:.1f}h", seconds / 3600);
    }
    return fmt::format("{:.1f}d", seconds / 86400);
}

const char* mark_colour(const std::string& status) {
    if (status == "ok") {
        return "#2da44e";
    }
    if (status == "warning") {
        return "#d4a72c";
    }
    if (status == "failed") {
        return "#cf222e";
    }
    if (status == "running") {
        return "#0969da";
    }
    return "#8c959f";  // skipped
}

// A strip of coloured marks, oldest first, each with its start, result and duration on hover.
std::string run_strip(const std::vector<RunMark>& runs) {
    if (runs.empty()) {
        return "no runs yet";
    }
    std::string svg = fmt::format(
        "<svg width=\"{}\" height=\"14\" role=\"img\" aria-label=\"last runs\">", runs.size() * 12);
    for (std::size_t i = 0; i < runs.size(); ++i) {
        const auto& run = runs[i];
        svg += fmt::format(
            "<rect x=\"{}\" y=\"1\" width=\"10\" height=\"12\" fill=\"{}\"><title>{} {}{}</title>"
            "</rect>",
            i * 12, mark_colour(run.status), html_escape(format_iso8601(run.started)),
            html_escape(run.status), run.seconds ? ", " + seconds_text(*run.seconds) : "");
    }
    return svg + "</svg>";
}

// Horizontal bars, one per count, scaled to the largest.
std::string bar_chart(const std::vector<Count>& counts) {
    std::int64_t largest = 1;
    for (const auto& count : counts) {
        largest = std::max(largest, count.count);
    }
    std::string svg =
        fmt::format("<svg width=\"520\" height=\"{}\" role=\"img\">", counts.size() * 20 + 4);
    for (std::size_t i = 0; i < counts.size(); ++i) {
        const auto& count = counts[i];
        const double width =
            300.0 * static_cast<double>(count.count) / static_cast<double>(largest);
        svg += fmt::format(
            "<text x=\"0\" y=\"{0}\" font-size=\"12\">{1}</text>"
            "<rect x=\"170\" y=\"{2}\" width=\"{3:.1f}\" height=\"14\" fill=\"#54aeff\"/>"
            "<text x=\"{4:.1f}\" y=\"{0}\" font-size=\"12\">{5}</text>",
            i * 20 + 14, html_escape(count.name), i * 20 + 3, width, 176 + width, count.count);
    }
    return svg + "</svg>";
}

}  // namespace

std::string html_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string render_page(const Snapshot& snapshot, int refresh_seconds) {
    std::string html = fmt::format(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"refresh\" content=\"{}\"><title>eye: {}</title><style>{}</style>"
        "</head><body><h1>eye {}</h1><p>as of {} (refreshes every {} s)</p>",
        refresh_seconds, html_escape(monitor::status_name(snapshot.overall)), k_style,
        status_span(monitor::status_name(snapshot.overall)),
        html_escape(format_iso8601(snapshot.taken)), refresh_seconds);

    html += "<h2>Checks</h2><table><tr><th>check</th><th>status</th><th>message</th></tr>";
    for (const auto& check : snapshot.checks.checks) {
        html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", html_escape(check.name),
                            status_span(monitor::status_name(check.status)),
                            html_escape(check.message));
    }
    html += "</table>";

    if (snapshot.database) {
        html += fmt::format(
            "<h2>Queue</h2><table><tr><th>waiting</th><th>running</th><th>failed</th>"
            "<th>oldest wait</th></tr><tr><td class=\"num\">{}</td><td class=\"num\">{}</td>"
            "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr></table>",
            snapshot.queue.queued, snapshot.queue.running, snapshot.queue.failed,
            seconds_text(snapshot.queue.oldest_wait_seconds));
        html += "<h2>Library</h2>" + bar_chart(snapshot.images_by_status);
        if (!snapshot.images_by_analyzer.empty()) {
            html += "<p>analyzed by eye, by analyzer and model version:</p>" +
                    bar_chart(snapshot.images_by_analyzer);
        }
    }

    html +=
        "<h2>Schedule</h2><table><tr><th>task</th><th>when</th><th>next due</th>"
        "<th>last runs (oldest first)</th></tr>";
    for (const auto& task : snapshot.schedule) {
        html += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                            html_escape(task.name),
                            task.expression.empty() ? "kept running" : html_escape(task.expression),
                            task.next_due ? html_escape(format_iso8601(*task.next_due)) : "-",
                            run_strip(task.runs));
    }
    html += "</table>";

    if (snapshot.database) {
        html += "<h2>Workers</h2>";
        if (snapshot.workers.empty()) {
            html += "<p>no worker running</p>";
        } else {
            html +=
                "<table><tr><th>worker</th><th>heartbeat</th><th>holds</th><th>done</th>"
                "<th>failed</th></tr>";
            for (const auto& worker : snapshot.workers) {
                html += fmt::format(
                    "<tr><td>{}</td><td>{} ago</td><td class=\"num\">{}</td>"
                    "<td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    html_escape(worker.id), seconds_text(worker.heartbeat_age_seconds),
                    worker.holds, worker.done, worker.failed);
            }
            html += "</table>";
        }
        html += "<h2>Failed jobs (the last 50)</h2>";
        if (snapshot.failed.empty()) {
            html += "<p>none</p>";
        } else {
            html +=
                "<table><tr><th>failed id</th><th>job</th><th>image</th><th>file</th>"
                "<th>failed at</th><th>error</th></tr>";
            for (const auto& failed : snapshot.failed) {
                html += fmt::format(
                    "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}"
                    "</td><td>{}</td><td>{}</td><td class=\"error\">{}</td></tr>",
                    failed.id, failed.job_id, failed.media_id, html_escape(failed.file_path),
                    html_escape(format_iso8601(failed.failed_at)), html_escape(failed.error));
            }
            html += "</table>";
        }
    }
    html += "</body></html>\n";
    return html;
}

std::string render_login(bool failed) {
    return fmt::format(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>eye: sign in"
        "</title><style>{}</style></head><body><h1>eye</h1>{}"
        "<form method=\"post\" action=\"/login\"><label>token "
        "<input type=\"password\" name=\"token\" autofocus></label> "
        "<button type=\"submit\">sign in</button></form></body></html>\n",
        k_style, failed ? "<p class=\"failed\">wrong token</p>" : "");
}

}  // namespace eye::tasks::serve
