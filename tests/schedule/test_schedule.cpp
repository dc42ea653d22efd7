// The schedule table, its file format, and the deployment files written from it.

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "eye/schedule/export.hpp"
#include "eye/schedule/schedule.hpp"

using Catch::Contains;
using eye::schedule::CronExpression;
using eye::schedule::ExportedFile;
using eye::schedule::ExportOptions;
using eye::schedule::ScheduledTask;

namespace {

const ScheduledTask& seed(const std::string& name) {
    const auto& tasks = eye::schedule::seed_schedule();
    auto found = std::find_if(tasks.begin(), tasks.end(),
                              [&](const ScheduledTask& task) { return task.name == name; });
    REQUIRE(found != tasks.end());
    return *found;
}

std::vector<ScheduledTask> read(const std::string& text) {
    auto tasks = eye::schedule::read_schedule(text);
    INFO(text);
    REQUIRE(tasks);
    return *tasks;
}

std::string read_error(const std::string& text) {
    auto tasks = eye::schedule::read_schedule(text);
    INFO(text);
    REQUIRE_FALSE(tasks);
    return tasks.error();
}

const ExportedFile& file(const std::vector<ExportedFile>& files, const std::string& name) {
    auto found = std::find_if(files.begin(), files.end(),
                              [&](const ExportedFile& f) { return f.name == name; });
    INFO(name);
    REQUIRE(found != files.end());
    return *found;
}

std::vector<std::string> calendar(const std::string& expression) {
    auto cron = CronExpression::parse(expression);
    REQUIRE(cron);
    return eye::schedule::systemd_calendar(*cron);
}

}  // namespace

TEST_CASE("the seed schedule is design section 2's, with the hourly retry and the worker") {
    const auto& tasks = eye::schedule::seed_schedule();
    CHECK(seed("monitor").expression == "*/5 * * * *");
    CHECK(seed("monitor").command_line() == "eye-monitor --fix");
    CHECK(seed("export").expression == "0 1 * * *");
    CHECK(seed("export").command_line() == "eye-export --limit=5000");
    CHECK(seed("train").expression == "0 2 * * *");
    CHECK(seed("train").command_line() == "eye-train --min-images=50");
    CHECK(seed("reanalyze").expression == "0 */6 * * *");
    CHECK(seed("reanalyze").command_line() == "eye-reanalyze --batch=25 --priority=oldest");
    CHECK(seed("reanalyze-failed").expression == "30 * * * *");
    CHECK(seed("reanalyze-failed").command_line() == "eye-reanalyze --batch=25 --priority=failed");
    CHECK(seed("reanalyze-failed").task == "reanalyze");
    CHECK(seed("cleanup").expression == "0 3 * * 0");
    CHECK(seed("cleanup").command_line() == "eye-cleanup --hours=168");
    CHECK(seed("worker").long_running());
    for (const auto& task : tasks) {
        INFO(task.name);
        CHECK(std::count_if(tasks.begin(), tasks.end(), [&](const ScheduledTask& other) {
                  return other.name == task.name;
              }) == 1);
        if (!task.long_running()) {
            CHECK(CronExpression::parse(task.expression));
            CHECK(task.deadline.count() > 0);
            CHECK(task.start_window.count() > 0);
        }
    }
}

TEST_CASE("the table format reads back what schedule_table writes") {
    const auto& tasks = eye::schedule::seed_schedule();
    auto again = read(eye::schedule::schedule_table(tasks));
    REQUIRE(again.size() == tasks.size());
    for (std::size_t i = 0; i < tasks.size(); ++i) {
        CHECK(again[i].name == tasks[i].name);
        CHECK(again[i].task == tasks[i].task);
        CHECK(again[i].expression == tasks[i].expression);
        CHECK(again[i].command_line() == tasks[i].command_line());
        CHECK(again[i].deadline == tasks[i].deadline);
    }
}

TEST_CASE("a schedule file takes macros, @always, comments and blank lines") {
    auto tasks = read(
        "# mine\n"
        "\n"
        "check   @hourly          eye-monitor\n"
        "tidy    15 4 * * SUN     eye-cleanup --hours=24\n"
        "work    @always          eye-worker --concurrency=2\n");
    REQUIRE(tasks.size() == 3);
    CHECK(tasks[0].expression == "@hourly");
    CHECK(tasks[0].args.empty());
    CHECK(tasks[1].expression == "15 4 * * SUN");
    CHECK(tasks[1].task == "cleanup");
    CHECK(tasks[2].long_running());
    CHECK(tasks[2].args == std::vector<std::string>{"--concurrency=2"});
}

