#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

// What the benchmarks read of their own process from /proc.
namespace eye::bench {

// A field of /proc/self/status in kB (VmRSS, VmHWM); -1 when it cannot be read.
inline long long status_kb(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) {
            return std::atoll(line.c_str() + field.size() + 1);
        }
    }
    return -1;
}

}  // namespace eye::bench
