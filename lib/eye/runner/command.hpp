#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "eye/config/config.hpp"
#include "eye/core/exit_code.hpp"
#include "eye/db/session.hpp"

// What a task sees of the runner, and what it gives back. The runner owns parsing, logging,
// locking, the eye.runs record, the begin and end lines, metrics, pings and the mapping of errors
// to exit codes; a task only does its job.
namespace eye {

enum class RunStatus { ok, warning, failed, skipped };
std::string_view run_status_name(RunStatus status);

struct Outcome {
    ExitCode exit = ExitCode::ok;
    RunStatus status = RunStatus::ok;
    std::string summary_json = "{}";  // stored in eye.runs.summary
    std::string note;                 // shown in the end line: "eye-monitor end: ok in 8 ms (note)"
    // the task's own counts for the metrics file: name (without prefix) and value
    std::vector<std::pair<std::string, double>> metrics;
};

struct Context {
    const Config& config;
    std::ostream& out;    // reports go here; logs go to stderr
    std::string program;  // "eye-monitor", or "eye db:migrate" for commands without a program
    std::string task;     // "monitor": runs.task, the lock's name, the metrics file name
    // The database session, or null when the command may run without one (the monitor) and the
    // connection failed; connect_error then says why.
    db::Session* db = nullptr;
    std::string connect_error;
    ExitCode connect_error_code = ExitCode::ok;
    // "now", read once from the database at the start of the run (the machine's clock when
    // there is no database), so every "older than" in one run means the same instant.
    db::TimePoint now;
    bool dry_run = false;
};

// How the runner treats a command.
struct CommandTraits {
    enum class Database { required, optional, none };
    Database database = Database::required;
    bool needs_schema = true;  // refuses to run before db:migrate
    bool locked = true;        // one run at a time per task, across hosts
    bool recorded = true;      // leaves an eye.runs row, metrics and pings
    bool writes = true;        // offers --dry-run
    // When set, the lock is taken only when this flag is on the command line: a read-only
    // monitor run must not be skipped while a repairing one holds the lock.
    const char* lock_only_with = nullptr;
};

// One parsed invocation of a task: its options, bound to flags, then its run.
class Invocation {
public:
    virtual ~Invocation() = default;
    virtual void add_options(CLI::App& app, Config& config) = 0;
    // Checks that the options fit together, after parsing and before anything is written;
    // throws UsageError or ConfigError.
    virtual void validate(const Config& config) const = 0;
    virtual Outcome run(Context& context) = 0;
};

template <typename Options>
using AddOptions = void (*)(CLI::App&, Config&, Options&);
template <typename Options>
using RunTask = Outcome (*)(Context&, const Options&);
template <typename Options>
using ValidateOptions = void (*)(const Config&, const Options&);

// Adapts a task's options struct and its two functions to an Invocation.
template <typename Options>
class TaskInvocation final : public Invocation {
public:
    TaskInvocation(AddOptions<Options> add, RunTask<Options> run_task,
                   ValidateOptions<Options> check)
        : m_add(add), m_run(run_task), m_validate(check) {}
    void add_options(CLI::App& app, Config& config) override { m_add(app, config, m_options); }
    void validate(const Config& config) const override {
        if (m_validate != nullptr) {
            m_validate(config, m_options);
        }
    }
    Outcome run(Context& context) override { return m_run(context, m_options); }

private:
    Options m_options;
    AddOptions<Options> m_add;
    RunTask<Options> m_run;
    ValidateOptions<Options> m_validate;
};

struct Command {
    std::string name;           // artisan-style name: "system:monitor"
    std::string program;        // its own executable, "eye-monitor", or empty
    std::string task;           // "monitor"
    std::string summary;        // one line for `eye list` and --help
    std::string description;    // a paragraph for --help (may be empty)
    std::string schedule;       // seed cron expression, empty when not scheduled
    std::string schedule_args;  // arguments the schedule passes: "--fix"
    CommandTraits traits;
    std::function<std::unique_ptr<Invocation>()> make;

    // the name used in log lines: the program, or the artisan name
    std::string display_name() const { return program.empty() ? name : program; }
};

template <typename Options>
std::function<std::unique_ptr<Invocation>()> make_task(AddOptions<Options> add,
                                                       RunTask<Options> run,
                                                       ValidateOptions<Options> check = nullptr) {
    return [add, run, check] { return std::make_unique<TaskInvocation<Options>>(add, run, check); };
}

}  // namespace eye
