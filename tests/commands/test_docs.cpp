// Documents generated from the command table must match what is committed.

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "eye/commands/commands.hpp"
#include "eye/runner/umbrella.hpp"
#include "eye/schedule/cron.hpp"
#include "eye/schedule/schedule.hpp"

TEST_CASE("docs/commands.md is what the command table prints") {
    std::ifstream file(std::string(EYE_SOURCE_DIR) + "/docs/commands.md");
    REQUIRE(file);
    std::stringstream committed;
    committed << file.rdbuf();
    INFO("regenerate it with: build/eye help --markdown > docs/commands.md");
    CHECK(committed.str() == eye::commands_markdown());
}

TEST_CASE("every scheduled task names a program of the command table and a valid schedule") {
    // the seed names only programs a schedule file may name, and those exist
    CHECK(eye::schedule::read_schedule(
        eye::schedule::schedule_table(eye::schedule::seed_schedule())));
    for (const auto& entry : eye::schedule::seed_schedule()) {
        INFO(entry.name);
        const eye::Command* command = eye::find_program(eye::commands(), entry.program);
        REQUIRE(command != nullptr);
        CHECK(command->task == entry.task);
        CHECK(entry.program == "eye-" + entry.task);
        CHECK((entry.long_running() ||
               eye::schedule::CronExpression::parse(entry.expression).has_value()));
    }
}
