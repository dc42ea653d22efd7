#include "eye/log/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <regex>
#include <vector>

#include "eye/core/time.hpp"
#include "eye/json/json.hpp"

namespace eye::log {
namespace {

struct State {
    std::mutex mutex;
    Format format = Format::text;
    std::string program = "eye";
    std::vector<std::string> secrets;
};

State& state() {
    static State s;
    return s;
}

std::atomic<int> g_level{static_cast<int>(Level::info)};

std::string_view level_name(Level level) {
    switch (level) {
        case Level::error:
            return "ERROR";
        case Level::warning:
            return "WARN";
        case Level::info:
            return "INFO";
        case Level::debug:
            return "DEBUG";
    }
    return "INFO";
}

std::string timestamp_now() {
    return format_utc(std::chrono::system_clock::now());
}

}  // namespace

std::optional<Level> parse_level(std::string_view text) {
    if (text == "error") {
        return Level::error;
    }
    if (text == "warning" || text == "warn") {
        return Level::warning;
    }
    if (text == "info") {
        return Level::info;
    }
    if (text == "debug") {
        return Level::debug;
    }
    return std::nullopt;
}

std::optional<Format> parse_format(std::string_view text) {
    if (text == "text") {
        return Format::text;
    }
    if (text == "json") {
        return Format::json;
    }
    return std::nullopt;
}

void configure(Level level, Format format, std::string program) {
    g_level = static_cast<int>(level);
    std::lock_guard lock(state().mutex);
    state().format = format;
    state().program = std::move(program);
}

bool enabled(Level level) {
    return static_cast<int>(level) <= g_level.load();
}

void add_secret(std::string secret) {
    if (secret.size() < 4) {
        return;
    }
    std::lock_guard lock(state().mutex);
    state().secrets.push_back(std::move(secret));
}

std::string redact(std::string text) {
    {
        std::lock_guard lock(state().mutex);
        for (const auto& secret : state().secrets) {
            for (auto at = text.find(secret); at != std::string::npos;
                 at = text.find(secret, at + 3)) {
                text.replace(at, secret.size(), "***");
            }
        }
    }
    // scheme://user:password@host and password=... in key=value strings, whether or not the
    // value was registered: a URL can reach a log line before the runner has parsed it
    static const std::regex k_url_password(R"(([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]*@)");
    static const std::regex k_kv_password(
        R"(((?:password|passwd|token|secret)\s*=\s*)('[^']*'|[^\s&]+))", std::regex::icase);
    static const std::regex k_bearer(R"((Bearer\s+)[A-Za-z0-9._~+/=-]+)");
    text = std::regex_replace(text, k_url_password, "$1***@");
    text = std::regex_replace(text, k_kv_password, "$1***");
    text = std::regex_replace(text, k_bearer, "$1***");
    return text;
}

namespace {

constexpr std::string_view k_hint_separator = "; hint: ";

}  // namespace

void write(Level level, std::string_view message) {
    if (!enabled(level)) {
        return;
    }
    std::string clean = redact(std::string(message));
    for (char& c : clean) {
        if (c == '\n' || c == '\r') {
            c = ' ';
        }
    }
    std::string line;
    {
        std::lock_guard lock(state().mutex);
        if (state().format == Format::json) {
            json::Writer w;
            w.begin_object();
            w.field("time", timestamp_now());
            w.field("level", level_name(level));
            w.field("program", state().program);
            // "what happened; hint: what to do" becomes two fields a log search can tell apart
            const auto at = clean.find(k_hint_separator);
            if (at == std::string::npos) {
                w.field("message", clean);
            } else {
                w.field("message", std::string_view(clean).substr(0, at));
                w.field("hint", std::string_view(clean).substr(at + k_hint_separator.size()));
            }
            w.end_object();
            line = w.take() + "\n";
        } else {
            line = fmt::format("{} {} {}: {}\n", timestamp_now(), level_name(level),
                               state().program, clean);
        }
        std::fwrite(line.data(), 1, line.size(), stderr);
        std::fflush(stderr);
    }
}

RedactingBuffer::int_type RedactingBuffer::overflow(int_type c) {
    if (traits_type::eq_int_type(c, traits_type::eof())) {
        return traits_type::not_eof(c);
    }
    m_pending += traits_type::to_char_type(c);
    if (m_pending.back() == '\n') {
        pass_lines();
    }
    return c;
}

std::streamsize RedactingBuffer::xsputn(const char* text, std::streamsize count) {
    m_pending.append(text, static_cast<std::size_t>(count));
    pass_lines();
    return count;
}

int RedactingBuffer::sync() {
    pass_lines();
    if (!m_pending.empty()) {
        m_target << redact(std::move(m_pending));
        m_pending.clear();
    }
    m_target.flush();
    return m_target ? 0 : -1;
}

void RedactingBuffer::pass_lines() {
    auto end = m_pending.rfind('\n');
    if (end == std::string::npos) {
        return;
    }
    m_target << redact(m_pending.substr(0, end + 1));
    m_pending.erase(0, end + 1);
}

}  // namespace eye::log
