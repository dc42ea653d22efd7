#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
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

// One of a task's own counts in its metrics file: eye_<task>_<name>, with its # HELP line.
struct Metric {
    std::string name;  // "deleted", "jobs_completed"; with a unit suffix where it has one
    double value = 0;
    std::string help;  // "Rows deleted by the last run."
};

struct Outcome {
    ExitCode exit = ExitCode::ok;
    RunStatus status = RunStatus::ok;
    std::string summary_json = "{}";  // stored in eye.runs.summary
    std::string note;                 // shown in the end line: "eye-monitor end: ok in 8 ms (note)"
    // the task's own counts for the metrics file
    std::vector<Metric> metrics;
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
    TimePoint now;
    bool dry_run = false;
    // The run's eye.runs row, when it has one.
    std::optional<std::int64_t> run_id;
    // Gives the task's lock back before the run ends, for long work that a lock of its own
    // guards (the monitor's model pull), so the next runs of the task go on meanwhile. Null
    // when the run holds no lock.
    std::function<void()> release_lock;
};

// How the runner treats a command; each field a type of its own, so a table row cannot swap two.
struct CommandTraits {
    enum class Database { required, optional, none };  // optional: the task reports it down
    enum class Schema { current, any };                // current: refuses to run before db:migrate
    enum class Lock { per_task, none };                // per_task: one run at a time, across hosts
    enum class Record { yes, no };                     // yes: an eye.runs row, metrics and pings
    enum class DryRun { offered, no };  // offered: the command writes, --dry-run shows what

    Database database = Database::required;
    Schema schema = Schema::current;
    Lock lock = Lock::per_task;
    Record record = Record::yes;
    DryRun dry_run = DryRun::offered;
};

// Why a run ends without its task's own report: another run holds the lock, or an error came
// before (or out of) the task, such as a database that refuses the login.
struct NotRun {
    bool skipped = false;
    std::string reason;  // one line: "eye-monitor --fix is already running (host a, pid 7)"
};

// One parsed invocation of a task: its options, bound to flags, then its run.
class Invocation {
public:
    virtual ~Invocation() = default;
    virtual void add_options(CLI::App& app, Config& config) = 0;
    // Checks that the options fit together, after parsing and before anything is written;
    // throws UsageError or ConfigError.
    virtual void validate(const Config& config) const = 0;
    // Whether this run takes the task's lock, decided from the parsed options (flag, variable
    // or config file alike): a read-only monitor run must not be skipped while a repairing one
    // holds the lock. Asked only for commands whose traits lock.
    virtual bool takes_lock() const = 0;
    virtual Outcome run(Context& context) = 0;
    // Prints what the task's output format promises when the run ends without the task's own
    // report (a Nagios line, a JSON document); returns the exit code to use instead of the
    // runner's, if the format has its own. Most tasks print nothing.
    virtual std::optional<ExitCode> report_not_run(std::ostream& /*out*/,
                                                   const NotRun& /*why*/) const {
        return std::nullopt;
    }
};

template <typename Options>
using AddOptions = void (*)(CLI::App&, Config&, Options&);
template <typename Options>
using RunTask = Outcome (*)(Context&, const Options&);
template <typename Options>
using ValidateOptions = void (*)(const Config&, const Options&);
template <typename Options>
using TakesLock = bool (*)(const Options&);
template <typename Options>
using ReportNotRun = std::optional<ExitCode> (*)(std::ostream&, const Options&, const NotRun&);

// A task's functions over its options struct. validate, takes_lock and report_not_run may be
// left null: no checks beyond the flags' own, every run takes the lock, and a run that does not
// happen prints nothing.
template <typename Options>
struct TaskFunctions {
    AddOptions<Options> add_options;
    RunTask<Options> run;
    ValidateOptions<Options> validate = nullptr;
    TakesLock<Options> takes_lock = nullptr;
    ReportNotRun<Options> report_not_run = nullptr;
};

// Adapts a task's options struct and its functions to an Invocation.
template <typename Options>
class TaskInvocation final : public Invocation {
public:
    explicit TaskInvocation(TaskFunctions<Options> functions) : m_functions(functions) {}
    void add_options(CLI::App& app, Config& config) override {
        m_functions.add_options(app, config, m_options);
    }
    void validate(const Config& config) const override {
        if (m_functions.validate != nullptr) {
            m_functions.validate(config, m_options);
        }
    }
    bool takes_lock() const override {
        return m_functions.takes_lock == nullptr || m_functions.takes_lock(m_options);
    }
    Outcome run(Context& context) override { return m_functions.run(context, m_options); }
    std::optional<ExitCode> report_not_run(std::ostream& out, const NotRun& why) const override {
        if (m_functions.report_not_run == nullptr) {
            return std::nullopt;
        }
        return m_functions.report_not_run(out, m_options, why);
    }

private:
    Options m_options;
    TaskFunctions<Options> m_functions;
};

struct Command {
    std::string name;         // artisan-style name: "system:monitor"
    std::string program;      // its own executable, "eye-monitor", or empty
    std::string task;         // "monitor": eye.runs.task, the lock's name, the metrics file
    std::string summary;      // one line for `eye list` and --help
    std::string description;  // a paragraph for --help (may be empty)
    CommandTraits traits;
    std::function<std::unique_ptr<Invocation>()> make;

    // the name used in log lines: the program, or the artisan name
    std::string display_name() const { return program.empty() ? name : program; }
};

template <typename Options>
std::function<std::unique_ptr<Invocation>()> make_task(TaskFunctions<Options> functions) {
    return [functions] { return std::make_unique<TaskInvocation<Options>>(functions); };
}

}  // namespace eye
