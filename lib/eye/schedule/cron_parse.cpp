#include <charconv>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "eye/schedule/cron.hpp"

// Reading a cron expression: its five fields (or a macro) into the sets of values they allow.
// cron.cpp finds the times they name.
namespace eye::schedule {
namespace {

using detail::CronFields;

constexpr std::string_view k_month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                              "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::string_view k_weekday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct FieldSpec {
    std::string_view name;
    int min;
    int max;
    const std::string_view* names;  // names[0] stands for `min`; nullptr when the field has none
    int name_count;
    bool range_may_end_on_sunday;  // "FRI-SUN" reads as "FRI-7"
};

constexpr FieldSpec k_fields[] = {
    {"minute", 0, 59, nullptr, 0, false},
    {"hour", 0, 23, nullptr, 0, false},
    {"day-of-month", 1, 31, nullptr, 0, false},
    {"month", 1, 12, k_month_names, 12, false},
    {"day-of-week", 0, 7, k_weekday_names, 7, true},
};

struct Macro {
    std::string_view name;
    std::string_view expansion;
};

constexpr Macro k_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t position = 0;
    while (position < text.size()) {
        while (position < text.size() && is_blank(text[position])) {
            ++position;
        }
        std::size_t end = position;
        while (end < text.size() && !is_blank(text[end])) {
            ++end;
        }
        if (end > position) {
            words.push_back(text.substr(position, end - position));
        }
        position = end;
    }
    return words;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool all_digits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
}

// Digits only; nullopt on anything else, and `too_big` for numbers that overflow an int.
std::optional<int> read_number(std::string_view text, int too_big) {
    if (!all_digits(text)) {
        return std::nullopt;
    }
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error == std::errc::result_out_of_range) {
        return too_big;
    }
    return value;
}

tl::expected<int, std::string> parse_value(std::string_view token, const FieldSpec& field) {
    if (auto number = read_number(token, field.max + 1)) {
        if (*number < field.min || *number > field.max) {
            return tl::make_unexpected(fmt::format("{} field: value '{}' out of range {}-{}",
                                                   field.name, token, field.min, field.max));
        }
        return *number;
    }
    for (int i = 0; i < field.name_count; ++i) {
        if (equals_ignoring_case(token, field.names[i])) {
            return field.min + i;
        }
    }
    std::string names_hint;
    if (field.names != nullptr) {
        names_hint = fmt::format(" or {}-{}", field.names[0], field.names[field.name_count - 1]);
    }
    return tl::make_unexpected(fmt::format("{} field: invalid value '{}' (use {}-{}{})", field.name,
                                           token, field.min, field.max, names_hint));
}

tl::expected<void, std::string> parse_item(std::string_view item, const FieldSpec& field,
                                           std::uint64_t& allowed) {
    std::string_view base = item;
    int step = 1;
    bool has_step = false;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
        base = item.substr(0, slash);
        std::string_view step_text = item.substr(slash + 1);
        auto number = read_number(step_text, field.max + 1);
        if (!number) {
            return tl::make_unexpected(
                fmt::format("{} field: invalid step '{}' in '{}'", field.name, step_text, item));
        }
        if (*number < 1 || *number > field.max - field.min) {
            return tl::make_unexpected(fmt::format("{} field: step '{}' out of range 1-{}",
                                                   field.name, step_text, field.max - field.min));
        }
        step = *number;
        has_step = true;
    }

    int first = field.min;
    int last = field.max;
    if (base == "*") {
        // the whole range
    } else if (auto dash = base.find('-'); dash != std::string_view::npos) {
        std::string_view start_text = base.substr(0, dash);
        std::string_view end_text = base.substr(dash + 1);
        if (start_text.empty() || end_text.empty()) {
            return tl::make_unexpected(
                fmt::format("{} field: invalid range '{}'", field.name, base));
        }
        auto start = parse_value(start_text, field);
        if (!start) {
            return tl::make_unexpected(start.error());
        }
        auto end = parse_value(end_text, field);
        if (!end) {
            return tl::make_unexpected(end.error());
        }
        first = *start;
        last = *end;
        // "FRI-SUN" is a natural way to write the end of the week; Sunday's other number makes it
        // an ordinary range.
        if (field.range_may_end_on_sunday && last == 0 && first > 0) {
            last = 7;
        }
        if (first > last) {
            return tl::make_unexpected(
                fmt::format("{} field: range '{}' runs backwards", field.name, base));
        }
    } else {
        auto value = parse_value(base, field);
        if (!value) {
            return tl::make_unexpected(value.error());
        }
        first = *value;
        last = has_step ? field.max : *value;
    }
    for (int value = first; value <= last; value += step) {
        allowed |= std::uint64_t{1} << value;
    }
    return {};
}

