#include "eye/config/options.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/log/log.hpp"

namespace eye::options {
namespace {

std::set<std::string>& typed_flags() {
    static std::set<std::string> flags;
    return flags;
}

// Throws the error that fits where the value came from.
[[noreturn]] void reject(const std::string& flag, const std::string& value,
                         const std::string& reason) {
    if (typed_flags().count(flag) != 0) {
        throw CLI::ValidationError(flag, fmt::format("invalid value '{}': {}", value, reason));
    }
    throw ConfigError(
        fmt::format("invalid value '{}' for {} (from {} or the config file): {}", value, flag,
                    env_name(flag), reason),
        fmt::format("fix {} or the '{}' key in the config file", env_name(flag), flag.substr(2)));
}

std::string trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return std::string(text);
}

CLI::Option* with_env(CLI::Option* option, const std::string& flag) {
    return option->envname(env_name(flag));
}

}  // namespace

std::string env_name(std::string_view flag) {
    while (!flag.empty() && flag.front() == '-') {
        flag.remove_prefix(1);
    }
    std::string out = "EYE_";
    for (char c : flag) {
        out += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return out;
}

void set_command_line(const std::vector<std::string>& args) {
    typed_flags().clear();
    for (const auto& arg : args) {
        if (arg == "--") {
            break;
        }
        if (arg.rfind("--", 0) == 0) {
            typed_flags().insert(arg.substr(0, arg.find('=')));
        }
    }
}

bool given_on_command_line(std::string_view flag) {
    return typed_flags().count(std::string(flag)) != 0;
}

namespace {

bool is_whole_number(const std::string& text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
}

// The duration flags differ only in what a bare number means and how the default is shown.
enum class BareNumber { seconds, refused };

CLI::Option* add_time_option(CLI::App& app, const std::string& flag, Milliseconds& target,
                             const std::string& help, Milliseconds minimum, BareNumber bare) {
    auto* option = app.add_option_function<std::string>(
        flag,
        [&target, flag, minimum, bare](const std::string& value) {
            const std::string text = trim(value);
            if (bare == BareNumber::refused && is_whole_number(text)) {
                reject(flag, value, fmt::format("{0} what? write {0}d (days), {0}h or {0}m", text));
            }
            auto parsed = parse_duration(text);
            if (!parsed) {
                reject(flag, value, parsed.error());
            }
            if (*parsed < minimum) {
                reject(flag, value, fmt::format("must be at least {}", format_duration(minimum)));
            }
            target = *parsed;
        },
        help);
    option->default_str(format_duration(target))->type_name("DURATION");
    return with_env(option, flag);
}

}  // namespace

CLI::Option* add_duration(CLI::App& app, const std::string& flag, Milliseconds& target,
                          const std::string& help, Milliseconds minimum) {
    return add_time_option(app, flag, target, help, minimum, BareNumber::seconds);
}

CLI::Option* add_seconds(CLI::App& app, const std::string& flag, Milliseconds& target,
                         const std::string& help, long long minimum) {
    return add_time_option(app, flag, target, help + " (a bare number is seconds)",
                           Milliseconds(minimum * 1000), BareNumber::seconds);
}

CLI::Option* add_retention(CLI::App& app, const std::string& flag, Milliseconds& target,
                           const std::string& help, Milliseconds minimum) {
    return add_time_option(app, flag, target, help, minimum, BareNumber::refused);
}

CLI::Option* add_int(CLI::App& app, const std::string& flag, long long& target,
                     const std::string& help, long long minimum, long long maximum) {
    auto* option = app.add_option_function<std::string>(
        flag,
        [&target, flag, minimum, maximum](const std::string& value) {
            std::string text = trim(value);
            char* end = nullptr;
            errno = 0;
            long long number = std::strtoll(text.c_str(), &end, 10);
            if (text.empty() || *end != '\0' || errno != 0) {
                reject(flag, value, "expected a whole number");
            }
            if (number < minimum || number > maximum) {
                reject(flag, value, fmt::format("must be between {} and {}", minimum, maximum));
            }
            target = number;
        },
        help);
    option->default_str(std::to_string(target))->type_name("N");
    return with_env(option, flag);
}

CLI::Option* add_size(CLI::App& app, const std::string& flag, std::uint64_t& target,
                      const std::string& help) {
    auto* option = app.add_option_function<std::string>(
        flag,
        [&target, flag](const std::string& value) {
            auto parsed = parse_size(trim(value));
            if (!parsed) {
                reject(flag, value, parsed.error());
            }
            target = *parsed;
        },
        help);
    option->default_str(format_size(target))->type_name("SIZE");
    return with_env(option, flag);
}

CLI::Option* add_string(CLI::App& app, const std::string& flag, std::string& target,
                        const std::string& help) {
    auto* option = app.add_option_function<std::string>(
        flag, [&target](const std::string& value) { target = trim(value); }, help);
    if (!target.empty()) {
        option->default_str(target);
    }
    option->type_name("TEXT");
    return with_env(option, flag);
}

CLI::Option* add_choice(CLI::App& app, const std::string& flag, std::string& target,
                        const std::string& help, const std::vector<std::string>& choices) {
    auto* option = app.add_option_function<std::string>(
        flag,
        [&target, flag, choices](const std::string& value) {
            std::string text = trim(value);
            for (const auto& choice : choices) {
                if (text == choice) {
                    target = text;
                    return;
                }
            }
            reject(flag, value, fmt::format("expected one of {}", fmt::join(choices, ", ")));
        },
        help);
    option->default_str(target)->type_name(fmt::format("{}", fmt::join(choices, "|")));
    return with_env(option, flag);
}

CLI::Option* add_checked_string(
    CLI::App& app, const std::string& flag, std::string& target, const std::string& help,
    std::function<std::optional<std::string>(const std::string&)> check) {
    auto* option = app.add_option_function<std::string>(
        flag,
        [&target, flag, check](const std::string& value) {
            std::string text = trim(value);
            if (auto reason = check(text)) {
                reject(flag, value, *reason);
            }
            target = text;
        },
        help);
    option->default_str(target)->type_name("TEXT");
    return with_env(option, flag);
}

CLI::Option* add_list(CLI::App& app, const std::string& flag, std::vector<std::string>& target,
                      const std::string& help) {
    auto* option = app.add_option_function<std::string>(
        flag,
        [&target](const std::string& value) {
            target.clear();
            std::string_view rest = value;
            while (!rest.empty()) {
                auto comma = rest.find(',');
                std::string item = trim(rest.substr(0, comma));
                if (!item.empty()) {
                    target.push_back(item);
                }
                if (comma == std::string_view::npos) {
                    break;
                }
                rest.remove_prefix(comma + 1);
            }
        },
        help);
    option->type_name("LIST");
    return with_env(option, flag);
}

CLI::Option* add_switch(CLI::App& app, const std::string& flag, bool& target,
                        const std::string& help) {
    return app.add_flag(flag, target, help);
}

CLI::Option* add_bool(CLI::App& app, const std::string& flag, bool& target,
                      const std::string& help) {
    auto* option = app.add_option_function<std::string>(
        flag,
        [&target, flag](const std::string& value) {
            std::string text = trim(value);
            for (auto& c : text) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            if (text == "true" || text == "1" || text == "yes" || text == "on") {
                target = true;
            } else if (text == "false" || text == "0" || text == "no" || text == "off") {
                target = false;
            } else {
                reject(flag, value, "expected true or false");
            }
        },
        help);
    option->default_str(target ? "true" : "false")->type_name("BOOL");
    return with_env(option, flag);
}

std::vector<CLI::ConfigItem> EnvFirstConfig::from_config(std::istream& input) const {
    auto is_set = [](const std::string& name) {
        const char* value = std::getenv(name.c_str());
        return value != nullptr && *value != '\0';
    };
    const ConfigVocabulary* vocabulary = m_reader.vocabulary;
    std::vector<CLI::ConfigItem> general;
    std::vector<CLI::ConfigItem> specific;
    std::set<std::string> warned;
    for (auto& item : CLI::ConfigTOML::from_config(input)) {
        if (item.name == "++" || item.name == "--") {
            continue;  // CLI11's marks where a section opens and closes: sections are ours
        }
        std::string section;
        for (const auto& parent : item.parents) {
            section += (section.empty() ? "" : ".") + parent;
        }
        if (section.empty()) {
            section = "default";
        }
        std::string key = item.name;
        std::replace(key.begin(), key.end(), '_', '-');
        if (vocabulary != nullptr) {
            const bool shared = section == "default" || section == "eye";
            if (!shared && vocabulary->sections.count(section) == 0) {
                if (warned.insert("[" + section + "]").second) {
                    log::warning(
                        "config file: unknown section [{}] (sections: [default], "
                        "[eye], or a command such as [eye-monitor] or "
                        "[system:monitor]); its settings are ignored",
                        section);
                }
                continue;
            }
            if (vocabulary->keys.count(key) == 0) {
                if (warned.insert(section + "." + key).second) {
                    log::warning(
                        "config file: unknown setting '{}' in [{}]; it is ignored "
                        "(the settings are the flags' names without '--')",
                        item.name, section);
                }
                continue;
            }
            const bool mine = section == m_reader.program || section == m_reader.command;
            if (!shared && !mine) {
                continue;  // another command's section
            }
            item.parents.clear();
            item.name = key;
            bool overridden = is_set(env_name(key));
            if (key == "database-url") {
                overridden =
                    overridden || is_set("EYE_DATABASE_URL_FILE") || is_set("DATABASE_URL");
            }
            if (!overridden) {
                (mine ? specific : general).push_back(std::move(item));
            }
            continue;
        }
        // no vocabulary (help pages, tests of the precedence alone): every top-level key
        bool overridden = is_set(env_name(key));
        if (key == "database-url") {
            overridden = overridden || is_set("EYE_DATABASE_URL_FILE") || is_set("DATABASE_URL");
        }
        if (!overridden && item.parents.empty()) {
            item.name = key;
            general.push_back(std::move(item));
        }
    }
    // the command's own section wins over the shared ones
    std::vector<CLI::ConfigItem> kept;
    for (auto& item : general) {
        const bool replaced =
            std::any_of(specific.begin(), specific.end(),
                        [&](const CLI::ConfigItem& other) { return other.name == item.name; });
        if (!replaced) {
            kept.push_back(std::move(item));
        }
    }
    for (auto& item : specific) {
        kept.push_back(std::move(item));
    }
    return kept;
}

}  // namespace eye::options
