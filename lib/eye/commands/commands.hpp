#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "eye/runner/command.hpp"

// The one command table: the umbrella `eye`, the small executables, `eye list`, --help and
// docs/commands.md are read off it. Adding a task is one row here plus its file in tasks/.
namespace eye {

const std::vector<Command>& commands();

// Every command with its --help, as Markdown, beside the seed schedule (docs/commands.md;
// `eye help --markdown`).
std::string commands_markdown();

// main() of a small executable such as eye-monitor.
int main_program(std::string_view program, int argc, char** argv);

// main() of the umbrella `eye`: what the runner's umbrella does, and `eye help --markdown`.
int main_umbrella(int argc, char** argv);

}  // namespace eye
