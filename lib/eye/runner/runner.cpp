#include "eye/runner/runner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <unistd.h>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/core/host.hpp"
#include "eye/core/stop.hpp"
#include "eye/core/time.hpp"
#include "eye/db/conninfo.hpp"
#include "eye/db/schema.hpp"
#include "eye/http/client.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/runner/reporting.hpp"
#include "eye/runner/run_record.hpp"
#include "eye/runner/suggest.hpp"
#include "eye/schedule/schedule.hpp"

namespace eye {
namespace {

using Clock = std::chrono::steady_clock;

const char* const k_help_footer =
    "Every --foo-bar option can also be given as the environment variable EYE_FOO_BAR or as\n"
    "'foo-bar = value' in the config file (flag > environment > file > default).\n"
    "Durations take a unit (90s, 10m, 2h, 7d); a bare number means seconds.\n"
    "Exit codes: 0 ok, 1 failed (monitor: warning), 2 critical, 3 unknown, 64 bad command\n"
    "line, 69 service unavailable, 70 internal error, 74 file error, 75 temporary failure\n"
    "(retry later), 78 configuration error.";

std::string join_args(const std::vector<std::string>& args) {
    std::string out;
    for (const auto& arg : args) {
        if (!out.empty()) {
            out += ' ';
        }
        out += arg;
    }
    return out;
}

std::string error_summary(const std::string& message, const std::string& hint) {
    json::Writer w;
    w.begin_object();
    w.field("error", message);
    if (!hint.empty()) {
        w.field("hint", hint);
    }
    w.end_object();
    return log::redact(w.take());
}

// /etc/eye/eye.conf when it can be seen; a directory we may not enter counts as no file.
std::string default_config_file() {
    std::error_code error;
    return std::filesystem::exists("/etc/eye/eye.conf", error) ? "/etc/eye/eye.conf"
                                                               : std::string();
}

struct Parsed {
    Config config;
    std::unique_ptr<Invocation> invocation;
    bool dry_run = false;
    bool fail_if_locked = false;
};

// The command's CLI11 application with every option bound into `parsed`; a config file is read
// as `reader` says.
std::unique_ptr<CLI::App> build_app(const Command& command, Parsed& parsed,
                                    options::ConfigReader reader = {}) {
    std::string title = command.summary;
    if (!command.description.empty()) {
        title += "\n\n" + command.description;
    }
    auto app = std::make_unique<CLI::App>(
        title, command.program.empty() ? "eye " + command.name : command.program);
    app->config_formatter(std::make_shared<options::EnvFirstConfig>(std::move(reader)));
    app->allow_config_extras(CLI::config_extras_mode::ignore);
    // EYE_CONFIG is applied by parse(): CLI11 reads the config file before the environment
    app->set_config("--config", "",
                    "read settings from this INI/TOML file: [default] for every command, "
                    "[eye-monitor] or [system:monitor] for one (default /etc/eye/eye.conf when "
                    "present) (Env:EYE_CONFIG)")
        ->type_name("FILE")
        ->group("Common options");
    app->set_version_flag("--version", std::string("eye ") + EYE_VERSION, "print eye's version");
    app->footer(k_help_footer);
    app->get_formatter()->column_width(34);

    add_common_settings(*app, parsed.config);
    if (command.traits.dry_run == CommandTraits::DryRun::offered) {
        options::add_switch(*app, "--dry-run", parsed.dry_run,
                            "show what would be done; write nothing but this run's record");
    }
    if (command.traits.lock == CommandTraits::Lock::per_task) {
        options::add_switch(*app, "--fail-if-locked", parsed.fail_if_locked,
                            "exit 75 instead of 0 when another run holds the task's lock");
    }
    parsed.invocation = command.make();
    parsed.invocation->add_options(*app, parsed.config);
    return app;
}

// Secrets are known before anything can log them: the AI token, the database password and the
// ping URL's key (its path) never reach a log line, a run record or a report.
void register_secrets(const Config& config) {
    log::add_secret(config.ai_token);
    if (auto conninfo = db::ConnInfo::parse(config.database_url)) {
        log::add_secret(conninfo->password());
    }
}

// Settings that expose a secret: on the command line every user of the machine can read it,
// and a bearer token over plain http to another host crosses the network readable.
void warn_about_exposed_secrets(const Config& config) {
    if (!config.ai_token.empty() && options::given_on_command_line("--ai-token")) {
        log::warning(
            "--ai-token on the command line can be read by every user of this machine (ps, "
            "/proc); hint: set EYE_AI_TOKEN or EYE_AI_TOKEN_FILE instead");
    }
    if (options::given_on_command_line("--database-url")) {
        auto conninfo = db::ConnInfo::parse(config.database_url);
        if (conninfo && !conninfo->password().empty()) {
            log::warning(
                "--database-url with a password can be read by every user of this machine (ps, "
                "/proc); hint: set EYE_DATABASE_URL or EYE_DATABASE_URL_FILE, or use ~/.pgpass");
        }
    }
    if (!config.ai_token.empty() && http::is_cleartext_to_remote(config.ai_url)) {
        log::warning(
            "the AI token is sent in clear text to '{}'; hint: use https, or keep the AI "
            "service on a private network",
            http::redact_url(config.ai_url));
    }
}

// "did you mean --stuck-after?" for the first flag on the command line the command does not
// have; otherwise the pointer to --help.
std::string flag_hint(const CLI::App& app, const std::vector<std::string>& args) {
    std::vector<std::string> flags;
    for (const CLI::Option* option : app.get_options()) {
        for (const auto& name : option->get_lnames()) {
            flags.push_back("--" + name);
        }
    }
    for (const auto& arg : args) {
        if (arg.rfind("--", 0) != 0 || arg == "--") {
            continue;
        }
        const std::string flag = arg.substr(0, arg.find('='));
        if (std::find(flags.begin(), flags.end(), flag) != flags.end()) {
            continue;
        }
        if (auto near = nearest_word(flag, flags)) {
            return fmt::format("did you mean {}? see '{} --help'", *near, app.get_name());
        }
    }
    return fmt::format("see '{} --help'", app.get_name());
}

// The hint for a parse error: "did you mean", or for a flag that came more often than the
// command line gives it, the config file's unquoted value with spaces that was split.
std::string parse_error_hint(const CLI::App& app, const std::vector<std::string>& args,
                             const std::string& error) {
    const auto colon = error.find(": At Most 1 required but received ");
    if (colon != std::string::npos) {
        const std::string flag = error.substr(0, colon);
        const auto given = std::count_if(args.begin(), args.end(), [&](const std::string& arg) {
            return arg == flag || arg.rfind(flag + "=", 0) == 0;
        });
        if (given < 2) {
            return fmt::format(
                "in a config file a value with spaces is split into several: put it in double "
                "quotes ({} = \"host=db dbname=eye\")",
                flag.substr(2));
        }
    }
    return flag_hint(app, args);
}

// The sections and keys a config file may hold: those of every command in `table`.
options::ConfigVocabulary config_vocabulary(const std::vector<Command>& table) {
    options::ConfigVocabulary vocabulary;
    for (const auto& command : table) {
        vocabulary.sections.insert(command.name);
        if (!command.program.empty()) {
            vocabulary.sections.insert(command.program);
        }
        Parsed unused;
        const auto app = build_app(command, unused);
        for (const CLI::Option* option : app->get_options()) {
            for (const auto& name : option->get_lnames()) {
                vocabulary.keys.insert(name);
            }
        }
    }
    return vocabulary;
}

// The run ends without the task's own report: the task prints what its output format promises
// (the monitor's Nagios line), which may also say which exit code that format reads.
int report_not_run(const Parsed& parsed, std::ostream& out, const NotRun& why, ExitCode code) {
    if (parsed.invocation) {
        if (auto own = parsed.invocation->report_not_run(out, why)) {
            return to_int(*own);
        }
    }
    return to_int(code);
}

std::string with_hint(const std::string& message, const std::string& hint) {
    return hint.empty() ? message : fmt::format("{}; hint: {}", message, hint);
}

// The command line without --config, for reading the flags when the config file cannot be read.
std::vector<std::string> without_config(const std::vector<std::string>& args) {
    std::vector<std::string> kept;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--config") {
            ++i;
        } else if (args[i].rfind("--config=", 0) != 0) {
            kept.push_back(args[i]);
        }
    }
    return kept;
}

