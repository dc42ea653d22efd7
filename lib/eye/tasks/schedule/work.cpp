#include "eye/tasks/schedule/work.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/log/log.hpp"
#include "eye/schedule/cron.hpp"
#include "eye/schedule/schedule.hpp"
#include "eye/tasks/schedule/table.hpp"

namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr Milliseconds k_first_restart_pause = 1s;
constexpr Milliseconds k_longest_restart_pause = 60s;
// a worker that ran at least this long ended normally (--max-jobs, --max-time), not in a loop
constexpr Milliseconds k_healthy_run = 60s;

struct Child {
    std::string label;  // "eye-monitor --fix"
    std::string task;   // two runs of one task never run at once
    int worker_slot = -1;
    Clock::time_point started;
    TimePoint started_wall;
};

struct WorkerSlot {
    pid_t pid = 0;
    Clock::time_point restart_at;
    Milliseconds pause = k_first_restart_pause;
};

struct DueTask {
    const schedule::ScheduledTask* task;
    schedule::CronExpression cron;
    std::optional<TimePoint> next;
};

// The program beside the running eye (the build directory, /usr/local/bin), else from PATH.
std::string program_path(const std::string& program) {
    std::error_code error;
    auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (!error) {
        auto beside = self.parent_path() / program;
        if (access(beside.c_str(), X_OK) == 0) {
            return beside.string();
        }
    }
    return program;
}

