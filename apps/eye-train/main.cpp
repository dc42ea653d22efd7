#include "eye/commands/commands.hpp"

int main(int argc, char** argv) {
    return eye::main_program("eye-train", argc, argv);
}
