#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// "Did you mean ...?" for a misspelt command or flag.
namespace eye {

// The candidate nearest to `word` by edit distance, when it is near enough to be a slip (at most
// a third of the word's length, and 3) and no other candidate is as near.
std::optional<std::string> nearest_word(std::string_view word,
                                        const std::vector<std::string>& candidates);

}  // namespace eye
