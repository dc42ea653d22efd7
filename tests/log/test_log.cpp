#include <catch2/catch.hpp>

#include "eye/log/log.hpp"

TEST_CASE("redact removes passwords from URLs and key=value strings and registered secrets") {
    CHECK(eye::log::redact("postgresql://eye:s3cret@db:5432/eye") ==
          "postgresql://eye:***@db:5432/eye");
    CHECK(eye::log::redact("host=db password=s3cret user=eye") == "host=db password=*** user=eye");
    CHECK(eye::log::redact("host=db password='a b c' user=eye") == "host=db password=*** user=eye");
    CHECK(eye::log::redact("Authorization: Bearer abc.def-123") == "Authorization: Bearer ***");
    eye::log::add_secret("tok-9f8e7d6c");
    CHECK(eye::log::redact("sent tok-9f8e7d6c twice: tok-9f8e7d6c") == "sent *** twice: ***");
    CHECK(eye::log::redact("nothing secret here") == "nothing secret here");
}

TEST_CASE("log levels and formats parse from their names") {
    CHECK(eye::log::parse_level("debug") == eye::log::Level::debug);
    CHECK(eye::log::parse_level("warning") == eye::log::Level::warning);
    CHECK_FALSE(eye::log::parse_level("loud"));
    CHECK(eye::log::parse_format("json") == eye::log::Format::json);
    CHECK_FALSE(eye::log::parse_format("xml"));
}
