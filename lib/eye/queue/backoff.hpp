#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eye/core/units.hpp"

// How long a failed job waits before its next attempt (Laravel's --backoff).
namespace eye::queue {

// "10" or "10,60,300" (seconds, each 0 to 86400); nullopt when the text is neither.
std::optional<std::vector<Milliseconds>> parse_backoff(const std::string& text);

// The wait before attempt `attempts` + 1: a list is used as is (its last value repeating); one
// value doubles with each attempt, up to an hour. `steps` must not be empty.
Milliseconds backoff_for(const std::vector<Milliseconds>& steps, int attempts);

}  // namespace eye::queue
