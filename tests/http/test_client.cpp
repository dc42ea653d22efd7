#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "eye/http/client.hpp"
#include "support/http_server.hpp"

using eye::Milliseconds;
using eye::http::Client;
using eye::http::FailureKind;
using eye::http::RetryPolicy;
using eye::testing::HttpServer;
using eye::testing::json_reply;
using eye::testing::Reply;
using eye::testing::text_reply;
using Clock = std::chrono::steady_clock;

namespace {

eye::http::Request get(const HttpServer& server, std::string_view path) {
    eye::http::Request request;
    request.url = eye::http::join_url(server.url(), path);
    return request;
}

Milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<Milliseconds>(Clock::now() - start);
}

RetryPolicy quick_retries(int attempts) {
    RetryPolicy policy;
    policy.max_attempts = attempts;
    policy.initial_backoff = Milliseconds(20);
    policy.max_backoff = Milliseconds(40);
    policy.deadline = Milliseconds(5'000);
    return policy;
}

}  // namespace

TEST_CASE("a 200 with a JSON body comes back with its body and content type") {
    HttpServer server([](const eye::testing::Request& request) {
        if (request.path != "/health") {
            return json_reply(404, R"({"detail":"Not Found"})");
        }
        return json_reply(200, R"({"status":"healthy"})");
    });
    Client client;
    auto result = client.send(get(server, "/health"));
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(result->ok());
    CHECK(result->body == R"({"status":"healthy"})");
    CHECK(result->content_type == "application/json");
    CHECK(result->attempts == 1);
    CHECK(server.requests_served() == 1);
    CHECK(server.requests().at(0).method == "GET");
}

TEST_CASE("404 and 500 come back as responses, not failures") {
    HttpServer server([](const eye::testing::Request& request) {
        if (request.path == "/missing") {
            return json_reply(404, R"({"detail":"no such image"})");
        }
        return text_reply(500, "text/plain", "internal error");
    });
    Client client;
    auto missing = client.send(get(server, "/missing"));
    REQUIRE(missing);
    CHECK(missing->status == 404);
    CHECK_FALSE(missing->ok());
    CHECK(missing->body == R"({"detail":"no such image"})");

    auto broken = client.send(get(server, "/broken"));
    REQUIRE(broken);
    CHECK(broken->status == 500);
    CHECK(broken->server_error());
    CHECK(broken->body == "internal error");
    CHECK(broken->content_type == "text/plain");
}

TEST_CASE("a POST sends its body and headers as given") {
    HttpServer server([](const eye::testing::Request&) { return json_reply(201, "{}"); });
    Client client;
    auto request = get(server, "/analyze-image");
    request.method = "POST";
    request.body = R"({"image_path":"/app/shared/a.jpg"})";
    request.headers.emplace_back("Content-Type", "application/json");
    auto result = client.send(request);
    REQUIRE(result);
    CHECK(result->status == 201);
    auto received = server.requests().at(0);
    CHECK(received.method == "POST");
    CHECK(received.path == "/analyze-image");
    CHECK(received.body == R"({"image_path":"/app/shared/a.jpg"})");
    CHECK(received.header("content-type") == "application/json");
}

TEST_CASE("a client keeps its connection alive from one request to the next") {
    HttpServer server([](const eye::testing::Request&) { return json_reply(200, "{}"); });
    Client client;
    for (int i = 0; i < 3; ++i) {
        REQUIRE(client.send(get(server, "/api/version")));
    }
    CHECK(server.requests_served() == 3);
    CHECK(server.connections_accepted() == 1);
}

TEST_CASE("a redirect is returned as it is, not followed") {
    HttpServer server([](const eye::testing::Request& request) {
        if (request.path == "/elsewhere") {
            return json_reply(200, "{}");
        }
        Reply reply = json_reply(302, "");
        reply.headers.emplace_back("Location", "/elsewhere");
        return reply;
    });
    Client client;
    auto result = client.send(get(server, "/health"));
    REQUIRE(result);
    CHECK(result->status == 302);
    CHECK(server.requests_served() == 1);
}

TEST_CASE("a refused connection is a connect failure that says so") {
    Client client;
    eye::http::Request request;
    request.url = "http://127.0.0.1:" + std::to_string(eye::testing::closed_port()) + "/health";
    auto result = client.send(request);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::connect);
    CHECK(result.error().message == "connection refused");
    CHECK(eye::http::failure_kind_name(result.error().kind) == "connect");
}

TEST_CASE("a url that cannot be used is bad_url and is not tried") {
    Client client;
    eye::http::Request request;
    request.url = "ftp://127.0.0.1/file";
    auto result = client.send(request, quick_retries(3));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::bad_url);
    CHECK_THAT(result.error().message, Catch::Contains("'ftp'"));
    CHECK(result.error().attempts == 1);

    request.url = "";
    auto empty = client.send(request);
    REQUIRE_FALSE(empty);
    CHECK(empty.error().kind == FailureKind::bad_url);
}

