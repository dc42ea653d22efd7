#include <atomic>
#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "eye/services/ai_service.hpp"
#include "support/http_server.hpp"

using eye::Milliseconds;
using eye::services::AiServiceClient;
using eye::services::ServiceError;
using eye::testing::HttpServer;
using eye::testing::json_reply;
using eye::testing::Reply;
using eye::testing::text_reply;
using Clock = std::chrono::steady_clock;

namespace {

eye::testing::Handler health_answer(Reply reply) {
    return [reply](const eye::testing::Request& request) {
        if (request.method != "GET" || request.path != "/health") {
            return json_reply(404, R"({"detail":"Not Found"})");
        }
        return reply;
    };
}

eye::http::Timeouts short_timeouts() {
    eye::http::Timeouts timeouts;
    timeouts.connect = Milliseconds(500);
    timeouts.total = Milliseconds(400);
    return timeouts;
}

}  // namespace

TEST_CASE("health reports a healthy service with its models loaded") {
    HttpServer server(health_answer(json_reply(
        200,
        R"({"status":"healthy","models_loaded":true,"device":"cuda","features":{"ocr":true}})")));
    AiServiceClient client(server.url());
    auto health = client.health();
    REQUIRE(health);
    CHECK(health->status == "healthy");
    CHECK(health->models_loaded);
    CHECK(health->device == "cuda");
    CHECK(health->ready());
    CHECK(health->latency >= Milliseconds(0));
    CHECK(health->latency < Milliseconds(2'000));
    CHECK(server.requests_served() == 1);
}

TEST_CASE("health of a service that is still loading its models is an answer, not ready") {
    HttpServer server(health_answer(
        json_reply(200, R"({"status":"initializing","models_loaded":false,"device":"cpu"})")));
    AiServiceClient client(server.url());
    auto health = client.health();
    REQUIRE(health);
    CHECK(health->status == "initializing");
    CHECK_FALSE(health->models_loaded);
    CHECK_FALSE(health->ready());
}

TEST_CASE("health says healthy but not ready when models_loaded is false or missing") {
    HttpServer server(health_answer(json_reply(200, R"({"status":"healthy"})")));
    AiServiceClient client(server.url() + "/");
    auto health = client.health();
    REQUIRE(health);
    CHECK(health->status == "healthy");
    CHECK_FALSE(health->models_loaded);
    CHECK(health->device.empty());
    CHECK_FALSE(health->ready());
    CHECK(server.requests().at(0).path == "/health");
}

TEST_CASE("an HTML page instead of JSON is bad_response quoting the start of the body") {
    HttpServer server(health_answer(text_reply(
        200, "text/html", "<html>\n  <head><title>Welcome to nginx!</title></head></html>")));
    AiServiceClient client(server.url());
    auto health = client.health();
    REQUIRE_FALSE(health);
    CHECK(health.error().kind == ServiceError::Kind::bad_response);
    CHECK(health.error().message ==
          "GET " + server.url() +
              "/health: not JSON (starts with '<html> <head><title>Welcome to nginx!</t')");
}

TEST_CASE("a 200 whose JSON has no status is bad_response") {
    HttpServer server(health_answer(json_reply(200, R"({"models_loaded":true})")));
    AiServiceClient client(server.url());
    auto health = client.health();
    REQUIRE_FALSE(health);
    CHECK(health.error().kind == ServiceError::Kind::bad_response);
    CHECK(health.error().message ==
          "GET " + server.url() + "/health: no string 'status' in the answer");
}

TEST_CASE("a service that never answers is a timeout within the configured total") {
    Reply hang;
    hang.hang = true;
    HttpServer server(health_answer(hang));
    AiServiceClient client(server.url(), "", short_timeouts());
    auto start = Clock::now();
    auto health = client.health();
    auto took = std::chrono::duration_cast<Milliseconds>(Clock::now() - start);
    REQUIRE_FALSE(health);
    CHECK(health.error().kind == ServiceError::Kind::timeout);
    CHECK(health.error().message == "GET " + server.url() + "/health: timed out after 400ms");
    CHECK(took < Milliseconds(1'000));
}

TEST_CASE("a 500 with a detail puts the detail in the message") {
    HttpServer server(health_answer(json_reply(500, R"({"detail":"CUDA error: out of memory"})")));
    AiServiceClient client(server.url());
    auto health = client.health();
    REQUIRE_FALSE(health);
    CHECK(health.error().kind == ServiceError::Kind::http_status);
    CHECK(health.error().http_status == 500);
    CHECK(health.error().message ==
          "GET " + server.url() + "/health: HTTP 500: CUDA error: out of memory");
}

TEST_CASE("a 502 from a proxy says the status and nothing made up") {
    HttpServer server(health_answer(text_reply(502, "text/html", "<html>Bad Gateway</html>")));
    AiServiceClient client(server.url());
    auto health = client.health();
    REQUIRE_FALSE(health);
    CHECK(health.error().kind == ServiceError::Kind::http_status);
    CHECK(health.error().http_status == 502);
    CHECK(health.error().message == "GET " + server.url() + "/health: HTTP 502");
}

TEST_CASE("a service that is not running is unreachable with connection refused") {
    std::string url = "http://127.0.0.1:" + std::to_string(eye::testing::closed_port());
    AiServiceClient client(url, "", short_timeouts());
    auto health = client.health();
    REQUIRE_FALSE(health);
    CHECK(health.error().kind == ServiceError::Kind::unreachable);
    CHECK(health.error().message == "GET " + url + "/health: connection refused");
}

TEST_CASE("the AI service token is sent as a bearer token") {
    HttpServer server(health_answer(json_reply(200, R"({"status":"healthy"})")));
    AiServiceClient client(server.url(), "eye-token-123");
    REQUIRE(client.health());
    CHECK(server.requests().at(0).header("authorization") == "Bearer eye-token-123");
}

TEST_CASE("a retry policy given to the client retries a 503 from the AI service") {
    std::atomic<int> calls{0};
    HttpServer server([&calls](const eye::testing::Request&) {
        if (++calls == 1) {
            return json_reply(503, R"({"detail":"models are loading"})");
        }
        return json_reply(200, R"({"status":"healthy","models_loaded":true})");
    });
    eye::http::RetryPolicy retry;
    retry.max_attempts = 3;
    retry.initial_backoff = Milliseconds(10);
    AiServiceClient client(server.url(), "", {}, retry);
    auto health = client.health();
    REQUIRE(health);
    CHECK(health->ready());
    CHECK(server.requests_served() == 2);
}
