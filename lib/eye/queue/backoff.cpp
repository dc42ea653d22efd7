#include "eye/queue/backoff.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string_view>

namespace eye::queue {

std::optional<std::vector<Milliseconds>> parse_backoff(const std::string& text) {
    std::vector<Milliseconds> steps;
    std::string_view rest = text;
    while (true) {
        auto comma = rest.find(',');
        std::string part(rest.substr(0, comma));
        char* end = nullptr;
        errno = 0;
        long long seconds = std::strtoll(part.c_str(), &end, 10);
        if (part.empty() || *end != '\0' || seconds < 0 || errno != 0 || seconds > 86'400) {
            return std::nullopt;
        }
        steps.emplace_back(seconds * 1000);
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    return steps;
}

Milliseconds backoff_for(const std::vector<Milliseconds>& steps, int attempts) {
    if (steps.size() > 1) {
        return steps[static_cast<std::size_t>(
            std::clamp(attempts - 1, 0, static_cast<int>(steps.size()) - 1))];
    }
    auto wait = steps.front();
    for (int i = 1; i < attempts && wait < Milliseconds(3'600'000); ++i) {
        wait *= 2;
    }
    return std::min(wait, Milliseconds(3'600'000));
}

}  // namespace eye::queue
