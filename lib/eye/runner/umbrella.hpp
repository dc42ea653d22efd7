#pragma once

#include <string_view>
#include <vector>

#include "eye/runner/command.hpp"

// The entry points over a command table: a small executable such as eye-monitor, and the
// umbrella `eye` with `eye list`, `eye help NAME` and `eye NAME ARGS...`.
namespace eye {

using CommandTable = std::vector<Command>;

const Command* find_command(const CommandTable& table, std::string_view name);
const Command* find_program(const CommandTable& table, std::string_view program);

// main() of a small executable: runs the table's command whose program is `program`.
int run_program(const CommandTable& table, std::string_view program, int argc, char** argv);

// main() of the umbrella `eye`: `eye list`, `eye help NAME`, `eye --version`, `eye NAME ARGS...`.
int run_umbrella(const CommandTable& table, int argc, char** argv);

}  // namespace eye