TEST_CASE("a bad schedule file is refused with the line and what is wrong") {
    CHECK_THAT(read_error("ok @hourly eye-monitor\nBad @hourly eye-monitor\n"),
               Contains("line 2") && Contains("'Bad' is not a task name"));
    CHECK_THAT(read_error("a @hourly eye-monitor\na @daily eye-cleanup\n"),
               Contains("task 'a' is listed twice"));
    CHECK_THAT(read_error("a 61 * * * * eye-monitor\n"),
               Contains("line 1") && Contains("minute field") && Contains("'61'"));
    CHECK_THAT(read_error("a 0 x * * * eye-monitor\n"), Contains("hour field"));
    CHECK_THAT(read_error("a * * * eye-monitor\n"), Contains("no complete schedule"));
    CHECK_THAT(read_error("a @hourly\n"), Contains("names no program"));
    CHECK_THAT(read_error("a @hourly rm -rf /\n"),
               Contains("'rm' is not one of eye's programs") && Contains("eye-monitor"));
    CHECK_THAT(read_error("a @hourly eye-frobnicate\n"), Contains("not one of eye's programs"));
    CHECK_THAT(read_error("a 0 0 */2 * MON eye-cleanup\n"),
               Contains("'*/2' and 'MON'") && Contains("Debian's cron"));
    CHECK(read("a 0 0 1-31/2 * MON eye-cleanup\n").size() == 1);
    CHECK(read("a 0 0 */2 * * eye-cleanup\n").size() == 1);
}

TEST_CASE("runs are matched to the schedule by the arguments that tell a task's entries apart") {
    const auto& tasks = eye::schedule::seed_schedule();
    CHECK(eye::schedule::run_args_filter(tasks, seed("monitor")) == "[]");
    CHECK(eye::schedule::run_args_filter(tasks, seed("cleanup")) == "[]");
    CHECK(eye::schedule::run_args_filter(tasks, seed("reanalyze")) == "[\"--priority=oldest\"]");
    CHECK(eye::schedule::run_args_filter(tasks, seed("reanalyze-failed")) ==
          "[\"--priority=failed\"]");
}

TEST_CASE("a time zone is one the system has a file for") {
    const char* before = std::getenv("TZ");
    std::string saved = before == nullptr ? "" : before;
    REQUIRE(eye::schedule::use_time_zone("America/New_York"));
    CHECK(eye::schedule::time_zone_name() == "America/New_York");
    CHECK_THAT(eye::schedule::use_time_zone("Mars/Olympus_Mons").error(),
               Contains("unknown time zone 'Mars/Olympus_Mons'") && Contains("Europe/Berlin"));
    CHECK_FALSE(eye::schedule::use_time_zone("../../etc/passwd"));
    CHECK_FALSE(eye::schedule::use_time_zone("/etc/localtime"));
    CHECK_FALSE(eye::schedule::use_time_zone(""));
    CHECK(eye::schedule::time_zone_name() == "America/New_York");
    if (before == nullptr) {
        unsetenv("TZ");
    } else {
        setenv("TZ", saved.c_str(), 1);
    }
    tzset();
}

TEST_CASE("cron expressions become OnCalendar values that fire at the same times") {
    CHECK(calendar("*/5 * * * *") == std::vector<std::string>{"*-*-* *:00/5:00"});
    CHECK(calendar("0 */6 * * *") == std::vector<std::string>{"*-*-* 00/6:00:00"});
    CHECK(calendar("0 3 * * 0") == std::vector<std::string>{"Sun *-*-* 03:00:00"});
    CHECK(calendar("0 9-17 * * 1-5") ==
          std::vector<std::string>{"Mon,Tue,Wed,Thu,Fri *-*-* 09..17:00:00"});
    CHECK(calendar("0 0 1,15 JAN-MAR *") == std::vector<std::string>{"*-01..03-01,15 00:00:00"});
    // cron's OR rule: systemd would need both, so each day field gets a value of its own
    CHECK(calendar("0 0 13 * FRI") ==
          std::vector<std::string>{"*-*-13 00:00:00", "Fri *-*-* 00:00:00"});
    CHECK(calendar("0 0 * * FRI-SUN") == std::vector<std::string>{"Sun,Fri,Sat *-*-* 00:00:00"});
}

TEST_CASE("the crontab has a line per scheduled task and none for the worker") {
    ExportOptions options;
    options.bindir = "/opt/eye/bin";
    options.user = "eyeuser";
    auto files = eye::schedule::export_crontab(eye::schedule::seed_schedule(), options);
    REQUIRE(files.size() == 1);
    const std::string& text = files[0].content;
    CHECK(files[0].name == "eye.crontab");
    CHECK_THAT(text, Contains("*/5 * * * * eyeuser /opt/eye/bin/eye-monitor --fix "));
    CHECK_THAT(text, Contains("30 * * * * eyeuser /opt/eye/bin/eye-reanalyze --batch=25 "
                              "--priority=failed"));
    CHECK_THAT(text, Contains("0 3 * * 0 eyeuser /opt/eye/bin/eye-cleanup --hours=168"));
    CHECK_THAT(text, Contains("logger -t eye-monitor"));
    CHECK_THAT(text, !Contains("eyeuser /opt/eye/bin/eye-worker"));
}

