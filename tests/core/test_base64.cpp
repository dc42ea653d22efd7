#include <random>
#include <string>

#include <catch2/catch.hpp>

#include "eye/core/base64.hpp"
#include "support/base64.hpp"

using eye::base64_encode;
using eye::testing::base64_decode;

TEST_CASE("base64_encode gives the RFC 4648 test vectors") {
    CHECK(base64_encode("") == "");
    CHECK(base64_encode("f") == "Zg==");
    CHECK(base64_encode("fo") == "Zm8=");
    CHECK(base64_encode("foo") == "Zm9v");
    CHECK(base64_encode("foob") == "Zm9vYg==");
    CHECK(base64_encode("fooba") == "Zm9vYmE=");
    CHECK(base64_encode("foobar") == "Zm9vYmFy");
    CHECK(base64_encode(std::string("\xff\xfe\xfd\x00\x3e\x3f", 6)) == "//79AD4/");
    CHECK(base64_encode(std::string("\xfb\xff", 2)) == "+/8=");
}

TEST_CASE("base64_encode round-trips every byte value at every length") {
    std::mt19937 random(42);
    for (std::size_t length = 0; length < 300; ++length) {
        std::string bytes(length, '\0');
        for (auto& byte : bytes) {
            byte = static_cast<char>(random() & 0xff);
        }
        std::string text = base64_encode(bytes);
        CHECK(text.size() == (length + 2) / 3 * 4);
        CHECK(base64_decode(text) == bytes);
    }
}

TEST_CASE("base64_encode is whole across the pieces it encodes a large image in") {
    // more than one 3 MiB piece, and a length that needs padding at the very end
    std::mt19937 random(7);
    std::string bytes(7 * 1024 * 1024 + 1, '\0');  // 2 bytes left over: one '='
    for (auto& byte : bytes) {
        byte = static_cast<char>(random() & 0xff);
    }
    std::string text = base64_encode(bytes);
    CHECK(text.size() == (bytes.size() + 2) / 3 * 4);
    CHECK(text.find('=') == text.size() - 1);
    CHECK(base64_decode(text) == bytes);
}