TEST_CASE("a server that never answers times out within the total timeout") {
    HttpServer server([](const eye::testing::Request&) {
        Reply reply;
        reply.hang = true;
        return reply;
    });
    Client client;
    auto request = get(server, "/health");
    request.timeouts.total = Milliseconds(300);
    auto start = Clock::now();
    auto result = client.send(request);
    auto took = since(start);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::timeout);
    CHECK(result.error().message == "timed out after 300ms");
    CHECK(took >= Milliseconds(280));
    CHECK(took < Milliseconds(800));
}

TEST_CASE("a connection closed without a reply is a transport failure") {
    HttpServer server([](const eye::testing::Request&) {
        Reply reply;
        reply.close_without_reply = true;
        return reply;
    });
    Client client;
    auto result = client.send(get(server, "/health"));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::transport);
    CHECK(result.error().message == "server closed the connection without replying");
}

TEST_CASE("a body larger than max_response_bytes is too_large") {
    std::string big(64 * 1024, 'x');
    SECTION("with a declared length") {
        HttpServer server([&](const eye::testing::Request&) { return json_reply(200, big); });
        Client client;
        auto request = get(server, "/health");
        request.max_response_bytes = 16 * 1024;
        auto result = client.send(request);
        REQUIRE_FALSE(result);
        CHECK(result.error().kind == FailureKind::too_large);
        CHECK(result.error().message == "response larger than 16.0 KiB");
    }
    SECTION("sent in chunks of unknown total length") {
        HttpServer server([&](const eye::testing::Request&) {
            Reply reply;
            reply.chunks.assign(8, std::string(8 * 1024, 'y'));
            return reply;
        });
        Client client;
        auto request = get(server, "/health");
        request.max_response_bytes = 16 * 1024;
        auto result = client.send(request);
        REQUIRE_FALSE(result);
        CHECK(result.error().kind == FailureKind::too_large);
    }
    SECTION("but a body of exactly the limit is fine") {
        HttpServer server([&](const eye::testing::Request&) { return json_reply(200, big); });
        Client client;
        auto request = get(server, "/health");
        request.max_response_bytes = big.size();
        auto result = client.send(request);
        REQUIRE(result);
        CHECK(result->body.size() == big.size());
    }
}

TEST_CASE("send retries a 503 until a 200 and counts the attempts") {
    std::atomic<int> calls{0};
    HttpServer server([&](const eye::testing::Request&) {
        if (++calls <= 2) {
            return json_reply(503, R"({"detail":"models loading"})");
        }
        return json_reply(200, R"({"status":"healthy"})");
    });
    Client client;
    auto result = client.send(get(server, "/health"), quick_retries(5));
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(result->attempts == 3);
    CHECK(server.requests_served() == 3);
}

TEST_CASE("send gives up after max_attempts and returns the last answer") {
    HttpServer server([](const eye::testing::Request&) { return json_reply(502, "{}"); });
    Client client;
    auto result = client.send(get(server, "/health"), quick_retries(3));
    REQUIRE(result);
    CHECK(result->status == 502);
    CHECK(result->attempts == 3);
    CHECK(server.requests_served() == 3);
}

TEST_CASE("a 400 is answered at once without a retry") {
    HttpServer server([](const eye::testing::Request&) {
        return json_reply(400, R"({"detail":"bad request"})");
    });
    Client client;
    auto result = client.send(get(server, "/health"), quick_retries(5));
    REQUIRE(result);
    CHECK(result->status == 400);
    CHECK(result->attempts == 1);
    CHECK(server.requests_served() == 1);
}

TEST_CASE("a refused connection is retried and the message says how often") {
    Client client;
    eye::http::Request request;
    request.url = "http://127.0.0.1:" + std::to_string(eye::testing::closed_port()) + "/";
    auto result = client.send(request, quick_retries(3));
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::connect);
    CHECK(result.error().attempts == 3);
    CHECK(result.error().message == "connection refused (after 3 attempts)");
}

TEST_CASE("the deadline stops retries before max_attempts") {
    HttpServer server([](const eye::testing::Request&) { return json_reply(503, "{}"); });
    Client client;
    RetryPolicy policy;
    policy.max_attempts = 100;
    policy.initial_backoff = Milliseconds(100);
    policy.max_backoff = Milliseconds(200);
    policy.deadline = Milliseconds(700);
    auto start = Clock::now();
    auto result = client.send(get(server, "/health"), policy);
    auto took = since(start);
    REQUIRE(result);
    CHECK(result->status == 503);
    // 0, 100, 300, 500 ms; the next retry would start at 700 ms, at the deadline
    CHECK(result->attempts == 4);
    CHECK(server.requests_served() == 4);
    CHECK(took < Milliseconds(700));
}

