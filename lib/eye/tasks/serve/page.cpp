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
    ".unknown,.skipped{color:#6e7781}.error{font-family:monospace;white-space:pre-wrap}"
    ".note{color:#57606a;font-size:12px;max-width:60em}";

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
        fmt::format("<svg width=\"560\" height=\"{}\" role=\"img\">", counts.size() * 20 + 4);
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

// Completed (green) and failed (red) analyses per period, stacked, with the counts on hover.
std::string activity_chart(const std::vector<Bucket>& buckets, int bar, const char* first,
                           const char* last) {
    std::int64_t largest = 1;
    for (const auto& bucket : buckets) {
        largest = std::max(largest, bucket.completed + bucket.failed);
    }
    constexpr int k_height = 80;
    const int width = static_cast<int>(buckets.size()) * (bar + 1);
    std::string svg = fmt::format(
        "<svg width=\"{}\" height=\"{}\" role=\"img\"><text x=\"0\" y=\"10\" "
        "font-size=\"11\">{}</text>",
        width + 40, k_height + 28, largest);
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        const auto& bucket = buckets[i];
        const double done = k_height * static_cast<double>(bucket.completed) / largest;
        const double failed = k_height * static_cast<double>(bucket.failed) / largest;
        const int x = 30 + static_cast<int>(i) * (bar + 1);
        svg += fmt::format(
            "<g><title>{}: {} completed, {} failed</title>"
            "<rect x=\"{}\" y=\"{:.1f}\" width=\"{}\" height=\"{:.1f}\" fill=\"#2da44e\"/>"
            "<rect x=\"{}\" y=\"{:.1f}\" width=\"{}\" height=\"{:.1f}\" fill=\"#cf222e\"/>"
            "</g>",
            html_escape(format_iso8601(bucket.start)), bucket.completed, bucket.failed, x,
            4 + k_height - done, bar, done, x, 4 + k_height - done - failed, bar, failed);
    }
    svg += fmt::format(
        "<line x1=\"30\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#999\"/>"
        "<text x=\"30\" y=\"{2}\" font-size=\"11\">{3}</text>"
        "<text x=\"{1}\" y=\"{2}\" font-size=\"11\" text-anchor=\"end\">{4}</text></svg>",
        4 + k_height, 30 + width, k_height + 22, first, last);
    return svg;
}

// Each model version's held-out precision (dark) and recall (light), from 0 to 1.
std::string model_chart(const std::vector<ModelRow>& models) {
    constexpr int k_height = 100;
    std::string svg = fmt::format("<svg width=\"{}\" height=\"{}\" role=\"img\">",
                                  40 + models.size() * 44, k_height + 40);
    svg += fmt::format(
        "<text x=\"0\" y=\"12\" font-size=\"11\">1.0</text><text x=\"0\" y=\"{}\" "
        "font-size=\"11\">0</text>",
        k_height + 6);
    for (std::size_t i = 0; i < models.size(); ++i) {
        const auto& model = models[i];
        const int x = 30 + static_cast<int>(i) * 44;
        const double precision = model.precision.value_or(0.0);
        const double recall = model.recall.value_or(0.0);
        svg += fmt::format(
            "<g><title>{}{} ({}): precision {}, recall {}</title>"
            "<rect x=\"{}\" y=\"{:.1f}\" width=\"16\" height=\"{:.1f}\" fill=\"#0969da\"/>"
            "<rect x=\"{}\" y=\"{:.1f}\" width=\"16\" height=\"{:.1f}\" fill=\"#80ccff\"/>"
            "<text x=\"{}\" y=\"{}\" font-size=\"10\">{}</text></g>",
            html_escape(model.version), model.current ? ", current" : "", html_escape(model.status),
            model.precision ? fmt::format("{:.3f}", precision) : std::string("-"),
            model.recall ? fmt::format("{:.3f}", recall) : std::string("-"), x,
            4 + k_height * (1 - precision), k_height * precision, x + 17,
            4 + k_height * (1 - recall), k_height * recall, x, k_height + 20,
            html_escape(model.version.substr(0, 8)));
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

// The slow counts: completed images by their analysis, missing and outdated, with their age.
std::string library_section(const Snapshot& snapshot) {
    if (!snapshot.library) {
        return "<p>counting the images by analysis (the first count is under way)</p>";
    }
    const LibraryFigures& library = *snapshot.library;
    const double age =
        std::max(0.0, std::chrono::duration<double>(snapshot.taken - library.counted).count());
    if (!library.error.empty()) {
        return fmt::format("<p>could not count the images by analysis {} ago: {}</p>",
                           seconds_text(age), html_escape(library.error));
    }
    std::vector<Count> rows;
    for (const auto& count : library.by_eye) {
        rows.push_back({count.analyzer + " " + count.model_version, count.images});
    }
    if (library.not_by_eye > 0) {
        rows.push_back({"before eye", library.not_by_eye});
    }
    std::string html =
        rows.empty()
            ? fmt::format("<p>no completed image yet (counted {} ago)</p>", seconds_text(age))
            : fmt::format(
                  "<p>completed images by their last analysis (counted {} ago, in {:.2f} s):</p>",
                  seconds_text(age), library.seconds) +
                  bar_chart(rows);
    return html + fmt::format(
                      "<table><tr><th>missing an analysis</th><th>outdated</th></tr>"
                      "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td></tr></table>"
                      "<p class=\"note\">missing: pending, or completed without an embedding "
                      "or a description (eye-reanalyze --priority=missing); outdated: completed, "
                      "but not analyzed by {} {}, what the worker uses now "
                      "(--priority=outdated)</p>",
                      library.missing, library.outdated, html_escape(library.analyzer),
                      html_escape(library.model_version));
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
        html +=
            "<h2>Analyses</h2><p>per 10 minutes, the last 24 hours (green completed, red "
            "failed):</p>" +
            activity_chart(snapshot.recent, 2, "24 h ago", "now") +
            "<p>per day, the last 30 days as far as the history reaches:</p>" +
            activity_chart(snapshot.daily, 14, "30 days ago", "today");
        html += "<h2>Library</h2>" + bar_chart(snapshot.images_by_status);
        html += library_section(snapshot);
    }

    if (!snapshot.models.empty()) {
        html +=
            "<h2>Learning loop</h2><p>model versions, oldest first: held-out precision "
            "(dark) and recall (light)</p>" +
            model_chart(snapshot.models);
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
                "<th>failed</th><th>analyzing (job, image, file, for)</th></tr>";
            for (const auto& worker : snapshot.workers) {
                std::string held;
                for (const auto& job : worker.held) {
                    held += fmt::format("{} {} {} {}<br>", job.job_id, job.media_id,
                                        html_escape(job.file_path), seconds_text(job.seconds));
                }
                if (worker.holds > static_cast<std::int64_t>(worker.held.size())) {
                    held += fmt::format("and {} more", worker.holds - worker.held.size());
                }
                html += fmt::format(
                    "<tr><td>{}</td><td>{} ago</td><td class=\"num\">{}</td>"
                    "<td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                    html_escape(worker.id), seconds_text(worker.heartbeat_age_seconds),
                    worker.holds, worker.done, worker.failed, held.empty() ? "-" : held);
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
