#include "eye/schedule/schedule.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::schedule {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view k_always = "@always";

std::vector<std::string> split_words(std::string_view line) {
    std::vector<std::string> words;
    std::istringstream in{std::string(line)};
    for (std::string word; in >> word;) {
        words.push_back(word);
    }
    return words;
}

bool valid_name(const std::string& name) {
    if (name.empty()) {
        return false;
    }
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

// The programs a schedule can run (design section 2).
constexpr std::string_view k_programs[] = {"eye-monitor",   "eye-export",  "eye-train",
                                           "eye-reanalyze", "eye-cleanup", "eye-worker"};

// Day fields that cron implementations read differently: Debian's cron takes a day field that
// starts with '*' ("*/2") as unrestricted, so that both day fields must match, while Kubernetes
// and eye take only a plain '*' so, and match a day when either field does. A schedule that all
// of them run must not depend on the difference.
std::optional<std::string> ambiguous_days(const std::string& day_of_month,
                                          const std::string& day_of_week) {
    auto stepped_star = [](const std::string& field) {
        return field != "*" && field.front() == '*';
    };
    bool month_restricted = day_of_month != "*";
    bool week_restricted = day_of_week != "*";
    if ((stepped_star(day_of_month) && week_restricted) ||
        (stepped_star(day_of_week) && month_restricted)) {
        return fmt::format(
            "the day fields '{}' and '{}' mean different days to Debian's cron and to "
            "Kubernetes; write the stepped field as a range (1-31/2, 0-6/2) or make the other "
            "one '*'",
            day_of_month, day_of_week);
    }
    return std::nullopt;
}

}  // namespace

std::string ScheduledTask::command_line() const {
    std::string line = program;
    for (const auto& arg : args) {
        line += ' ' + arg;
    }
    return line;
}

const std::vector<ScheduledTask>& seed_schedule() {
    static const std::vector<ScheduledTask> k_schedule = {
        {"monitor",
         "monitor",
         "eye-monitor",
         "*/5 * * * *",
         {"--fix"},
         "health checks; --fix repairs what is stuck",
         4min,
         2min,
         0min},
        {"export",
         "export",
         "eye-export",
         "0 1 * * *",
         {"--limit=5000"},
         "export the newest completed images as training data",
         30min,
         30min,
         5min},
        // --timeout (1h by default) ends a training before the deployment's deadline does
        {"train",
         "train",
         "eye-train",
         "0 2 * * *",
         {"--min-images=50"},
         "train when enough new images arrived",
         75min,
         30min,
         5min},
        {"reanalyze",
         "reanalyze",
         "eye-reanalyze",
         "0 */6 * * *",
         {"--batch=25", "--priority=oldest"},
         "re-analyze the least recently analyzed images",
         15min,
         30min,
         5min},
        // the seed's "failed jobs retried automatically": analyses that failed during an outage
        // heal by themselves, bounded by --max-reanalyze-attempts
        {"reanalyze-failed",
         "reanalyze",
         "eye-reanalyze",
         "30 * * * *",
         {"--batch=25", "--priority=failed"},
         "retry the analyses that failed",
         15min,
         15min,
         2min},
        {"cleanup",
         "cleanup",
         "eye-cleanup",
         "0 3 * * 0",
         {"--hours=168"},
         "prune failed jobs and old history",
         60min,
         60min,
         15min},
        // kept running by its supervisor, which restarts it
        {"worker",
         "worker",
         "eye-worker",
         "",
         {"--max-jobs=0", "--max-time=0"},
         "process the analysis queue",
         0min,
         0min,
         0min},
    };
    return k_schedule;
}