TEST_CASE("the deadline cuts an attempt that would outlive it") {
    HttpServer server([](const eye::testing::Request&) {
        Reply reply;
        reply.hang = true;
        return reply;
    });
    Client client;
    auto request = get(server, "/health");
    request.timeouts.total = Milliseconds(10'000);
    RetryPolicy policy = quick_retries(5);
    policy.deadline = Milliseconds(400);
    auto start = Clock::now();
    auto result = client.send(request, policy);
    auto took = since(start);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::timeout);
    CHECK(result.error().attempts == 1);
    CHECK(took >= Milliseconds(380));
    CHECK(took < Milliseconds(900));
}

TEST_CASE("the abort check stops a slow request quickly") {
    HttpServer server([](const eye::testing::Request&) {
        Reply reply = json_reply(200, "{}");
        reply.delay = Milliseconds(5'000);
        return reply;
    });
    Client client;
    auto start = Clock::now();
    client.set_abort_check([&] { return since(start) > Milliseconds(200); });
    auto result = client.send(get(server, "/health"), quick_retries(3));
    auto took = since(start);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::aborted);
    CHECK(result.error().attempts == 1);
    CHECK(took < Milliseconds(600));
}

TEST_CASE("the abort check is honoured while waiting to retry") {
    HttpServer server([](const eye::testing::Request&) { return json_reply(503, "{}"); });
    Client client;
    RetryPolicy policy;
    policy.max_attempts = 5;
    policy.initial_backoff = Milliseconds(5'000);
    policy.deadline = Milliseconds(60'000);
    auto start = Clock::now();
    client.set_abort_check([&] { return since(start) > Milliseconds(300); });
    auto result = client.send(get(server, "/health"), policy);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::aborted);
    CHECK(result.error().message == "aborted while waiting to retry");
    CHECK(since(start) < Milliseconds(1'000));
    CHECK(server.requests_served() == 1);
}

TEST_CASE("stream_lines delivers NDJSON lines as they arrive, including an error after a 200") {
    HttpServer server([](const eye::testing::Request&) {
        Reply reply = json_reply(200, "");
        reply.content_type = "application/x-ndjson";
        reply.chunks = {
            "{\"status\":\"pulling manifest\"}\n",
            "{\"status\":\"pulling a\",\"completed\":1}\n{\"sta",
            "tus\":\"pulling a\",\"completed\":2}\r\n",
            "{\"error\":\"pull model manifest: file does not exist\"}",
        };
        reply.chunk_delay = Milliseconds(150);
        return reply;
    });
    Client client;
    std::vector<std::string> lines;
    Milliseconds first_line_after{-1};
    auto start = Clock::now();
    auto result = client.stream_lines(get(server, "/api/pull"), [&](std::string_view line) {
        if (lines.empty()) {
            first_line_after = since(start);
        }
        lines.emplace_back(line);
        return true;
    });
    auto took = since(start);
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(result->body.empty());
    CHECK(result->content_type == "application/x-ndjson");
    REQUIRE(lines.size() == 4);
    CHECK(lines[0] == R"({"status":"pulling manifest"})");
    CHECK(lines[1] == R"({"status":"pulling a","completed":1})");
    CHECK(lines[2] == R"({"status":"pulling a","completed":2})");
    CHECK(lines[3] == R"({"error":"pull model manifest: file does not exist"})");
    // the first line was handed over long before the stream ended
    CHECK(took >= Milliseconds(400));
    CHECK(first_line_after < Milliseconds(250));
}

TEST_CASE("stream_lines stops the transfer when the callback returns false") {
    HttpServer server([](const eye::testing::Request&) {
        Reply reply = json_reply(200, "");
        reply.chunks.assign(20, "{\"status\":\"working\"}\n");
        reply.chunk_delay = Milliseconds(100);
        return reply;
    });
    Client client;
    int calls = 0;
    auto start = Clock::now();
    auto result = client.stream_lines(get(server, "/api/pull"), [&](std::string_view) {
        ++calls;
        return false;
    });
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::aborted);
    CHECK(calls == 1);
    CHECK(since(start) < Milliseconds(1'000));
}

TEST_CASE("stream_lines refuses a line longer than max_response_bytes") {
    HttpServer server([](const eye::testing::Request&) {
        Reply reply = json_reply(200, "");
        reply.chunks = {"short\n", std::string(4096, 'z'), std::string(4096, 'z'), "\n"};
        return reply;
    });
    Client client;
    auto request = get(server, "/api/pull");
    request.max_response_bytes = 1024;
    std::vector<std::string> lines;
    auto result = client.stream_lines(request, [&](std::string_view line) {
        lines.emplace_back(line);
        return true;
    });
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == FailureKind::too_large);
    CHECK(result.error().message == "response line longer than 1.0 KiB");
    CHECK(lines == std::vector<std::string>{"short"});
}

TEST_CASE("stream_lines keeps the body of an error status whole instead of streaming it") {
    HttpServer server([](const eye::testing::Request&) {
        return json_reply(404, "{\"error\":\"model not found\"}\n");
    });
    Client client;
    int calls = 0;
    auto result = client.stream_lines(get(server, "/api/pull"), [&](std::string_view) {
        ++calls;
        return true;
    });
    REQUIRE(result);
    CHECK(result->status == 404);
    CHECK(result->body == "{\"error\":\"model not found\"}\n");
    CHECK(calls == 0);
}

TEST_CASE("a bearer token is sent as an Authorization header, and only when set") {
    HttpServer server([](const eye::testing::Request&) { return json_reply(200, "{}"); });
    Client client;
    auto request = get(server, "/health");
    REQUIRE(client.send(request));
    request.bearer_token = "s3cret";
    REQUIRE(client.send(request));
    auto received = server.requests();
    REQUIRE(received.size() == 2);
    CHECK(received[0].header("authorization").empty());
    CHECK(received[1].header("Authorization") == "Bearer s3cret");
}

TEST_CASE("is_retryable retries transport trouble and 5xx but not 4xx or a full body") {
    eye::http::Response ok;
    ok.status = 200;
    eye::http::Response busy;
    busy.status = 503;
    eye::http::Response bad;
    bad.status = 404;
    CHECK_FALSE(eye::http::is_retryable(ok));
    CHECK(eye::http::is_retryable(busy));
    CHECK_FALSE(eye::http::is_retryable(bad));
    auto failure = [](FailureKind kind) {
        eye::http::Failure f;
        f.kind = kind;
        return eye::http::Result(tl::make_unexpected(f));
    };
    CHECK(eye::http::is_retryable(failure(FailureKind::connect)));
    CHECK(eye::http::is_retryable(failure(FailureKind::timeout)));
    CHECK(eye::http::is_retryable(failure(FailureKind::transport)));
    CHECK_FALSE(eye::http::is_retryable(failure(FailureKind::too_large)));
    CHECK_FALSE(eye::http::is_retryable(failure(FailureKind::aborted)));
    CHECK_FALSE(eye::http::is_retryable(failure(FailureKind::bad_url)));
}

TEST_CASE("join_url puts exactly one slash between base and path") {
    using eye::http::join_url;
    CHECK(join_url("http://ai:8000", "/health") == "http://ai:8000/health");
    CHECK(join_url("http://ai:8000/", "/health") == "http://ai:8000/health");
    CHECK(join_url("http://ai:8000//", "health") == "http://ai:8000/health");
    CHECK(join_url("http://ai:8000", "health") == "http://ai:8000/health");
    CHECK(join_url("http://proxy/ollama/", "/api/tags") == "http://proxy/ollama/api/tags");
    CHECK(join_url("http://ai:8000/", "") == "http://ai:8000");
}

TEST_CASE("a url's password never shows in a message") {
    eye::http::Client client;
    eye::http::Request request;
    request.url = "ftp://eye:hunter2-secret@ai:8000/x";
    auto result = client.send(request);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == eye::http::FailureKind::bad_url);
    CHECK_THAT(result.error().message, Catch::Contains("ftp://eye:***@ai:8000/x"));
    CHECK_THAT(result.error().message, !Catch::Contains("hunter2"));
    CHECK(eye::http::redact_url("http://eye:pw@ai:8000/health?x=1") ==
          "http://eye:***@ai:8000/health?x=1");
    CHECK(eye::http::redact_url("http://ai:8000/a@b") == "http://ai:8000/a@b");
}

TEST_CASE("plain http to another host is clear text; https and this machine are not") {
    using eye::http::is_cleartext_to_remote;
    CHECK(is_cleartext_to_remote("http://python-ai:8000"));
    CHECK(is_cleartext_to_remote("http://10.0.0.7"));
    CHECK_FALSE(is_cleartext_to_remote("https://python-ai:8000"));
    CHECK_FALSE(is_cleartext_to_remote("http://localhost:8000"));
    CHECK_FALSE(is_cleartext_to_remote("http://127.0.0.1:8000"));
    CHECK_FALSE(is_cleartext_to_remote("http://127.1.2.3"));
    CHECK_FALSE(is_cleartext_to_remote("http://[::1]:8000"));
    CHECK_FALSE(is_cleartext_to_remote(""));
}