// Parses the command line; returns an exit code when the run should end here (help, errors).
std::optional<int> parse(const Command& command, const std::vector<std::string>& args,
                         std::ostream& out, Parsed& parsed, const std::vector<Command>* table) {
    std::vector<std::string> effective = args;
    // the file named by --config, else by EYE_CONFIG, else the default one when present
    bool names_config = std::any_of(args.begin(), args.end(), [](const std::string& arg) {
        return arg == "--config" || arg.rfind("--config=", 0) == 0;
    });
    if (!names_config) {
        const char* named = std::getenv("EYE_CONFIG");
        std::string file = named != nullptr && *named != '\0' ? named : default_config_file();
        if (!file.empty()) {
            effective.push_back("--config=" + file);
            names_config = true;
        }
    }
    std::optional<options::ConfigVocabulary> vocabulary;
    if (names_config && table != nullptr) {
        vocabulary = config_vocabulary(*table);
    }
    auto app_holder = build_app(
        command, parsed, {command.program, command.name, vocabulary ? &*vocabulary : nullptr});
    CLI::App& app = *app_holder;
    options::set_command_line(args);
    try {
        app.parse(std::vector<std::string>(effective.rbegin(), effective.rend()));
    } catch (const CLI::CallForHelp&) {
        out << app.help();
        return 0;
    } catch (const CLI::CallForAllHelp&) {
        out << app.help("", CLI::AppFormatMode::All);
        return 0;
    } catch (const CLI::FileError& e) {
        const std::string message = fmt::format("cannot read the config file: {}", e.what());
        const std::string hint = "pass --config with a readable file, or unset EYE_CONFIG";
        log_error_with_hint(message, hint);
        // the task's report still takes the format given by flag or environment
        Parsed plain;
        const auto plain_app = build_app(command, plain);
        const auto plain_args = without_config(args);
        try {
            plain_app->parse(std::vector<std::string>(plain_args.rbegin(), plain_args.rend()));
        } catch (const CLI::Error&) {
            // what could not be read keeps its default
        }
        return report_not_run(plain, out, {false, with_hint(message, hint)}, ExitCode::config);
    } catch (const CLI::CallForVersion&) {
        out << "eye " << EYE_VERSION << "\n";
        return 0;
    } catch (const CLI::ParseError& e) {
        log_error_with_hint(plain_parse_error(e.what()), parse_error_hint(app, args, e.what()));
        return to_int(ExitCode::usage);
    }
    return std::nullopt;
}

