#include "eye/runner/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <numeric>
#include <regex>

#include <fmt/format.h>

namespace eye {
namespace {

// Levenshtein distance, one row at a time.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    std::iota(row.begin(), row.end(), 0);
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

}  // namespace

std::optional<std::string> nearest_word(std::string_view word,
                                        const std::vector<std::string>& candidates) {
    const std::size_t limit = std::min<std::size_t>(3, std::max<std::size_t>(1, word.size() / 3));
    std::optional<std::string> best;
    std::size_t best_distance = limit + 1;
    bool tie = false;
    for (const auto& candidate : candidates) {
        const std::size_t distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
            tie = false;
        } else if (distance == best_distance && best && *best != candidate) {
            tie = true;
        }
    }
    if (tie || best_distance > limit) {
        return std::nullopt;
    }
    return best;
}

std::string plain_parse_error(std::string message) {
    // CLI11 2.1's texts, as its ArgumentMismatch, ConversionError and ExtrasError write them
    static const std::regex k_repeated(R"(^(\S+): At Most 1 required but received (\d+)$)");
    static const std::regex k_missing(R"(^(\S+): \d+ required (\S+) missing$)");
    static const std::regex k_conversion(R"(^Could not convert: (\S+) = (.*)$)");
    static const std::regex k_extras(
        R"(^The following arguments? (?:was|were) not expected: (.*)$)");
    std::smatch match;
    if (std::regex_match(message, match, k_repeated)) {
        return fmt::format("{} was given {} times; give it once", match[1].str(), match[2].str());
    }
    if (std::regex_match(message, match, k_missing)) {
        return fmt::format("{} needs a value ({})", match[1].str(), match[2].str());
    }
    if (std::regex_match(message, match, k_conversion)) {
        return fmt::format("{}: invalid value '{}': expected true or false, or the flag alone",
                           match[1].str(), match[2].str());
    }
    if (std::regex_match(message, match, k_extras)) {
        const std::string extras = match[1].str();
        return fmt::format(
            "{}: {}", extras.rfind("-", 0) == 0 ? "unknown option(s)" : "unexpected argument(s)",
            extras);
    }
    if (!message.empty()) {
        message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
    }
    return message;
}

}  // namespace eye
