#pragma once

#include <string_view>

namespace eye {

// The exit codes of design §4, the only ones any eye program returns.
enum class ExitCode : int {
    ok = 0,
    failed = 1,    // a task ran and failed; for eye-monitor: WARNING
    critical = 2,  // eye-monitor: CRITICAL
    unknown = 3,   // eye-monitor: UNKNOWN
    usage = 64,
    unavailable = 69,
    software = 70,
    io_error = 74,
    temp_fail = 75,
    config = 78,
};

constexpr ExitCode monitor_warning = ExitCode::failed;

constexpr int to_int(ExitCode code) {
    return static_cast<int>(code);
}

// A short name for logs and docs: "ok", "usage", "temp_fail", ...
std::string_view exit_code_name(ExitCode code);

}  // namespace eye