std::string describe_end(int status) {
    if (WIFEXITED(status)) {
        return fmt::format("exit {}", WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return fmt::format("killed by signal {} ({})", WTERMSIG(status),
                           strsignal(WTERMSIG(status)));
    }
    return "ended";
}

std::string seconds_text(Clock::duration span) {
    return fmt::format("{:.1f}s", std::chrono::duration<double>(span).count());
}

class Scheduler {
public:
    Scheduler(std::vector<schedule::ScheduledTask> tasks, const ScheduleWorkOptions& options)
        : m_tasks(std::move(tasks)), m_options(options) {}

    Outcome run();

private:
    void start(const schedule::ScheduledTask& task, int worker_slot = -1);
    void reap(bool wait);
    void run_due(TimePoint now);
    void keep_workers();
    Milliseconds time_to_next_event(TimePoint now) const;
    void stop_children();

    std::vector<schedule::ScheduledTask> m_tasks;
    const ScheduleWorkOptions& m_options;
    std::vector<DueTask> m_due;
    schedule::ScheduledTask m_worker;
    std::vector<WorkerSlot> m_slots;
    std::map<pid_t, Child> m_children;
    std::int64_t m_started = 0;
    std::int64_t m_skipped = 0;
    std::int64_t m_failed = 0;
};

void Scheduler::start(const schedule::ScheduledTask& task, int worker_slot) {
    std::vector<std::string> words = {program_path(task.program)};
    words.insert(words.end(), task.args.begin(), task.args.end());
    std::vector<char*> argv;
    for (auto& word : words) {
        argv.push_back(word.data());
    }
    argv.push_back(nullptr);
    pid_t pid = fork();
    if (pid < 0) {
        log::error("cannot start {}: fork failed: {}", task.command_line(), std::strerror(errno));
        ++m_failed;
        return;
    }
    if (pid == 0) {
        // its own process group, so only what the scheduler passes on reaches it; the parent's
        // ignored SIGPIPE and blocked signals are not the child's business
        setpgid(0, 0);
        std::signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execvp(argv[0], argv.data());
        std::fprintf(stderr, "schedule:work: cannot run %s: %s\n", argv[0], std::strerror(errno));
        std::_Exit(127);
    }
    Child child;
    child.label = task.command_line();
    child.task = task.task;
    child.worker_slot = worker_slot;
    child.started = Clock::now();
    child.started_wall = std::chrono::system_clock::now();
    m_children[pid] = child;
    if (worker_slot >= 0) {
        m_slots[static_cast<std::size_t>(worker_slot)].pid = pid;
    }
    ++m_started;
    log::info("started {} (pid {})", child.label, pid);
}

void Scheduler::reap(bool wait) {
    while (true) {
        int status = 0;
        pid_t pid = waitpid(-1, &status, wait ? 0 : WNOHANG);
        if (pid <= 0) {
            return;
        }
        auto it = m_children.find(pid);
        if (it == m_children.end()) {
            continue;
        }
        const Child& child = it->second;
        auto ran = Clock::now() - child.started;
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (child.worker_slot >= 0) {
            auto& slot = m_slots[static_cast<std::size_t>(child.worker_slot)];
            slot.pid = 0;
            slot.pause = ran >= k_healthy_run ? k_first_restart_pause
                                              : std::min(slot.pause * 2, k_longest_restart_pause);
            slot.restart_at = Clock::now() + slot.pause;
            auto level = ok ? log::Level::info : log::Level::warning;
            log::write(level, fmt::format("{} (pid {}) ended: {} after {}{}", child.label, pid,
                                          describe_end(status), seconds_text(ran),
                                          stop::requested()
                                              ? std::string()
                                              : "; restarting in " + format_duration(slot.pause)));
        } else {
            log::write(ok ? log::Level::info : log::Level::warning,
                       fmt::format("{} (pid {}) ended: {} after {}", child.label, pid,
                                   describe_end(status), seconds_text(ran)));
        }
        m_children.erase(it);
        if (wait) {
            return;
        }
    }
}

void Scheduler::run_due(TimePoint now) {
    for (auto& due : m_due) {
        if (!due.next || now < *due.next) {
            continue;
        }
        // one run for this due time, however many were missed; the next counts from now
        due.next = due.cron.next_after(now, TimeZone::local);
        auto running = std::find_if(m_children.begin(), m_children.end(), [&](const auto& entry) {
            return entry.second.task == due.task->task;
        });
        if (running != m_children.end()) {
            ++m_skipped;
            log::warning("skipped {}: {} (pid {}) is still running since {}",
                         due.task->command_line(), running->second.label, running->first,
                         format_iso8601(running->second.started_wall, TimeZone::local));
            continue;
        }
        start(*due.task);
    }
}

void Scheduler::keep_workers() {
    for (std::size_t i = 0; i < m_slots.size(); ++i) {
        if (m_slots[i].pid == 0 && Clock::now() >= m_slots[i].restart_at) {
            start(m_worker, static_cast<int>(i));
        }
    }
}

Milliseconds Scheduler::time_to_next_event(TimePoint now) const {
    // children can end at any moment and are only noticed by looking: look every second
    Milliseconds wait = 1s;
    for (const auto& due : m_due) {
        if (due.next) {
            wait = std::min(wait, std::chrono::duration_cast<Milliseconds>(*due.next - now));
        }
    }
    for (const auto& slot : m_slots) {
        if (slot.pid == 0) {
            wait = std::min(
                wait, std::chrono::duration_cast<Milliseconds>(slot.restart_at - Clock::now()));
        }
    }
    return std::max(wait, Milliseconds(1));
}

void Scheduler::stop_children() {
    if (m_children.empty()) {
        return;
    }
    log::info("stopping on {}: passing it on to {} child process(es)", stop::signal_name(),
              m_children.size());
    for (const auto& [pid, child] : m_children) {
        kill(pid, SIGTERM);
    }
    auto deadline = Clock::now() + m_options.grace;
    while (!m_children.empty() && Clock::now() < deadline) {
        reap(false);
        if (!m_children.empty()) {
            usleep(50'000);
        }
    }
    for (const auto& [pid, child] : m_children) {
        log::warning("{} (pid {}) did not end within --grace {}; killing it", child.label, pid,
                     format_duration(m_options.grace));
        kill(pid, SIGKILL);
    }
    while (!m_children.empty()) {
        reap(true);
    }
}

Outcome Scheduler::run() {
    TimePoint now = std::chrono::system_clock::now();
    // the workers of --workers run as the schedule's worker entry says, else as the seed's
    for (const auto& task : schedule::seed_schedule()) {
        if (task.program == "eye-worker") {
            m_worker = task;
        }
    }
    for (const auto& task : m_tasks) {
        if (task.long_running()) {
            if (task.program == "eye-worker") {
                m_worker = task;
            }
            continue;
        }
        auto cron = schedule::CronExpression::parse(task.expression);
        DueTask due{&task, *cron, cron->next_after(now, TimeZone::local)};
        log::info("{}: '{}', next at {}", task.command_line(), task.expression,
                  due.next ? format_iso8601(*due.next, TimeZone::local) : std::string("never"));
        m_due.push_back(due);
    }
    m_slots.resize(static_cast<std::size_t>(m_options.workers));
    if (m_due.empty() && m_slots.empty()) {
        throw UsageError(
            "there is nothing to run: the schedule has no timed task and --workers "
            "is 0",
            "give --workers N, or a schedule with a timed task");
    }
    log::info("scheduling {} task(s) on {}, keeping {} worker(s) running", m_due.size(),
              schedule::time_zone_name(), m_slots.size());

    while (!stop::requested()) {
        reap(false);
        run_due(std::chrono::system_clock::now());
        keep_workers();
        stop::wait_for(time_to_next_event(std::chrono::system_clock::now()));
    }
    stop_children();

    Outcome outcome;
    outcome.note = fmt::format("stopped by {}: {} run(s) started, {} skipped", stop::signal_name(),
                               m_started, m_skipped);
    outcome.metrics = {
        {"runs_started", static_cast<double>(m_started), "Child processes the scheduler started."},
        {"runs_skipped", static_cast<double>(m_skipped),
         "Due runs skipped because the previous run of the task was still going."}};
    return outcome;
}

// The children read their settings as any eye program does; what this scheduler was given on its
// own command line or in its config file reaches them as the variables those settings also have.
void pass_settings_to_children(const Config& config) {
    auto pass = [](const char* name, const std::string& value) {
        if (!value.empty()) {
            setenv(name, value.c_str(), 1);
        }
    };
    // a URL kept in a file stays there: the children read the file themselves
    if (std::getenv("EYE_DATABASE_URL_FILE") == nullptr) {
        pass("EYE_DATABASE_URL", config.database_url);
    }
    pass("EYE_LOG_LEVEL", config.log_level);
    pass("EYE_LOG_FORMAT", config.log_format);
    pass("EYE_DB_TIMEZONE", config.db_timezone);
    pass("EYE_METRICS_DIR", config.metrics_dir);
    pass("EYE_PING_URL", config.ping_url);
    pass("EYE_STATEMENT_TIMEOUT", format_duration(config.statement_timeout));
}

}  // namespace

void add_schedule_work_options(CLI::App& app, Config& config, ScheduleWorkOptions& options) {
    add_settings(app, config, SettingGroup::schedule);
    options::add_int(app, "--workers", options.workers,
                     "also keep this many eye-worker processes running", 0, 64);
    options::add_duration(app, "--grace", options.grace,
                          "after SIGTERM, how long the tasks may take to end before they are "
                          "killed");
}

Outcome run_schedule_work(Context& context, const ScheduleWorkOptions& options) {
    pass_settings_to_children(context.config);
    Scheduler scheduler(active_schedule(context.config), options);
    return scheduler.run();
}

}  // namespace eye::tasks
