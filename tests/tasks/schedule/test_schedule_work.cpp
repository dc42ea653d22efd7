// eye schedule:work end to end: real child processes on a real schedule against a real database.
// The first test waits for two minute boundaries, so it takes one to two minutes.

#include <cerrno>
#include <chrono>
#include <csignal>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "support/database.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using Catch::Contains;
using eye::testing::Process;
using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;

namespace {

// The pids of the "started <label> (pid N)" lines, in order.
std::vector<pid_t> started_pids(const std::string& log, const std::string& label) {
    std::vector<pid_t> pids;
    std::regex started("started " + label + R"( \(pid ([0-9]+)\))");
    for (std::sregex_iterator it(log.begin(), log.end(), started), end; it != end; ++it) {
        pids.push_back(static_cast<pid_t>(std::stol((*it)[1].str())));
    }
    return pids;
}

bool alive(pid_t pid) {
    return kill(pid, 0) == 0 || errno != ESRCH;
}

// Polls until `done` holds, calling `each` every quarter second; fails after `limit`.
template <typename Done, typename Each>
void wait_until(Done done, Each each, std::chrono::seconds limit, const char* what) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        INFO("waiting for " << what);
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        each();
        std::this_thread::sleep_for(250ms);
    }
}

}  // namespace

TEST_CASE(
    "schedule:work skips a run whose previous run still goes, never runs two, and passes "
    "SIGTERM on") {
    TestDatabase db;
    TempDir dir;
    auto file = dir.path / "schedule";
    // due every minute, takes 90 seconds: the second minute finds it running
    std::ofstream(file) << "slow * * * * * eye-worker --max-time=90 --sleep=1\n";
    Process scheduler("eye", {"schedule:work", "--schedule=" + file.string(), "--grace=30s"},
                      {{"EYE_DATABASE_URL", db.url()}});

    std::size_t most_running = 0;
    auto count_running = [&] {
        auto running = std::stoul(db.query_value(
            "SELECT count(*) FROM eye.runs WHERE task = 'worker' AND status = 'running'"));
        most_running = std::max<std::size_t>(most_running, running);
    };
    wait_until(
        [&] { return scheduler.err_so_far().find("skipped eye-worker") != std::string::npos; },
        count_running, 150s, "the skip");
    std::string log = scheduler.err_so_far();
    INFO(log);
    CHECK_THAT(log, Contains("skipped eye-worker --max-time=90 --sleep=1: eye-worker --max-time=90 "
                             "--sleep=1 (pid ") &&
                        Contains("is still running since"));
    auto pids = started_pids(log, "eye-worker --max-time=90 --sleep=1");
    REQUIRE(pids.size() == 1);
    CHECK(most_running == 1);
    CHECK(alive(pids[0]));

    scheduler.signal(SIGTERM);
    auto result = scheduler.wait(40s);
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.err, Contains("passing it on to 1 child process(es)"));
    CHECK_THAT(result.err, Contains("(pid " + std::to_string(pids[0]) + ") ended: exit 0"));
    CHECK_THAT(result.err, Contains("schedule:work end: ok") && Contains("1 skipped"));
    CHECK_FALSE(alive(pids[0]));
    CHECK(db.query_value("SELECT string_agg(status, ',') FROM eye.runs WHERE task = 'worker'") ==
          "ok");
}

TEST_CASE("schedule:work --workers keeps them running: one killed with SIGKILL is restarted") {
    TestDatabase db;
    TempDir dir;
    auto file = dir.path / "schedule";
    std::ofstream(file) << "# nothing scheduled: only the workers\n";
    // the URL as a flag: the children get it from the scheduler, not from the environment
    Process scheduler("eye",
                      {"schedule:work", "--schedule=" + file.string(), "--workers=2",
                       "--database-url=" + db.url()},
                      {});
    const std::string label = "eye-worker --max-jobs=0 --max-time=0";
    auto nothing = [] {};
    wait_until([&] { return started_pids(scheduler.err_so_far(), label).size() == 2; }, nothing,
               30s, "two workers");
    wait_until([&] { return db.query_value("SELECT count(*) FROM eye.workers") == "2"; }, nothing,
               30s, "both workers registered in eye.workers");
    auto first = started_pids(scheduler.err_so_far(), label);
    REQUIRE(kill(first[0], SIGKILL) == 0);
    wait_until([&] { return started_pids(scheduler.err_so_far(), label).size() == 3; }, nothing,
               30s, "the killed worker's replacement");
    std::string log = scheduler.err_so_far();
    INFO(log);
    CHECK_THAT(log, Contains("(pid " + std::to_string(first[0]) +
                             ") ended: killed by signal 9 (Killed)") &&
                        Contains("restarting in"));
    auto all = started_pids(log, label);
    CHECK(all[2] != first[0]);
    CHECK(all[2] != first[1]);
    CHECK(alive(all[2]));
    CHECK(alive(first[1]));

    scheduler.signal(SIGTERM);
    auto result = scheduler.wait(60s);
    INFO(result.err);
    CHECK(result.exit_code == 0);
    CHECK_THAT(result.err, Contains("passing it on to 2 child process(es)"));
    CHECK_FALSE(alive(all[2]));
    CHECK_FALSE(alive(first[1]));
}

TEST_CASE("schedule:work refuses a schedule it cannot run") {
    TempDir dir;
    auto file = dir.path / "schedule";
    std::ofstream(file) << "bad 0 0 31 2 MON-FRI eye-nothing\n";
    auto result =
        eye::testing::run("eye", {"schedule:work", "--schedule=" + file.string()}, {}, 20s);
    CHECK(result.exit_code == 78);
    CHECK_THAT(result.err,
               Contains("line 1") && Contains("'eye-nothing' is not one of eye's programs"));
    auto workers = eye::testing::run("eye", {"schedule:work", "--workers=-1"}, {}, 20s);
    CHECK(workers.exit_code == 64);
    std::ofstream(file) << "# nothing\n";
    auto nothing =
        eye::testing::run("eye", {"schedule:work", "--schedule=" + file.string()}, {}, 20s);
    CHECK(nothing.exit_code == 64);
    CHECK_THAT(nothing.err, Contains("there is nothing to run"));
}
