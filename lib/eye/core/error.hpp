#pragma once

#include <stdexcept>
#include <string>

#include "eye/core/exit_code.hpp"

namespace eye {

// The one exception type the layers above the low-level calls throw. The message is a single
// lowercase line that names the thing; the hint says what would fix it. The top-level runner turns
// it into one log line and the exit code.
class Error : public std::runtime_error {
public:
    Error(ExitCode code, std::string message, std::string hint = {})
        : std::runtime_error(std::move(message)), m_code(code), m_hint(std::move(hint)) {}

    ExitCode code() const { return m_code; }
    const std::string& hint() const { return m_hint; }

private:
    ExitCode m_code;
    std::string m_hint;
};

struct UsageError : Error {
    explicit UsageError(std::string message, std::string hint = {})
        : Error(ExitCode::usage, std::move(message), std::move(hint)) {}
};

struct ConfigError : Error {
    explicit ConfigError(std::string message, std::string hint = {})
        : Error(ExitCode::config, std::move(message), std::move(hint)) {}
};

struct UnavailableError : Error {
    explicit UnavailableError(std::string message, std::string hint = {})
        : Error(ExitCode::unavailable, std::move(message), std::move(hint)) {}
};

struct TempFailError : Error {
    explicit TempFailError(std::string message, std::string hint = {})
        : Error(ExitCode::temp_fail, std::move(message), std::move(hint)) {}
};

struct IoError : Error {
    explicit IoError(std::string message, std::string hint = {})
        : Error(ExitCode::io_error, std::move(message), std::move(hint)) {}
};

// The database refused one row's data: a value too long or out of range for its column, a
// constraint it breaks, an embedding that does not fit. A fault of that row, not of the database
// or of eye's configuration.
struct DataError : Error {
    explicit DataError(std::string message, std::string hint = {})
        : Error(ExitCode::failed, std::move(message), std::move(hint)) {}
};

struct TaskFailedError : Error {
    explicit TaskFailedError(std::string message, std::string hint = {})
        : Error(ExitCode::failed, std::move(message), std::move(hint)) {}
};

}  // namespace eye