tl::expected<std::uint64_t, std::string> parse_field(std::string_view text,
                                                     const FieldSpec& field) {
    std::uint64_t allowed = 0;
    std::size_t position = 0;
    while (true) {
        std::size_t comma = text.find(',', position);
        std::string_view item = text.substr(
            position, comma == std::string_view::npos ? std::string_view::npos : comma - position);
        if (item.empty()) {
            return tl::make_unexpected(
                fmt::format("{} field: empty list item in '{}'", field.name, text));
        }
        if (auto parsed = parse_item(item, field, allowed); !parsed) {
            return tl::make_unexpected(parsed.error());
        }
        if (comma == std::string_view::npos) {
            return allowed;
        }
        position = comma + 1;
    }
}

tl::expected<std::string_view, std::string> expand_macro(std::string_view word,
                                                         std::size_t word_count) {
    if (equals_ignoring_case(word, "@reboot")) {
        return tl::make_unexpected(std::string(
            "cron macro '@reboot' is not supported: eye runs tasks at times of day, not at boot"));
    }
    for (const Macro& macro : k_macros) {
        if (equals_ignoring_case(word, macro.name)) {
            if (word_count != 1) {
                return tl::make_unexpected(fmt::format(
                    "cron macro '{}' must stand alone, got {} words", word, word_count));
            }
            return macro.expansion;
        }
    }
    return tl::make_unexpected(
        fmt::format("unknown cron macro '{}' (use @yearly, @annually, @monthly, @weekly, @daily, "
                    "@midnight or @hourly)",
                    word));
}

}  // namespace

tl::expected<CronExpression, std::string> CronExpression::parse(std::string_view text) {
    std::vector<std::string_view> words = split_words(text);
    if (!words.empty() && words.front().front() == '@') {
        auto expansion = expand_macro(words.front(), words.size());
        if (!expansion) {
            return tl::make_unexpected(expansion.error());
        }
        words = split_words(*expansion);
    }
    if (words.size() != 5) {
        return tl::make_unexpected(
            fmt::format("expected 5 fields, got {} in '{}'", words.size(), text));
    }

    std::uint64_t allowed[5] = {};
    for (std::size_t i = 0; i < 5; ++i) {
        auto parsed = parse_field(words[i], k_fields[i]);
        if (!parsed) {
            return tl::make_unexpected(parsed.error());
        }
        allowed[i] = *parsed;
    }

    CronFields fields;
    fields.minutes = std::bitset<60>(allowed[0]);
    fields.hours = std::bitset<24>(allowed[1]);
    fields.days_of_month = std::bitset<32>(allowed[2]);
    fields.months = std::bitset<13>(allowed[3]);
    std::uint64_t sunday_as_7 = (allowed[4] >> 7) & 1U;
    fields.days_of_week = std::bitset<7>(allowed[4] | sunday_as_7);
    fields.either_day_field = words[2] != "*" && words[4] != "*";
    return CronExpression(std::string(text), fields);
}

}  // namespace eye::schedule
