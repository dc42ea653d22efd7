#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace eye {

using Milliseconds = std::chrono::milliseconds;

// Parses a non-negative duration: "90s", "10m", "2h", "7d", "250ms", or a bare number of seconds.
// Fractions are allowed ("1.5h"). The error is a phrase to put after the flag's name.
tl::expected<Milliseconds, std::string> parse_duration(std::string_view text);

// "0s", "90s", "10m", "2h30m", "7d": the shortest exact spelling, for logs and help.
std::string format_duration(Milliseconds value);

// Parses a byte size: "1GiB", "500MB", "1024", "10k". Binary (KiB, MiB, GiB, TiB) and decimal
// (kB, MB, GB, TB) units; a bare number is bytes.
tl::expected<std::uint64_t, std::string> parse_size(std::string_view text);

// "1.5 GiB", "512 MiB", "42 B".
std::string format_size(std::uint64_t bytes);

}  // namespace eye
