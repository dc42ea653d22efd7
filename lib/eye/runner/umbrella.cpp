#include "eye/runner/umbrella.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "eye/core/stop.hpp"
#include "eye/runner/runner.hpp"
#include "eye/runner/suggest.hpp"

namespace eye {
namespace {

void print_list(const CommandTable& table, std::ostream& out) {
    out << fmt::format("eye {}: keeps a self-hosted AI image library healthy and improving\n\n",
                       EYE_VERSION);
    out << "Usage: eye COMMAND [OPTIONS]    (eye help COMMAND for its options)\n\n";
    out << "Commands:\n";
    for (const auto& command : table) {
        out << fmt::format("  {:<24} {:<15} {}\n", command.name, command.program, command.summary);
    }
}

}  // namespace

const Command* find_command(const CommandTable& table, std::string_view name) {
    for (const auto& command : table) {
        if (command.name == name) {
            return &command;
        }
    }
    return nullptr;
}

const Command* find_program(const CommandTable& table, std::string_view program) {
    for (const auto& command : table) {
        if (!command.program.empty() && command.program == program) {
            return &command;
        }
    }
    return nullptr;
}

namespace {

// A run that left threads behind (see stop::leave_threads_behind) ends the process here, its
// output flushed, instead of returning into static destructors that those threads may still
// use.
int finish(int code) {
    if (stop::threads_left_behind()) {
        std::cout.flush();
        std::fflush(nullptr);
        std::_Exit(code);
    }
    return code;
}

}  // namespace

int run_program(const CommandTable& table, std::string_view program, int argc, char** argv) {
    const Command* command = find_program(table, program);
    if (command == nullptr) {
        std::cerr << fmt::format("{}: no such command in eye's command table\n", program);
        return to_int(ExitCode::software);
    }
    return finish(
        run_command(*command, std::vector<std::string>(argv + 1, argv + argc), std::cout, &table));
}

int run_umbrella(const CommandTable& table, int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    configure_early_logging("eye");
    if (args.empty() || args[0] == "list" || args[0] == "--help" || args[0] == "-h") {
        print_list(table, std::cout);
        return 0;
    }
    if (args[0] == "--version" || args[0] == "version") {
        std::cout << "eye " << EYE_VERSION << "\n";
        return 0;
    }
    if (args[0] == "help") {
        if (args.size() < 2) {
            print_list(table, std::cout);
            return 0;
        }
        const Command* command = find_command(table, args[1]);
        if (command == nullptr) {
            command = find_program(table, args[1]);
        }
        if (command == nullptr) {
            log_error_with_hint(fmt::format("unknown command '{}'", args[1]), "see 'eye list'");
            return to_int(ExitCode::usage);
        }
        return run_command(*command, {"--help"}, std::cout);
    }
    const Command* command = find_command(table, args[0]);
    if (command == nullptr) {
        std::vector<std::string> names;
        for (const auto& known : table) {
            names.push_back(known.name);
        }
        const auto near = nearest_word(args[0], names);
        log_error_with_hint(fmt::format("unknown command '{}'", args[0]),
                            near ? fmt::format("did you mean '{}'? see 'eye list'", *near)
                                 : std::string("see 'eye list'"));
        return to_int(ExitCode::usage);
    }
    return finish(run_command(*command, std::vector<std::string>(args.begin() + 1, args.end()),
                              std::cout, &table));
}

}  // namespace eye
