#include <chrono>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "eye/json/json.hpp"
#include "eye/services/ollama.hpp"
#include "support/http_server.hpp"

using eye::Milliseconds;
using eye::services::has_model;
using eye::services::normalize_model_name;
using eye::services::OllamaClient;
using eye::services::ServiceError;
using eye::testing::HttpServer;
using eye::testing::json_reply;
using eye::testing::Reply;
using Clock = std::chrono::steady_clock;

namespace {

using Progress = std::tuple<std::string, std::int64_t, std::int64_t>;

Reply ndjson(std::vector<std::string> lines, Milliseconds delay = Milliseconds(20)) {
    Reply reply = json_reply(200, "");
    reply.content_type = "application/x-ndjson";
    for (auto& line : lines) {
        reply.chunks.push_back(line + "\n");
    }
    reply.chunk_delay = delay;
    return reply;
}

eye::http::Timeouts short_timeouts() {
    eye::http::Timeouts timeouts;
    timeouts.connect = Milliseconds(500);
    timeouts.total = Milliseconds(400);
    return timeouts;
}

}  // namespace

TEST_CASE("version and tags read Ollama's answers") {
    HttpServer server([](const eye::testing::Request& request) {
        if (request.path == "/api/version") {
            return json_reply(200, R"({"version":"0.5.7"})");
        }
        if (request.path == "/api/tags") {
            return json_reply(200, R"({"models":[
                {"name":"llava:latest","model":"llava:latest","size":4109865159},
                {"name":"llava:13b-v1.6","model":"llava:13b-v1.6"},
                {"model":"nomic-embed-text:latest"}]})");
        }
        return json_reply(404, R"({"error":"not found"})");
    });
    OllamaClient client(server.url());
    auto version = client.version();
    REQUIRE(version);
    CHECK(*version == "0.5.7");
    auto tags = client.tags();
    REQUIRE(tags);
    CHECK(*tags ==
          std::vector<std::string>{"llava:latest", "llava:13b-v1.6", "nomic-embed-text:latest"});
}

TEST_CASE("tags without a models array is bad_response") {
    HttpServer server(
        [](const eye::testing::Request&) { return json_reply(200, R"({"version":"1"})"); });
    OllamaClient client(server.url());
    auto tags = client.tags();
    REQUIRE_FALSE(tags);
    CHECK(tags.error().kind == ServiceError::Kind::bad_response);
    CHECK(tags.error().message ==
          "GET " + server.url() + "/api/tags: no array 'models' in the answer");
}

TEST_CASE("a busy Ollama is http_status 503 with its error in the message") {
    HttpServer server([](const eye::testing::Request&) {
        return json_reply(503, R"({"error":"server busy, please try again"})");
    });
    OllamaClient client(server.url());
    auto version = client.version();
    REQUIRE_FALSE(version);
    CHECK(version.error().kind == ServiceError::Kind::http_status);
    CHECK(version.error().http_status == 503);
    CHECK(version.error().message ==
          "GET " + server.url() + "/api/version: HTTP 503: server busy, please try again");
}

TEST_CASE("a hanging Ollama is a timeout") {
    HttpServer server([](const eye::testing::Request&) {
        Reply reply;
        reply.hang = true;
        return reply;
    });
    OllamaClient client(server.url(), short_timeouts());
    auto version = client.version();
    REQUIRE_FALSE(version);
    CHECK(version.error().kind == ServiceError::Kind::timeout);
}

