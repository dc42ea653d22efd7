#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// "Did you mean ...?" for a misspelt command or flag, and the command-line parser's errors in
// plain words.
namespace eye {

// The candidate nearest to `word` by edit distance, when it is near enough to be a slip (at most
// a third of the word's length, and 3) and no other candidate is as near.
std::optional<std::string> nearest_word(std::string_view word,
                                        const std::vector<std::string>& candidates);

// The command-line parser's message, said plainly: "--format was given 2 times; give it once"
// for "--format: At Most 1 required but received 2", "--batch needs a value (N)" for "--batch:
// 1 required N missing". Messages already plain are returned as they are, first letter lowered.
std::string plain_parse_error(std::string message);

}  // namespace eye
