// Documents generated from the command table must match what is committed.

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "eye/runner/runner.hpp"
#include "eye/schedule/cron.hpp"

TEST_CASE("docs/commands.md is what the command table prints") {
    std::ifstream file(std::string(EYE_SOURCE_DIR) + "/docs/commands.md");
    REQUIRE(file);
    std::stringstream committed;
    committed << file.rdbuf();
    INFO("regenerate it with: build/eye help --markdown > docs/commands.md");
    CHECK(committed.str() == eye::commands_markdown());
}

TEST_CASE("every scheduled command has its own executable and a valid schedule") {
    for (const auto& command : eye::commands()) {
        if (command.schedule.empty()) {
            continue;
        }
        INFO(command.name);
        CHECK_FALSE(command.program.empty());
        CHECK(command.program == "eye-" + command.task);
        auto cron = eye::schedule::CronExpression::parse(command.schedule);
        CHECK(cron.has_value());
    }
}
