#include "eye/runner/reporting.hpp"

#include <fstream>
#include <random>

#include <fmt/format.h>

#include "eye/core/file.hpp"
#include "eye/http/client.hpp"
#include "eye/log/log.hpp"

namespace eye::reporting {
namespace {

std::string metric_name(const std::string& text) {
    std::string out;
    for (char c : text) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out += ok ? c : '_';
    }
    return out;
}

// The last success recorded by the previous file, so a failed run does not erase it.
std::string previous_last_success(const std::string& path) {
    std::ifstream file(path);
    std::string line;
    const std::string prefix = "eye_task_last_success_timestamp_seconds";
    while (std::getline(file, line)) {
        if (line.rfind(prefix, 0) == 0) {
            auto space = line.rfind(' ');
            if (space != std::string::npos) {
                return line.substr(space + 1);
            }
        }
    }
    return {};
}

}  // namespace

void write_metrics(const std::string& dir, const std::string& task, const RunTimes& times,
                   const Outcome& outcome) {
    std::string name = metric_name(task);
    std::string path = fmt::format("{}/eye_{}.prom", dir, name);
    double started = to_epoch(times.started);
    double finished = started + std::chrono::duration<double>(times.duration).count();
    // a skipped run did no work: it must not make a task stuck behind its lock look healthy
    bool success = outcome.status == RunStatus::ok || outcome.status == RunStatus::warning;
    std::string last_success =
        success ? fmt::format("{:.3f}", finished) : previous_last_success(path);

    std::string labels = fmt::format("{{task=\"{}\"}}", name);
    std::string text;
    text += "# HELP eye_task_last_run_timestamp_seconds When the task last finished.\n";
    text += "# TYPE eye_task_last_run_timestamp_seconds gauge\n";
    text += fmt::format("eye_task_last_run_timestamp_seconds{} {:.3f}\n", labels, finished);
    if (!last_success.empty()) {
        text += "# HELP eye_task_last_success_timestamp_seconds When the task last succeeded.\n";
        text += "# TYPE eye_task_last_success_timestamp_seconds gauge\n";
        text += fmt::format("eye_task_last_success_timestamp_seconds{} {}\n", labels, last_success);
    }
    text += "# HELP eye_task_duration_seconds How long the last run took.\n";
    text += "# TYPE eye_task_duration_seconds gauge\n";
    text += fmt::format("eye_task_duration_seconds{} {:.3f}\n", labels,
                        std::chrono::duration<double>(times.duration).count());
    text += "# HELP eye_task_exit_code The exit code of the last run.\n";
    text += "# TYPE eye_task_exit_code gauge\n";
    text += fmt::format("eye_task_exit_code{} {}\n", labels, to_int(outcome.exit));
    for (const auto& metric : outcome.metrics) {
        std::string full = fmt::format("eye_{}_{}", name, metric_name(metric.name));
        text += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{}{} {}\n", full, metric.help, full,
                            full, labels, metric.value);
    }
    if (auto written = write_file_atomically(path, text); !written) {
        log::warning("cannot write metrics file '{}': {}", path, written.error());
    }
}

Pinger::Pinger(std::string base_url, std::string slug)
    : m_base(std::move(base_url)), m_slug(std::move(slug)) {
    // healthchecks.io puts a secret key in the path; it must never reach a log line
    auto scheme = m_base.find("://");
    auto path = m_base.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (path != std::string::npos) {
        log::add_secret(m_base.substr(path));
    }
    std::random_device random;
    std::uniform_int_distribution<unsigned> byte(0, 255);
    unsigned char bytes[16];
    for (auto& b : bytes) {
        b = static_cast<unsigned char>(byte(random));
    }
    bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // a version 4 UUID
    bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
    for (int i = 0; i < 16; ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            m_run_id += '-';
        }
        m_run_id += fmt::format("{:02x}", bytes[i]);
    }
}

void Pinger::start() {
    ping("/start");
}

void Pinger::finish(ExitCode code) {
    ping(fmt::format("/{}", to_int(code)));
}

void Pinger::ping(const std::string& suffix) {
    http::Client client;
    http::Request request;
    request.method = "POST";
    request.url = http::join_url(m_base, m_slug) + suffix + "?rid=" + m_run_id;
    request.timeouts = {Milliseconds(3'000), Milliseconds(5'000)};
    auto result = client.send(request);
    if (!result) {
        log::warning("ping {} failed: {}", request.url, result.error().message);
    } else if (!result->ok()) {
        log::warning("ping {} answered HTTP {}", request.url, result->status);
    }
}

}  // namespace eye::reporting
