#include "eye/core/exit_code.hpp"

namespace eye {

std::string_view exit_code_name(ExitCode code) {
    switch (code) {
        case ExitCode::ok:
            return "ok";
        case ExitCode::failed:
            return "failed";
        case ExitCode::critical:
            return "critical";
        case ExitCode::unknown:
            return "unknown";
        case ExitCode::usage:
            return "usage";
        case ExitCode::unavailable:
            return "unavailable";
        case ExitCode::software:
            return "software";
        case ExitCode::io_error:
            return "io_error";
        case ExitCode::temp_fail:
            return "temp_fail";
        case ExitCode::config:
            return "config";
    }
    return "unknown";
}

}  // namespace eye
