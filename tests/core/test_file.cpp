#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/stat.h>
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

TEST_CASE("read_file_beneath never leaves its root, whatever the path says") {
    TempDir dir;
    namespace fs = std::filesystem;
    const fs::path root = dir.path / "media";
    fs::create_directories(root / "albums");
    fs::create_directories(dir.path / "private");
    std::ofstream(root / "albums" / "a.png") << "inside";
    std::ofstream(dir.path / "private" / "secret.png") << "outside";
    fs::create_directory_symlink(dir.path / "private", root / "link");  // leads out
    fs::create_directory_symlink("albums", root / "also-albums");       // stays in (relative)
    fs::create_directory_symlink(root / "albums", root / "absolute");   // absolute: refused
    fs::create_symlink(dir.path / "private" / "secret.png", root / "secret.png");

    auto read = [&](const std::string& relative) {
        return eye::read_file_beneath(root, relative, 1000);
    };
    CHECK(read("albums/a.png").value() == "inside");
    CHECK(read("./albums/../albums/a.png").value() == "inside");
    CHECK(read("also-albums/a.png").value() == "inside");  // a link that stays inside is fine
    fs::create_directories(root / "nope");
    for (const char* escape :
         {"nope/../link/secret.png", "link/secret.png", "secret.png", "absolute/a.png",
          "../private/secret.png", "albums/../../private/secret.png", "/etc/hostname", ""}) {
        INFO(escape);
        auto result = read(escape);
        REQUIRE_FALSE(result.has_value());
        INFO(result.error().reason(1000));
        CHECK(result.error().kind == ReadError::Kind::outside);
        CHECK_FALSE(result.error().transient());
    }
    CHECK(read("albums/missing.png").error().kind == ReadError::Kind::system);
    // through a folder that does not exist the path goes nowhere at all
    CHECK(read("missing/../link/secret.png").error().kind == ReadError::Kind::system);
    CHECK(read("albums").error().kind == ReadError::Kind::not_regular);
}

TEST_CASE("without openat2, the walk refuses every link and every '..'") {
    TempDir dir;
    namespace fs = std::filesystem;
    const fs::path root = dir.path / "media";
    fs::create_directories(root / "albums" / "2024");
    fs::create_directories(root / "nope");
    fs::create_directories(dir.path / "private");
    std::ofstream(root / "albums" / "2024" / "a.png") << "inside";
    std::ofstream(dir.path / "private" / "secret.png") << "outside";
    fs::create_directory_symlink(dir.path / "private", root / "link");
    fs::create_directory_symlink("albums", root / "also-albums");
    fs::create_symlink(dir.path / "private" / "secret.png", root / "secret.png");
    auto read = [&](const std::string& relative) {
        return eye::detail::read_file_beneath_walking(root, relative, 1000);
    };
    CHECK(read("albums/2024/a.png").value() == "inside");
    CHECK(read("./albums//2024/a.png").value() == "inside");
    for (const char* refused :
         {"nope/../link/secret.png", "link/secret.png", "secret.png", "also-albums/2024/a.png",
          "../private/secret.png", "albums/../albums/2024/a.png", "/etc/hostname", ""}) {
        INFO(refused);
        auto result = read(refused);
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().kind == ReadError::Kind::outside);
    }
    CHECK(read("albums/missing.png").error().kind == ReadError::Kind::system);
    CHECK(read("albums/2024").error().kind == ReadError::Kind::not_regular);
    REQUIRE(mkfifo((root / "pipe.png").c_str(), 0600) == 0);
    CHECK(read("pipe.png").error().kind == ReadError::Kind::not_regular);
}

TEST_CASE("a FIFO or a device is refused at once, not waited on") {
    TempDir dir;
    const auto fifo = dir.path / "pipe.jpg";
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    auto started = std::chrono::steady_clock::now();
    auto beneath = eye::read_file_beneath(dir.path, "pipe.jpg", 1000);
    auto direct = read_file(fifo, 1000);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(2));
    REQUIRE_FALSE(beneath.has_value());
    CHECK(beneath.error().kind == ReadError::Kind::not_regular);
    REQUIRE_FALSE(direct.has_value());
    CHECK(direct.error().kind == ReadError::Kind::not_regular);
    CHECK(read_file("/dev/zero", 1000).error().kind == ReadError::Kind::not_regular);
}
