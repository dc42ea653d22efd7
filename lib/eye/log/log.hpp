#pragma once

#include <optional>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>

#include <fmt/format.h>

// Process-wide logging to stderr: one line per event, as text
// ("2026-11-28T02:00:00Z INFO eye-train: message") or as JSON Lines. Every line passes through
// redact(), so no password or token reaches the log.
namespace eye::log {

enum class Level { error = 0, warning = 1, info = 2, debug = 3 };
enum class Format { text, json };

std::optional<Level> parse_level(std::string_view text);
std::optional<Format> parse_format(std::string_view text);

// Sets the level, the format and the program name that prefixes every line. Thread-safe.
void configure(Level level, Format format, std::string program);
bool enabled(Level level);

// Registers a value that must never appear in a log line (a password, a token). Short values
// (under 4 characters) are ignored: redacting them would mangle ordinary words.
void add_secret(std::string secret);

// Replaces registered secrets and the password part of URLs and key=value strings with "***".
std::string redact(std::string text);

void write(Level level, std::string_view message);

// A stream buffer that passes what is written to it through redact() a line at a time, on to
// `target`: the runner puts a task's reports (stdout) through one, so a secret that reached a
// message cannot reach the terminal or a script either. Flushing passes a partial line on too.
class RedactingBuffer : public std::streambuf {
public:
    explicit RedactingBuffer(std::ostream& target) : m_target(target) {}
    ~RedactingBuffer() override { sync(); }

protected:
    int_type overflow(int_type c) override;
    std::streamsize xsputn(const char* text, std::streamsize count) override;
    int sync() override;

private:
    void pass_lines();

    std::ostream& m_target;
    std::string m_pending;
};

template <typename... Args>
void error(fmt::format_string<Args...> format, Args&&... args) {
    write(Level::error, fmt::format(format, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::warning)) {
        write(Level::warning, fmt::format(format, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void info(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::info)) {
        write(Level::info, fmt::format(format, std::forward<Args>(args)...));
    }
}
template <typename... Args>
void debug(fmt::format_string<Args...> format, Args&&... args) {
    if (enabled(Level::debug)) {
        write(Level::debug, fmt::format(format, std::forward<Args>(args)...));
    }
}

}  // namespace eye::log