struct Run {
    const Command& command;
    const std::vector<std::string>& args;
    Parsed& parsed;
    std::ostream& out;
    std::string display;
    std::string host = host_name();
    int pid = static_cast<int>(getpid());
    std::optional<db::Session> session;
    std::optional<std::int64_t> run_id;
    bool locked = false;  // holds the task's advisory lock
};

// Connects as the command's traits ask; for an optional database a failure is kept for the task
// to report.
void connect(Run& run, Context& context) {
    const auto& traits = run.command.traits;
    if (traits.database == CommandTraits::Database::none) {
        return;
    }
    try {
        run.session =
            db::Session::connect(run_record::connect_options(run.parsed.config, run.display));
        context.db = &*run.session;
    } catch (const Error& e) {
        // configuration eye cannot use is an error before any work, even where the task could
        // report a database that is down
        if (traits.database == CommandTraits::Database::required || e.code() == ExitCode::config) {
            throw;
        }
        context.connect_error = e.what();
        if (!e.hint().empty()) {
            context.connect_error += fmt::format("; hint: {}", e.hint());
        }
        context.connect_error_code = e.code();
    }
}

const db::Statement k_now{"runner.now", "SELECT extract(epoch from now())"};

Outcome execute(Run& run, Context& context) {
    const auto& traits = run.command.traits;
    connect(run, context);
    int schema_version = 0;
    if (context.db != nullptr) {
        db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
        context.now = from_epoch(tx.one(k_now)[0].as<double>());
        schema_version = db::read_schema_status(tx).version;
    } else {
        context.now = std::chrono::system_clock::now();
    }
    if (traits.schema == CommandTraits::Schema::current && context.db != nullptr &&
        schema_version < db::k_schema_version) {
        throw ConfigError(
            schema_version == 0
                ? fmt::format("the database '{}' has no eye schema", context.db->description())
                : fmt::format("the eye schema of '{}' is version {}, this eye needs {}",
                              context.db->description(), schema_version, db::k_schema_version),
            "run 'eye db:migrate' first");
    }
    bool can_record =
        traits.record == CommandTraits::Record::yes && context.db != nullptr && schema_version >= 1;
    bool take_lock =
        traits.lock == CommandTraits::Lock::per_task && run.parsed.invocation->takes_lock();
    if (take_lock && context.db != nullptr &&
        !run_record::try_lock(*context.db, run.command.task)) {
        auto holder = run_record::find_lock_holder(*context.db, run.command.task);
        Outcome skipped;
        skipped.note = fmt::format(
            "{} is already running (host {}, pid {}, since {})", run.display, holder.host,
            holder.pid, holder.since ? format_utc(*holder.since) : std::string("an unknown time"));
        log::info("skipped: {}", skipped.note);
        skipped.status = RunStatus::skipped;
        skipped.exit = run.parsed.fail_if_locked ? ExitCode::temp_fail : ExitCode::ok;
        if (can_record) {
            run_record::begin(*context.db, run.command.task, run.host, run.pid, run.args,
                              run.parsed.dry_run, RunStatus::skipped, skipped.exit);
        }
        return skipped;
    }
    run.locked = take_lock && context.db != nullptr;
    if (run.locked) {
        context.release_lock = [&run] {
            if (run.locked) {
                run_record::unlock(*run.session, run.command.task);
                run.locked = false;
            }
        };
    }
    if (can_record) {
        run.run_id = run_record::begin(*context.db, run.command.task, run.host, run.pid, run.args,
                                       run.parsed.dry_run);
        context.run_id = run.run_id;
        // a dry run writes nothing but its own record
        if (auto closed = run.parsed.dry_run ? 0
                                             : run_record::close_abandoned(
                                                   *context.db, *run.run_id,
                                                   take_lock ? &run.command.task : nullptr);
            closed > 0) {
            log::warning("marked {} earlier run(s) whose process is gone as failed", closed);
        }
    }

    std::string target =
        context.db != nullptr ? context.db->description() : std::string("(not connected)");
    log::info("{} begin: host={} pid={} database={}{}{}", run.display, run.host, run.pid, target,
              run.args.empty() ? "" : " args=", join_args(run.args));
    return run.parsed.invocation->run(context);
}

