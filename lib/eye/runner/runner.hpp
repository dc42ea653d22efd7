#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "eye/runner/command.hpp"

// One run of one command: parsing, configuration, logging, the lock, the eye.runs record, the
// begin and end lines, metrics, pings and the mapping of errors to exit codes.
namespace eye {

// Runs `command` with its arguments (without the program or command name) and returns the exit
// code. Never throws. `table`, the whole command table, says which sections and keys a config
// file may hold (any command's); without it, unknown ones are not told apart.
int run_command(const Command& command, const std::vector<std::string>& args, std::ostream& out,
                const std::vector<Command>* table = nullptr);

// The command's --help text.
std::string command_help(const Command& command);

// Configures log lines from EYE_LOG_LEVEL and EYE_LOG_FORMAT alone, before any flag is parsed, so
// errors about the command line itself come out in the format the operator asked for.
void configure_early_logging(const std::string& program);

// The runner's one-line error: "message; hint: hint" (or the message alone).
void log_error_with_hint(const std::string& message, const std::string& hint);

}  // namespace eye
