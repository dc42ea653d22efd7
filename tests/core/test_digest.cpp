#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "eye/core/digest.hpp"

using eye::Sha256;
using eye::sha256_hex;

TEST_CASE(
    "sha256_hex matches the FIPS 180-4 test vectors and the hand-written implementation it "
    "replaced") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(
        sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmno"
                   "pqklmnopqrlmnopqrsmnopqrstnopqrstu") ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    // Lengths around the 55/56/64-byte padding boundaries, checked against Python's hashlib.
    auto pattern = [](std::size_t n) {
        std::string bytes;
        for (std::size_t i = 0; i < n; ++i) {
            bytes += static_cast<char>((i * 7 + 3) & 0xff);
        }
        return bytes;
    };
    const std::vector<std::pair<std::size_t, const char*>> boundaries = {
        {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
        {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
        {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
        {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
        {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
        {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
        {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
        {1000, "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371"},
    };
    for (const auto& [length, digest] : boundaries) {
        INFO("length " << length);
        CHECK(sha256_hex(pattern(length)) == digest);
    }
    // and what the hand-written implementation it replaced gave on a fixture (the golden test
    // of the builtin analyzer holds the rest)
    std::ifstream in(std::string(EYE_SOURCE_DIR) + "/tests/fixtures/images/chelsea.png",
                     std::ios::binary);
    std::ostringstream photo;
    photo << in.rdbuf();
    CHECK(sha256_hex(photo.str()) ==
          "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb");
}

TEST_CASE("Sha256 gives the same digest however the data is split") {
    const std::string text(100'000, 'x');
    const std::string whole = sha256_hex(text);
    for (std::size_t piece : {1, 55, 64, 65, 4096, 99'999}) {
        Sha256 hasher;
        for (std::size_t at = 0; at < text.size(); at += piece) {
            hasher.update(std::string_view(text).substr(at, piece));
        }
        INFO("pieces of " << piece);
        CHECK(hasher.finish_hex() == whole);
    }
    Sha256 empty;
    CHECK(empty.finish_hex() == sha256_hex(""));
}
