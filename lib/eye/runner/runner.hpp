#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "eye/runner/command.hpp"

namespace eye {

// The one command table: every command of the umbrella `eye` and of the small executables.
const std::vector<Command>& commands();
const Command* find_command(std::string_view name);
const Command* find_program(std::string_view program);

// Runs one command with its arguments (without the program or command name) and returns the exit
// code. Never throws.
int run_command(const Command& command, const std::vector<std::string>& args, std::ostream& out);

// main() of a small executable such as eye-monitor.
int run_program(std::string_view program, int argc, char** argv);

// Every command with its --help, as Markdown (docs/commands.md; `eye help --markdown`).
std::string commands_markdown();

// main() of the umbrella: `eye list`, `eye help NAME`, `eye help --markdown`, `eye NAME ARGS...`.
int run_umbrella(int argc, char** argv);

}  // namespace eye
