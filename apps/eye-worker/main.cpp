#include "eye/runner/runner.hpp"

int main(int argc, char** argv) {
    return eye::run_program("eye-worker", argc, argv);
}
