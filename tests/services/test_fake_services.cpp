// eye-fake-services, run as the end-to-end tests run it, answered through the typed clients.

#include <chrono>
#include <fstream>
#include <signal.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <catch2/catch.hpp>

#include "eye/services/ai_service.hpp"
#include "eye/services/ollama.hpp"
#include "support/process.hpp"

using eye::Milliseconds;
using eye::services::AiServiceClient;
using eye::services::OllamaClient;
using eye::services::ServiceError;
using eye::testing::FakeServices;
using Clock = std::chrono::steady_clock;

namespace {

eye::http::Timeouts short_timeouts() {
    eye::http::Timeouts timeouts;
    timeouts.connect = Milliseconds(500);
    timeouts.total = Milliseconds(500);
    return timeouts;
}

}  // namespace

TEST_CASE("the fake AI service answers health in each mode") {
    SECTION("healthy") {
        FakeServices fake(true, false);
        CHECK(fake.ollama_url().empty());
        auto health = AiServiceClient(fake.ai_url()).health();
        REQUIRE(health);
        CHECK(health->ready());
        CHECK(health->device == "cpu");
    }
    SECTION("initializing") {
        FakeServices fake(true, false, {"--ai-mode", "initializing"});
        auto health = AiServiceClient(fake.ai_url()).health();
        REQUIRE(health);
        CHECK(health->status == "initializing");
        CHECK_FALSE(health->ready());
    }
    SECTION("models-not-loaded") {
        FakeServices fake(true, false, {"--ai-mode", "models-not-loaded"});
        auto health = AiServiceClient(fake.ai_url()).health();
        REQUIRE(health);
        CHECK(health->status == "healthy");
        CHECK_FALSE(health->models_loaded);
    }
    SECTION("html") {
        FakeServices fake(true, false, {"--ai-mode", "html"});
        auto health = AiServiceClient(fake.ai_url()).health();
        REQUIRE_FALSE(health);
        CHECK(health.error().kind == ServiceError::Kind::bad_response);
        CHECK_THAT(health.error().message, Catch::Contains("not JSON (starts with '<html>"));
    }
    SECTION("not-json") {
        FakeServices fake(true, false, {"--ai-mode", "not-json"});
        auto health = AiServiceClient(fake.ai_url()).health();
        REQUIRE_FALSE(health);
        CHECK(health.error().kind == ServiceError::Kind::bad_response);
    }
    SECTION("error500") {
        FakeServices fake(true, false, {"--ai-mode", "error500"});
        auto health = AiServiceClient(fake.ai_url()).health();
        REQUIRE_FALSE(health);
        CHECK(health.error().http_status == 500);
        CHECK_THAT(health.error().message, Catch::Contains("HTTP 500: Internal Server Error"));
    }
    SECTION("hang") {
        auto start = Clock::now();
        {
            FakeServices fake(true, false, {"--ai-mode", "hang"});
            auto health = AiServiceClient(fake.ai_url(), "", short_timeouts()).health();
            REQUIRE_FALSE(health);
            CHECK(health.error().kind == ServiceError::Kind::timeout);
        }
        // the fake stops on SIGTERM at once although a handler still hangs
        CHECK(Clock::now() - start < std::chrono::seconds(3));
    }
}

TEST_CASE("eye-fake-services exits 0 on SIGTERM and refuses to start with nothing to serve") {
    std::string ports_file = "/tmp/eye-fake-services-" + std::to_string(getpid()) + ".ports";
    eye::testing::Process fake(
        "tests/eye-fake-services",
        {"--ollama-port", "0", "--ollama-mode", "hang", "--ports-file", ports_file}, {});
    auto give_up = Clock::now() + std::chrono::seconds(10);
    std::string ports;
    while (ports.empty() && Clock::now() < give_up && fake.running()) {
        std::ifstream in(ports_file);
        std::getline(in, ports);
        std::this_thread::sleep_for(Milliseconds(10));
    }
    CHECK_THAT(ports, Catch::StartsWith("ollama="));
    fake.signal(SIGTERM);
    auto result = fake.wait(std::chrono::seconds(5));
    CHECK(result.exit_code == 0);
    CHECK(result.elapsed < std::chrono::seconds(10));
    unlink(ports_file.c_str());

    auto idle = eye::testing::run("tests/eye-fake-services", {});
    CHECK(idle.exit_code == 64);
    CHECK_THAT(idle.err, Catch::Contains("nothing to serve"));
}

TEST_CASE("the fake Ollama lists, shows and pulls models as Ollama does") {
    FakeServices fake(
        false, true,
        {"--ollama-models", "llava:13b-v1.6,nomic-embed-text", "--ollama-pullable", "moondream"});
    CHECK(fake.ai_url().empty());
    OllamaClient client(fake.ollama_url());

    REQUIRE(client.version());
    auto tags = client.tags();
    REQUIRE(tags);
    CHECK(*tags == std::vector<std::string>{"llava:13b-v1.6", "nomic-embed-text:latest"});

    auto capabilities = client.show("llava:13b-v1.6");
    REQUIRE(capabilities);
    CHECK(*capabilities == std::vector<std::string>{"completion", "vision"});
    auto not_installed = client.show("moondream");
    REQUIRE_FALSE(not_installed);
    CHECK(not_installed.error().http_status == 404);

    std::vector<std::string> statuses;
    auto pulled = client.pull(
        "moondream",
        [&](std::string_view status, std::int64_t, std::int64_t) { statuses.emplace_back(status); },
        Milliseconds(10'000));
    REQUIRE(pulled);
    REQUIRE(statuses.size() >= 3);
    CHECK(statuses.front() == "pulling manifest");
    CHECK(statuses.back() == "success");
    tags = client.tags();
    REQUIRE(tags);
    CHECK(eye::services::has_model(*tags, "moondream"));

    auto unknown = client.pull("llava:99b", nullptr, Milliseconds(10'000));
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().kind == ServiceError::Kind::http_status);
    CHECK_THAT(unknown.error().message,
               Catch::EndsWith("pull model manifest: file does not exist"));
    tags = client.tags();
    REQUIRE(tags);
    CHECK_FALSE(eye::services::has_model(*tags, "llava:99b"));
}

TEST_CASE("the fake Ollama can be busy or hang") {
    SECTION("busy503") {
        FakeServices fake(false, true, {"--ollama-mode", "busy503"});
        auto version = OllamaClient(fake.ollama_url()).version();
        REQUIRE_FALSE(version);
        CHECK(version.error().http_status == 503);
        CHECK_THAT(version.error().message, Catch::Contains("server busy"));
    }
    SECTION("hang") {
        FakeServices fake(true, true, {"--ollama-mode", "hang"});
        CHECK_FALSE(fake.ai_url().empty());
        auto version = OllamaClient(fake.ollama_url(), short_timeouts()).version();
        REQUIRE_FALSE(version);
        CHECK(version.error().kind == ServiceError::Kind::timeout);
    }
}
