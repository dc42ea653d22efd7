#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
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

// A duration with a unit ("90s", "10m", "2h", "7d"); a bare number is seconds.
CLI::Option* add_duration(CLI::App& app, const std::string& flag, Milliseconds& target,
                          const std::string& help, Milliseconds minimum = Milliseconds(0));
// Laravel-style durations (--max-time, --timeout, --sleep): a bare number is seconds, as
// Laravel's flags have it, and a unit is welcome ("1h", "5m").
CLI::Option* add_seconds(CLI::App& app, const std::string& flag, Milliseconds& target,
                         const std::string& help, long long minimum = 0);
// How long to keep something (--keep-completed): a unit is required, since "7" could mean a
// week as easily as seven seconds; a bare number is refused with "7 what? write 7d".
CLI::Option* add_retention(CLI::App& app, const std::string& flag, Milliseconds& target,
                           const std::string& help, Milliseconds minimum = Milliseconds(0));
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

// What a config file may name: the sections of every command (by its executable, "eye-monitor",
// and by its eye name, "system:monitor") and the keys of every command's options.
struct ConfigVocabulary {
    std::set<std::string> sections;
    std::set<std::string> keys;  // long flag names without "--": "stuck-after"
};

// The command a config file is read for: which sections apply to it.
struct ConfigReader {
    std::string program;                           // "eye-monitor", or empty
    std::string command;                           // "system:monitor"
    const ConfigVocabulary* vocabulary = nullptr;  // null: every key of every section is kept
};

// A CLI11 config-file reader (INI or TOML, `key = value`). Keys outside a section and in
// [default] or [eye] apply to every command; a section named after the command (its executable
// or its eye name) applies to it alone and wins over those. A key may be spelled with '_' for
// '-'. A section or key that no command knows is warned about by name and skipped. Any key whose
// environment variable is set is dropped, so the environment wins over the file, as design §3
// orders them (database-url also gives way to DATABASE_URL and EYE_DATABASE_URL_FILE).
class EnvFirstConfig : public CLI::ConfigTOML {
public:
    EnvFirstConfig() = default;
    explicit EnvFirstConfig(ConfigReader reader) : m_reader(std::move(reader)) {}
    std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

private:
    ConfigReader m_reader;
};

}  // namespace eye::options