void finish_record(Run& run, const Outcome& outcome) {
    if (!run.session || !run.run_id) {
        return;
    }
    try {
        run_record::finish(*run.session, *run.run_id, outcome);
    } catch (const Error& e) {
        log::warning("could not record the end of run {} in eye.runs: {}", *run.run_id, e.what());
    }
}

}  // namespace

void log_error_with_hint(const std::string& message, const std::string& hint) {
    if (hint.empty()) {
        log::error("{}", message);
    } else {
        log::error("{}; hint: {}", message, hint);
    }
}

void configure_early_logging(const std::string& display) {
    auto level = log::Level::info;
    auto format = log::Format::text;
    if (const char* text = std::getenv("EYE_LOG_LEVEL")) {
        level = log::parse_level(text).value_or(level);
    }
    if (const char* text = std::getenv("EYE_LOG_FORMAT")) {
        format = log::parse_format(text).value_or(format);
    }
    log::configure(level, format, display);
}

std::string_view run_status_name(RunStatus status) {
    switch (status) {
        case RunStatus::ok:
            return "ok";
        case RunStatus::warning:
            return "warning";
        case RunStatus::failed:
            return "failed";
        case RunStatus::skipped:
            return "skipped";
    }
    return "failed";
}

int run_command(const Command& command, const std::vector<std::string>& args, std::ostream& out,
                const std::vector<Command>* table) {
    std::string display = command.display_name();
    configure_early_logging(display);
    // what the task reports passes through redaction on its way out, as log lines do
    log::RedactingBuffer redacting(out);
    std::ostream report(&redacting);
    Parsed parsed;
    try {
        if (auto done = parse(command, args, report, parsed, table)) {
            return *done;
        }
        resolve_config(parsed.config);
        register_secrets(parsed.config);
        if (!parsed.config.time_zone.empty()) {
            if (auto zone = schedule::use_time_zone(parsed.config.time_zone); !zone) {
                throw ConfigError(zone.error());
            }
        }
        parsed.invocation->validate(parsed.config);
        if (auto conninfo = db::ConnInfo::parse(parsed.config.database_url); !conninfo) {
            throw ConfigError(
                fmt::format("invalid database URL: {}", log::redact(conninfo.error())),
                "set EYE_DATABASE_URL to a URL such as postgresql://user@host:5432/dbname");
        }
    } catch (const Error& e) {
        log_error_with_hint(e.what(), e.hint());
        return report_not_run(parsed, report, {false, with_hint(e.what(), e.hint())}, e.code());
    } catch (const std::exception& e) {
        log_error_with_hint(fmt::format("internal error: {}", e.what()),
                            "this is a bug in eye; please report it with the log");
        return report_not_run(parsed, report, {false, fmt::format("internal error: {}", e.what())},
                              ExitCode::software);
    }
    log::configure(log::parse_level(parsed.config.log_level).value_or(log::Level::info),
                   log::parse_format(parsed.config.log_format).value_or(log::Format::text),
                   display);
    warn_about_exposed_secrets(parsed.config);
    stop::install_handlers();

    Run run{command, args, parsed, report, display, host_name(), static_cast<int>(getpid()),
            {},      {}};
    Context context{parsed.config, report, display, command.task, nullptr, {},
                    ExitCode::ok,  {},     false,   {},           {}};
    context.dry_run = parsed.dry_run;
    auto started_wall = std::chrono::system_clock::now();
    auto started = Clock::now();

    // a dry run is a preview, not a run of the task: the metrics and pings that tell whether the
    // task does its work leave it out
    const bool reports_run = command.traits.record == CommandTraits::Record::yes && !parsed.dry_run;
    std::optional<reporting::Pinger> pinger;
    if (reports_run && !parsed.config.ping_url.empty()) {
        pinger.emplace(parsed.config.ping_url, "eye-" + command.task);
        pinger->start();
    }

    Outcome outcome;
    std::optional<NotRun> not_run;
    try {
        outcome = execute(run, context);
        if (outcome.status == RunStatus::skipped) {
            not_run = NotRun{true, outcome.note};
        }
    } catch (const Error& e) {
        log_error_with_hint(e.what(), e.hint());
        outcome.exit = e.code();
        outcome.status = RunStatus::failed;
        outcome.summary_json = error_summary(e.what(), e.hint());
        not_run = NotRun{false, with_hint(e.what(), e.hint())};
    } catch (const std::exception& e) {
        log_error_with_hint(fmt::format("internal error: {}", e.what()),
                            "this is a bug in eye; please report it with the log");
        outcome.exit = ExitCode::software;
        outcome.status = RunStatus::failed;
        outcome.summary_json = error_summary(e.what(), {});
        not_run = NotRun{false, fmt::format("internal error: {}", e.what())};
    }
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);

    if (outcome.status != RunStatus::skipped) {
        finish_record(run, outcome);
    }
    if (run.locked) {
        // released now rather than when the server notices the connection is gone, which under
        // load can be after the next run of the task has started and found it still held
        run_record::unlock(*run.session, command.task);
    }
    if (reports_run && !parsed.config.metrics_dir.empty()) {
        reporting::write_metrics(parsed.config.metrics_dir, command.task, {started_wall, elapsed},
                                 outcome);
    }
    if (pinger) {
        pinger->finish(outcome.exit);
    }
    if (outcome.status != RunStatus::skipped) {
        std::string status(run_status_name(outcome.status));
        if (outcome.exit != ExitCode::ok) {
            status += fmt::format(" (exit {})", to_int(outcome.exit));
        }
        log::info("{} end: {} in {} ms{}", display, status, elapsed.count(),
                  outcome.note.empty() ? "" : " (" + outcome.note + ")");
    }
    if (not_run) {
        return report_not_run(parsed, report, *not_run, outcome.exit);
    }
    return to_int(outcome.exit);
}

std::string command_help(const Command& command) {
    Parsed parsed;
    return build_app(command, parsed)->help();
}

}  // namespace eye
