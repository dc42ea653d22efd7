#include "eye/core/host.hpp"

#include <unistd.h>

namespace eye {

std::string host_name() {
    char buffer[256] = {};
    if (gethostname(buffer, sizeof buffer - 1) != 0) {
        return "unknown";
    }
    return buffer;
}

}  // namespace eye
