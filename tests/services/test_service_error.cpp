#include <string>

#include <catch2/catch.hpp>

#include "eye/services/service_error.hpp"

using eye::services::body_excerpt;
using eye::services::describe_call;
using eye::services::error_detail;
using eye::services::ServiceError;

TEST_CASE("error_detail reads FastAPI's detail and Ollama's error") {
    CHECK(error_detail(R"({"detail":"Image file not found"})") == "Image file not found");
    CHECK(error_detail(R"({"error":"model 'llava' not found"})") == "model 'llava' not found");
    CHECK(error_detail(R"({"detail":[{"loc":["body","image_path"],"msg":"field required",)"
                       R"("type":"value_error.missing"}]})") == "field required");
    CHECK(error_detail(R"({"detail":"line one\nline two"})") == "line one line two");
    CHECK(error_detail(R"({"message":"elsewhere"})").empty());
    CHECK(error_detail("<html>Bad Gateway</html>").empty());
    CHECK(error_detail("").empty());
}

TEST_CASE("body_excerpt keeps a short printable start of the body") {
    CHECK(body_excerpt("<html>") == "<html>");
    CHECK(body_excerpt("\n\n  <html>\n\t<head>") == "<html> <head>");
    CHECK(body_excerpt(std::string(100, 'a')) == std::string(40, 'a'));
    CHECK(body_excerpt("caf\xc3\xa9\x01!") == "caf\?\?\?!");
    CHECK(body_excerpt("abcdef", 3) == "abc");
}

TEST_CASE("describe_call hides a password in the url") {
    CHECK(describe_call("GET", "http://ai:8000/health") == "GET http://ai:8000/health");
    CHECK(describe_call("POST", "http://eye:s3cret@ollama:11434/api/pull") ==
          "POST http://eye:***@ollama:11434/api/pull");
    CHECK(describe_call("GET", "http://user@host/x") == "GET http://user@host/x");
}

TEST_CASE("parse_object refuses empty bodies, non-JSON and JSON that is not an object") {
    auto empty = eye::services::parse_object("GET u", " \n");
    REQUIRE_FALSE(empty);
    CHECK(empty.error().kind == ServiceError::Kind::bad_response);
    CHECK(empty.error().message == "GET u: empty body where JSON was expected");

    auto truncated = eye::services::parse_object("GET u", R"({"status": "heal)");
    REQUIRE_FALSE(truncated);
    CHECK(truncated.error().message == R"(GET u: not JSON (starts with '{"status": "heal'))");

    auto array = eye::services::parse_object("GET u", "[1,2]");
    REQUIRE_FALSE(array);
    CHECK(array.error().message == "GET u: expected a JSON object (got '[1,2]')");

    auto object = eye::services::parse_object("GET u", R"({"a":1})");
    REQUIRE(object);
    CHECK(object->HasMember("a"));
}

TEST_CASE("transport failures map onto service error kinds") {
    auto kind_of = [](eye::http::FailureKind kind) {
        eye::http::Failure failure;
        failure.kind = kind;
        failure.message = "x";
        return eye::services::failure_error("GET u", failure).kind;
    };
    CHECK(kind_of(eye::http::FailureKind::connect) == ServiceError::Kind::unreachable);
    CHECK(kind_of(eye::http::FailureKind::transport) == ServiceError::Kind::unreachable);
    CHECK(kind_of(eye::http::FailureKind::bad_url) == ServiceError::Kind::unreachable);
    CHECK(kind_of(eye::http::FailureKind::timeout) == ServiceError::Kind::timeout);
    CHECK(kind_of(eye::http::FailureKind::too_large) == ServiceError::Kind::too_large);
    CHECK(kind_of(eye::http::FailureKind::aborted) == ServiceError::Kind::aborted);
    CHECK(eye::services::service_error_kind_name(ServiceError::Kind::bad_response) ==
          "bad_response");
}