TEST_CASE("pull streams progress to the callback and succeeds on a success line") {
    HttpServer server([](const eye::testing::Request& request) {
        if (request.path != "/api/pull") {
            return json_reply(404, R"({"error":"not found"})");
        }
        return ndjson({
            R"({"status":"pulling manifest"})",
            R"({"status":"pulling 170370233dd5","digest":"sha256:1703","total":1000,"completed":0})",
            R"({"status":"pulling 170370233dd5","digest":"sha256:1703","total":1000,"completed":600})",
            "",
            R"({"status":"pulling 170370233dd5","digest":"sha256:1703","total":1000,"completed":1000})",
            R"({"status":"verifying sha256 digest"})",
            R"({"status":"success"})",
        });
    });
    OllamaClient client(server.url());
    std::vector<Progress> progress;
    auto pulled = client.pull(
        " llava ",
        [&](std::string_view status, std::int64_t completed, std::int64_t total) {
            progress.emplace_back(std::string(status), completed, total);
        },
        Milliseconds(5'000));
    REQUIRE(pulled);
    REQUIRE(progress.size() == 6);
    CHECK(progress[0] == Progress{"pulling manifest", 0, 0});
    CHECK(progress[2] == Progress{"pulling 170370233dd5", 600, 1000});
    CHECK(progress[5] == Progress{"success", 0, 0});

    auto request = server.requests().at(0);
    CHECK(request.method == "POST");
    CHECK(request.header("content-type") == "application/json");
    auto body = eye::json::parse(request.body);
    REQUIRE(body);
    CHECK(eye::json::get_string(*body, "model") == "llava:latest");
    CHECK(eye::json::get_bool(*body, "stream") == true);
}

TEST_CASE("pull fails on an error line that arrives after a 200") {
    HttpServer server([](const eye::testing::Request&) {
        return ndjson({
            R"({"status":"pulling manifest"})",
            R"({"error":"pull model manifest: file does not exist"})",
        });
    });
    OllamaClient client(server.url());
    std::vector<std::string> statuses;
    auto pulled = client.pull(
        "llava:99b",
        [&](std::string_view status, std::int64_t, std::int64_t) { statuses.emplace_back(status); },
        Milliseconds(5'000));
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().kind == ServiceError::Kind::http_status);
    CHECK(pulled.error().http_status == 200);
    CHECK(pulled.error().message == "POST " + server.url() +
                                        "/api/pull (model 'llava:99b'): pull model manifest: "
                                        "file does not exist");
    CHECK(statuses == std::vector<std::string>{"pulling manifest"});
}

TEST_CASE("pull fails when the stream ends without a success line") {
    HttpServer server([](const eye::testing::Request&) {
        return ndjson({R"({"status":"pulling manifest"})", R"({"status":"writing manifest"})"});
    });
    OllamaClient client(server.url());
    auto pulled = client.pull("llava", nullptr, Milliseconds(5'000));
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().kind == ServiceError::Kind::bad_response);
    CHECK_THAT(pulled.error().message,
               Catch::EndsWith("ended without 'success' (last: 'writing manifest')"));
}

TEST_CASE("pull fails on a progress line that is not JSON") {
    HttpServer server([](const eye::testing::Request&) {
        return ndjson(
            {R"({"status":"pulling manifest"})", "<html>oops</html>", R"({"status":"success"})"});
    });
    OllamaClient client(server.url());
    auto pulled = client.pull("llava", nullptr, Milliseconds(5'000));
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().kind == ServiceError::Kind::bad_response);
    CHECK_THAT(pulled.error().message,
               Catch::EndsWith("progress line is not JSON (starts with '<html>oops</html>')"));
}

TEST_CASE("pull that refuses with an error status reports its error") {
    HttpServer server([](const eye::testing::Request&) {
        return json_reply(400, R"({"error":"invalid model name"})");
    });
    OllamaClient client(server.url());
    auto pulled = client.pull("Bad Name!", nullptr, Milliseconds(5'000));
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().kind == ServiceError::Kind::http_status);
    CHECK(pulled.error().http_status == 400);
    CHECK_THAT(pulled.error().message, Catch::EndsWith(": HTTP 400: invalid model name"));
}

TEST_CASE("pull stops at its deadline") {
    HttpServer server([](const eye::testing::Request&) {
        std::vector<std::string> lines(50, R"({"status":"pulling 170370233dd5"})");
        lines.emplace_back(R"({"status":"success"})");
        return ndjson(lines, Milliseconds(100));
    });
    OllamaClient client(server.url());
    int calls = 0;
    auto start = Clock::now();
    auto pulled = client.pull(
        "llava", [&](std::string_view, std::int64_t, std::int64_t) { ++calls; }, Milliseconds(350));
    auto took = std::chrono::duration_cast<Milliseconds>(Clock::now() - start);
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().kind == ServiceError::Kind::timeout);
    CHECK_THAT(pulled.error().message, Catch::EndsWith("timed out after 350ms"));
    CHECK(calls >= 2);
    CHECK(took >= Milliseconds(330));
    CHECK(took < Milliseconds(900));
}

TEST_CASE("show lists a model's capabilities and a missing model is a 404") {
    HttpServer server([](const eye::testing::Request& request) {
        auto body = eye::json::parse(request.body);
        if (body && eye::json::get_string(*body, "model") == "llava:latest") {
            return json_reply(200, R"({"details":{},"capabilities":["completion","vision"]})");
        }
        if (body && eye::json::get_string(*body, "model") == "old:latest") {
            return json_reply(200, R"({"details":{}})");
        }
        return json_reply(404, R"({"error":"model 'x' not found"})");
    });
    OllamaClient client(server.url());
    auto capabilities = client.show("llava");
    REQUIRE(capabilities);
    CHECK(*capabilities == std::vector<std::string>{"completion", "vision"});
    auto old = client.show("old");
    REQUIRE(old);
    CHECK(old->empty());
    auto missing = client.show("x");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ServiceError::Kind::http_status);
    CHECK(missing.error().http_status == 404);
    CHECK(missing.error().message ==
          "POST " + server.url() + "/api/show: HTTP 404: model 'x' not found");
}

TEST_CASE("a refused connection to Ollama is unreachable") {
    std::string url = "http://127.0.0.1:" + std::to_string(eye::testing::closed_port());
    OllamaClient client(url, short_timeouts());
    auto tags = client.tags();
    REQUIRE_FALSE(tags);
    CHECK(tags.error().kind == ServiceError::Kind::unreachable);
    CHECK(tags.error().message == "GET " + url + "/api/tags: connection refused");
    auto pulled = client.pull("llava", nullptr, Milliseconds(1'000));
    REQUIRE_FALSE(pulled);
    CHECK(pulled.error().kind == ServiceError::Kind::unreachable);
}

TEST_CASE("normalize_model_name adds the latest tag only where a tag is missing") {
    CHECK(normalize_model_name("llava") == "llava:latest");
    CHECK(normalize_model_name("  llava \t") == "llava:latest");
    CHECK(normalize_model_name("llava:13b") == "llava:13b");
    CHECK(normalize_model_name("llava:13b-v1.6") == "llava:13b-v1.6");
    CHECK(normalize_model_name("llava:") == "llava:latest");
    CHECK(normalize_model_name("library/llava") == "library/llava:latest");
    CHECK(normalize_model_name("registry.local:5000/team/llava") ==
          "registry.local:5000/team/llava:latest");
    CHECK(normalize_model_name("registry.local:5000/team/llava:7b") ==
          "registry.local:5000/team/llava:7b");
    CHECK(normalize_model_name("   ").empty());
}

TEST_CASE("has_model matches normalised names exactly, never by substring") {
    std::vector<std::string> installed{"llava-phi3:latest", "llava:13b-v1.6", "moondream:latest"};
    CHECK_FALSE(has_model(installed, "llava"));
    CHECK_FALSE(has_model(installed, "llava:13b"));
    CHECK_FALSE(has_model(installed, "llava:13b-v1"));
    CHECK(has_model(installed, "llava:13b-v1.6"));
    CHECK(has_model(installed, "moondream"));
    CHECK(has_model(installed, " moondream:latest "));
    CHECK(has_model(installed, "llava-phi3"));
    CHECK_FALSE(has_model(installed, ""));
    CHECK_FALSE(has_model({}, "llava"));
    CHECK(has_model({"llava"}, "llava:latest"));
}