tl::expected<std::vector<ScheduledTask>, std::string> read_schedule(std::string_view text) {
    std::vector<ScheduledTask> tasks;
    std::istringstream lines{std::string(text)};
    int number = 0;
    for (std::string line; std::getline(lines, line);) {
        ++number;
        auto words = split_words(line);
        if (words.empty() || words.front().front() == '#') {
            continue;
        }
        auto fail = [number](std::string why) {
            return tl::make_unexpected(fmt::format("line {}: {}", number, why));
        };
        ScheduledTask task;
        task.name = words[0];
        if (!valid_name(task.name)) {
            return fail(
                fmt::format("'{}' is not a task name (lowercase letters, digits, '-')", task.name));
        }
        for (const auto& other : tasks) {
            if (other.name == task.name) {
                return fail(fmt::format("task '{}' is listed twice", task.name));
            }
        }
        std::size_t at = 1;
        if (at < words.size() && words[at] == k_always) {
            ++at;
        } else {
            std::size_t fields = at < words.size() && words[at].front() == '@' ? 1 : 5;
            if (at + fields > words.size()) {
                return fail(fmt::format("'{}' has no complete schedule", task.name));
            }
            std::string expression;
            for (std::size_t i = 0; i < fields; ++i) {
                expression += (i > 0 ? " " : "") + words[at + i];
            }
            if (auto parsed = CronExpression::parse(expression); !parsed) {
                return fail(parsed.error());
            }
            if (fields == 5) {
                if (auto ambiguous = ambiguous_days(words[at + 2], words[at + 4])) {
                    return fail(*ambiguous);
                }
            }
            task.expression = expression;
            at += fields;
        }
        if (at >= words.size()) {
            return fail(fmt::format("'{}' names no program", task.name));
        }
        task.program = words[at++];
        if (std::find(std::begin(k_programs), std::end(k_programs), task.program) ==
            std::end(k_programs)) {
            return fail(fmt::format("'{}' is not one of eye's programs ({})", task.program,
                                    fmt::join(k_programs, ", ")));
        }
        task.task = task.program.substr(4);
        task.args.assign(words.begin() + static_cast<std::ptrdiff_t>(at), words.end());
        task.summary = task.command_line();
        task.deadline = 60min;
        task.start_window = 60min;
        for (const auto& seed : seed_schedule()) {
            if (seed.program == task.program) {
                task.deadline = seed.deadline;
                task.start_window = seed.start_window;
                break;
            }
        }
        tasks.push_back(std::move(task));
    }
    return tasks;
}

tl::expected<std::vector<ScheduledTask>, std::string> load_schedule(
    const std::filesystem::path& file) {
    std::ifstream in(file);
    if (!in) {
        return tl::make_unexpected(
            fmt::format("cannot read the schedule file '{}': {}", file.string(),
                        std::error_code(errno, std::generic_category()).message()));
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto tasks = read_schedule(text.str());
    if (!tasks) {
        return tl::make_unexpected(
            fmt::format("the schedule file '{}', {}", file.string(), tasks.error()));
    }
    return tasks;
}

std::string schedule_table(const std::vector<ScheduledTask>& tasks) {
    std::string out =
        "# eye's schedule: NAME EXPRESSION PROGRAM [ARGS...]\n"
        "# EXPRESSION is a 5-field cron expression or a macro (@daily); @always keeps a task\n"
        "# running. Read by eye schedule:work, schedule:list and schedule:export --schedule.\n";
    for (const auto& task : tasks) {
        std::string when = task.long_running() ? std::string(k_always) : task.expression;
        out += fmt::format("{:<18} {:<14} {}\n", task.name, when, task.command_line());
    }
    return out;
}

tl::expected<void, std::string> use_time_zone(const std::string& name) {
    const char* dir = std::getenv("TZDIR");
    std::filesystem::path zones = dir != nullptr && *dir != '\0' ? dir : "/usr/share/zoneinfo";
    bool plausible = !name.empty() && name.front() != '/' && name.find("..") == std::string::npos;
    std::error_code error;
    if (!plausible || !std::filesystem::is_regular_file(zones / name, error)) {
        return tl::make_unexpected(fmt::format(
            "unknown time zone '{}': there is no {}; hint: use a name of the tz database such "
            "as UTC or Europe/Berlin",
            name, (zones / name).string()));
    }
    setenv("TZ", name.c_str(), 1);
    tzset();
    return {};
}

std::string time_zone_name() {
    const char* tz = std::getenv("TZ");
    if (tz != nullptr && *tz != '\0') {
        return tz[0] == ':' ? std::string(tz + 1) : std::string(tz);
    }
    // the system's zone: Debian links /etc/localtime to its file under /usr/share/zoneinfo
    std::error_code error;
    auto target = std::filesystem::read_symlink("/etc/localtime", error).string();
    const std::string zones = "/zoneinfo/";
    if (auto at = target.find(zones); !error && at != std::string::npos) {
        return target.substr(at + zones.size());
    }
    return "the system's time zone";
}

std::string run_args_filter(const std::vector<ScheduledTask>& tasks, const ScheduledTask& entry) {
    std::vector<std::string> distinct;
    bool shared = false;
    for (const auto& arg : entry.args) {
        bool everyone_has_it = true;
        for (const auto& other : tasks) {
            if (&other == &entry || other.task != entry.task) {
                continue;
            }
            shared = true;
            if (std::find(other.args.begin(), other.args.end(), arg) == other.args.end()) {
                everyone_has_it = false;
            }
        }
        if (!everyone_has_it) {
            distinct.push_back(arg);
        }
    }
    json::Writer w;
    w.begin_array();
    if (shared) {
        for (const auto& arg : distinct) {
            w.value(arg);
        }
    }
    w.end_array();
    return w.take();
}

}  // namespace eye::schedule
