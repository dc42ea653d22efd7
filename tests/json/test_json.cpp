#include <string>

#include <catch2/catch.hpp>

#include "eye/json/json.hpp"

TEST_CASE("json::parse refuses 8 MiB of nested arrays with a message instead of recursing") {
    // a recursive parser needs a stack frame per level: this many overflow any thread's stack
    auto deep = eye::json::parse(std::string(8 * 1024 * 1024, '['));
    REQUIRE_FALSE(deep);
    CHECK_THAT(deep.error(), Catch::StartsWith("at offset 6") &&
                                 Catch::EndsWith(": nested deeper than 64 levels"));

    std::string nested_objects;
    for (int i = 0; i < 200'000; ++i) {
        nested_objects += "{\"a\":";
    }
    auto objects = eye::json::parse(nested_objects);
    REQUIRE_FALSE(objects);
    CHECK_THAT(objects.error(), Catch::EndsWith(": nested deeper than 64 levels"));
}

TEST_CASE("json::parse takes documents nested up to the limit, and reports other errors") {
    std::string limit = std::string(64, '[') + std::string(64, ']');
    auto at_limit = eye::json::parse(limit);
    REQUIRE(at_limit);
    CHECK(eye::json::to_string(*at_limit) == limit);

    std::string over = std::string(65, '[') + std::string(65, ']');
    CHECK_FALSE(eye::json::parse(over));

    auto answer = eye::json::parse(R"({"faces": [[1, 2, 3, 4]], "ok": true, "x": 1.5})");
    REQUIRE(answer);
    CHECK(eye::json::get_bool(*answer, "ok") == true);
    CHECK((*answer)["faces"][0][3].GetInt() == 4);

    auto broken = eye::json::parse(R"({"a": )");
    REQUIRE_FALSE(broken);
    CHECK(broken.error().rfind("at offset 6: ", 0) == 0);
    CHECK_FALSE(eye::json::parse("[1] 2"));
    CHECK_FALSE(eye::json::parse(""));
}