TEST_CASE("kubernetes: a CronJob per task, a Deployment for the worker, no secret in sight") {
    ExportOptions options;
    options.time_zone = "Europe/Berlin";
    options.image = "registry.example/eye:1.2";
    auto files = eye::schedule::export_kubernetes(eye::schedule::seed_schedule(), options);
    const std::string& monitor = file(files, "eye-monitor.yaml").content;
    CHECK_THAT(
        monitor,
        Contains("kind: CronJob") && Contains("name: eye-monitor") &&
            Contains("schedule: \"*/5 * * * *\"") && Contains("timeZone: \"Europe/Berlin\"") &&
            Contains("concurrencyPolicy: Forbid") && Contains("startingDeadlineSeconds: 120") &&
            Contains("activeDeadlineSeconds: 240") && Contains("values: [1, 2, 3, 64, 78]") &&
            Contains("image: \"registry.example/eye:1.2\"") && Contains("runAsNonRoot: true") &&
            Contains("readOnlyRootFilesystem: true") && Contains("claimName: eye-state") &&
            Contains("key: url"));
    CHECK_THAT(file(files, "eye-cleanup.yaml").content, Contains("values: [64, 78]"));
    CHECK_THAT(file(files, "eye-reanalyze-failed.yaml").content,
               Contains("command: [\"eye-reanalyze\", \"--batch=25\", \"--priority=failed\"]"));
    const std::string& worker = file(files, "eye-worker.yaml").content;
    CHECK_THAT(worker, Contains("kind: Deployment") && Contains("replicas: 2") &&
                           Contains("terminationGracePeriodSeconds: 60") &&
                           Contains("restartPolicy: Always"));
    CHECK_THAT(file(files, "eye-config.yaml").content,
               Contains("kind: ConfigMap") && !Contains("postgresql://eye"));
    CHECK_THAT(file(files, "eye-state.yaml").content, Contains("kind: PersistentVolumeClaim"));
    // eye serve: a Deployment probed at /healthz, its token from a Secret, behind a Service
    CHECK_THAT(
        file(files, "eye-serve.yaml").content,
        Contains("kind: Deployment") && Contains("replicas: 1") &&
            Contains("command: [\"eye\", \"serve\", \"--listen=0.0.0.0:8090\"]") &&
            Contains("readinessProbe:\n            httpGet:\n              path: /healthz") &&
            Contains("livenessProbe:") && Contains("name: EYE_SERVE_TOKEN") &&
            Contains("name: eye-serve\n                  key: token") &&
            Contains("---\napiVersion: v1\nkind: Service\n") && Contains("targetPort: http"));
}

TEST_CASE("systemd: a service and a timer per task, a restarted worker, a confined service") {
    ExportOptions options;
    auto files = eye::schedule::export_systemd(eye::schedule::seed_schedule(), options);
    CHECK(files.size() == 14);
    const std::string& timer = file(files, "eye-cleanup.timer").content;
    CHECK_THAT(timer, Contains("OnCalendar=Sun *-*-* 03:00:00") && Contains("Persistent=false") &&
                          Contains("RandomizedDelaySec=900"));
    const std::string& service = file(files, "eye-cleanup.service").content;
    CHECK_THAT(service, Contains("Type=oneshot") &&
                            Contains("ExecStart=/usr/local/bin/eye-cleanup --hours=168") &&
                            Contains("ProtectSystem=strict") &&
                            Contains("ReadWritePaths=/var/lib/eye") && Contains("DynamicUser=yes"));
    const std::string& worker = file(files, "eye-worker.service").content;
    CHECK_THAT(worker, Contains("Restart=always") && Contains("WantedBy=multi-user.target"));
    CHECK(std::none_of(files.begin(), files.end(),
                       [](const ExportedFile& f) { return f.name == "eye-worker.timer"; }));
    // eye serve beside the tasks: kept running, confined like them, on loopback by default
    const std::string& serve = file(files, "eye-serve.service").content;
    CHECK_THAT(serve, Contains("ExecStart=/usr/local/bin/eye serve\n") &&
                          Contains("Restart=always") && Contains("ProtectSystem=strict") &&
                          Contains("WantedBy=multi-user.target"));
}

TEST_CASE("compose: eye's scheduler and worker on upstream's network, upstream's scheduler off") {
    auto files = eye::schedule::export_compose(eye::schedule::seed_schedule(), ExportOptions{});
    REQUIRE(files.size() == 1);
    const std::string& text = files[0].content;
    CHECK(files[0].name == "compose.yaml");
    CHECK_THAT(text,
               Contains("eye-scheduler:") && Contains("command: [\"eye\", \"schedule:work\"]") &&
                   Contains("eye-worker:") && Contains("profiles: [\"upstream-scheduler\"]") &&
                   Contains("avinash-network") && Contains("${DB_PASSWORD"));
    CHECK_THAT(text, !Contains("queue-worker:"));
    // eye serve only when asked for (its token is needed off loopback), published on loopback
    CHECK_THAT(text, Contains("  eye-serve:\n    profiles: [\"status-page\"]\n") &&
                         Contains("command: [\"eye\", \"serve\", \"--listen=0.0.0.0:8090\"]") &&
                         Contains("EYE_SERVE_TOKEN: ${EYE_SERVE_TOKEN:-}") &&
                         Contains("\"127.0.0.1:${EYE_SERVE_PORT:-8090}:8090\""));
}
