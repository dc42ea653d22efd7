#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "eye/core/file.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using eye::read_file;
using eye::ReadError;
using eye::write_file_atomically;
using eye::testing::TempDir;

namespace {

std::string contents(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace

TEST_CASE("read_file gives the whole file, and refuses what it cannot give") {
    TempDir dir;
    const fs::path file = dir.path / "a.bin";
    std::ofstream(file, std::ios::binary) << std::string("\0\x01\x02 bytes", 9);

    auto whole = read_file(file, 100);
    REQUIRE(whole);
    CHECK(*whole == std::string("\0\x01\x02 bytes", 9));

    auto missing = read_file(dir.path / "nope", 100);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ReadError::Kind::system);
    CHECK(missing.error().reason(100) == "No such file or directory");
    CHECK_FALSE(missing.error().transient());

    auto directory = read_file(dir.path, 100);
    REQUIRE_FALSE(directory);
    CHECK(directory.error().kind == ReadError::Kind::not_regular);
    CHECK(directory.error().reason(100) == "not a regular file");

    auto large = read_file(file, 8);
    REQUIRE_FALSE(large);
    CHECK(large.error().kind == ReadError::Kind::too_large);
    CHECK(large.error().size == 9);
    CHECK(large.error().reason(8) == "9 bytes, the limit is 8 bytes");
}

TEST_CASE("a read error a retry may cure is transient, one about the file is not") {
    ReadError io;
    io.error_number = EIO;
    CHECK(io.transient());
    ReadError denied;
    denied.error_number = EACCES;
    CHECK_FALSE(denied.transient());
}

TEST_CASE("write_file_atomically replaces the file whole and leaves nothing else behind") {
    TempDir dir;
    const fs::path file = dir.path / "eye_monitor.prom";
    REQUIRE(write_file_atomically(file, "first\n"));
    CHECK(contents(file) == "first\n");
    REQUIRE(write_file_atomically(file, "second, longer\n"));
    CHECK(contents(file) == "second, longer\n");
    int entries = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path)) {
        ++entries;
    }
    CHECK(entries == 1);
}

TEST_CASE("write_file_atomically says why it could not write") {
    TempDir dir;
    auto written = write_file_atomically(dir.path / "no-such-dir" / "x", "text");
    REQUIRE_FALSE(written);
    CHECK(written.error() == "No such file or directory");
    // a directory in the way of the rename: the temporary file is removed again
    fs::create_directory(dir.path / "taken");
    fs::create_directory(dir.path / "taken" / "inside");
    auto blocked = write_file_atomically(dir.path / "taken", "text");
    REQUIRE_FALSE(blocked);
    int entries = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path)) {
        ++entries;
    }
    CHECK(entries == 1);
}

TEST_CASE("write_file_atomically never writes through a link planted where it writes") {
    // in a directory others can write, a link at a temporary name it might use must not make
    // it overwrite the link's target; the name a process would once have chosen is planted
    TempDir dir;
    const fs::path victim = dir.path / "victim";
    std::ofstream(victim) << "precious\n";
    const fs::path file = dir.path / "eye_monitor.prom";
    fs::create_symlink(victim, file.string() + ".tmp." + std::to_string(::getpid()));
    REQUIRE(write_file_atomically(file, "metrics\n"));
    CHECK(contents(victim) == "precious\n");
    CHECK(contents(file) == "metrics\n");
    CHECK_FALSE(fs::is_symlink(file));
}
