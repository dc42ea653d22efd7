#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "eye/core/units.hpp"

// Typed flags for CLI11 with eye's rules: `--foo-bar` is also EYE_FOO_BAR and a key `foo-bar` in
// the config file (flag > environment > file > default); values are checked when parsed, and a
// bad value names the flag, the value and what would be accepted. A bad value typed on the
// command line is a usage error (exit 64); one from the environment or the config file is a
// configuration error (exit 78).
namespace eye::options {

// "--stuck-after" -> "EYE_STUCK_AFTER".
std::string env_name(std::string_view flag);

// Tells the value checks which flags were typed on the command line (set by the runner).
void set_command_line(const std::vector<std::string>& args);
// Whether `flag` ("--ai-token") was typed on the command line, where every user of the machine
// can read it (ps, /proc).
bool given_on_command_line(std::string_view flag);

CLI::Option* add_duration(CLI::App& app, const std::string& flag, Milliseconds& target,
                          const std::string& help, Milliseconds minimum = Milliseconds(0));
// Laravel-style durations in whole seconds (--max-time, --timeout, --sleep).
CLI::Option* add_seconds(CLI::App& app, const std::string& flag, Milliseconds& target,
                         const std::string& help, long long minimum = 0);
CLI::Option* add_int(CLI::App& app, const std::string& flag, long long& target,
                     const std::string& help, long long minimum, long long maximum);
CLI::Option* add_size(CLI::App& app, const std::string& flag, std::uint64_t& target,
                      const std::string& help);
CLI::Option* add_string(CLI::App& app, const std::string& flag, std::string& target,
                        const std::string& help);
CLI::Option* add_choice(CLI::App& app, const std::string& flag, std::string& target,
                        const std::string& help, const std::vector<std::string>& choices);
// A string that `check` accepts (it returns the reason when it does not).
CLI::Option* add_checked_string(
    CLI::App& app, const std::string& flag, std::string& target, const std::string& help,
    std::function<std::optional<std::string>(const std::string&)> check);

// A comma-separated list ("llava:13b,nomic-embed-text").
CLI::Option* add_list(CLI::App& app, const std::string& flag, std::vector<std::string>& target,
                      const std::string& help);
// An on/off switch given on the command line only (--fix, --dry-run, --force).
CLI::Option* add_switch(CLI::App& app, const std::string& flag, bool& target,
                        const std::string& help);
// A boolean setting that also reads EYE_FOO_BAR=true|false|1|0.
CLI::Option* add_bool(CLI::App& app, const std::string& flag, bool& target,
                      const std::string& help);

// A CLI11 config-file reader that drops any key whose environment variable is set, so the
// environment wins over the file, as design §3 orders them. `extra_env` lists additional
// variables that override a key (database-url: DATABASE_URL, EYE_DATABASE_URL_FILE).
class EnvFirstConfig : public CLI::ConfigTOML {
public:
    std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

}  // namespace eye::options
