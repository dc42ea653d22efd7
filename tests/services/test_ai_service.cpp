#include <array>
#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "eye/json/json.hpp"
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

namespace {

// What python-ai answers for an image with two faces, every field of the contract filled.
const char* const k_full_answer = R"({
    "description": "Two people on a beach at sunset.",
    "detailed_description": "Two people stand on a sandy beach while the sun sets.",
    "meta_tags": ["beach", "sunset", "people"],
    "embedding": [0.25, -0.5, 1e-3, 0],
    "faces_detected": 2,
    "face_locations": [[10, 60, 50, 20], [12.0, 160, 52, 120]],
    "face_encodings": [[0.1, 0.2, 0.3], [-0.1, -0.2, -0.3]],
    "dominant_colors": [{"hex": "#ff8000", "rgb": [255, 128, 0], "name": "orange",
                         "percentage": 35.2}],
    "image_quality": {"overall_score": 0.8, "issues": {"is_blurry": false}},
    "quality_tier": "excellent",
    "phash": "8f373714acfcf4d0",
    "dhash": "0f1f3f7fffffffff",
    "objects_detected": [{"label": "person", "confidence": 0.9}],
    "scene_classification": {"scene": "beach", "confidence": 0.7},
    "thumbnail_path": "/app/shared/thumbnails/a_thumb.jpg",
    "extracted_text": "SUNSET BAR",
    "processing_time": 1.25
})";

eye::testing::Handler analyze_answer(Reply reply) {
    return [reply](const eye::testing::Request& request) {
        if (request.method != "POST" || request.path != "/analyze-image") {
            return json_reply(404, R"({"detail":"Not Found"})");
        }
        return reply;
    };
}

eye::services::AnalyzeImageRequest beach_request() {
    eye::services::AnalyzeImageRequest request;
    request.image_path = "/app/shared/media/2026/beach.jpg";
    request.captioning_model = "florence";
    request.embedding_model = "clip";
    return request;
}

// The error analyze_image gives for a 200 with this body.
ServiceError refused_answer(const std::string& body) {
    HttpServer server(analyze_answer(json_reply(200, body)));
    AiServiceClient client(server.url());
    auto answer = client.analyze_image(beach_request());
    REQUIRE_FALSE(answer);
    return answer.error();
}

}  // namespace

TEST_CASE("analyze_image posts the image path and models and reads every field of the answer") {
    HttpServer server(analyze_answer(json_reply(200, k_full_answer)));
    AiServiceClient client(server.url(), "eye-token");
    auto answer = client.analyze_image(beach_request());
    REQUIRE(answer);

    REQUIRE(server.requests().size() == 1);
    auto sent = server.requests().at(0);
    CHECK(sent.header("content-type") == "application/json");
    CHECK(sent.header("authorization") == "Bearer eye-token");
    auto body = eye::json::parse(sent.body);
    REQUIRE(body);
    CHECK(eye::json::get_string(*body, "image_path") == "/app/shared/media/2026/beach.jpg");
    CHECK(eye::json::get_bool(*body, "detect_faces") == true);
    CHECK(eye::json::get_bool(*body, "use_ollama") == false);
    CHECK(eye::json::get_string(*body, "captioning_model") == "florence");
    CHECK(eye::json::get_string(*body, "embedding_model") == "clip");
    CHECK(eye::json::member(*body, "ollama_model") == nullptr);

    CHECK(answer->description == "Two people on a beach at sunset.");
    CHECK(answer->detailed_description == "Two people stand on a sandy beach while the sun sets.");
    CHECK(answer->meta_tags == std::vector<std::string>{"beach", "sunset", "people"});
    REQUIRE(answer->embedding);
    CHECK(*answer->embedding == std::vector<float>{0.25f, -0.5f, 1e-3f, 0.0f});
    CHECK(answer->faces_detected == 2);
    CHECK(answer->face_locations ==
          std::vector<std::array<int, 4>>{{10, 60, 50, 20}, {12, 160, 52, 120}});
    CHECK(answer->face_encodings ==
          std::vector<std::vector<float>>{{0.1f, 0.2f, 0.3f}, {-0.1f, -0.2f, -0.3f}});
    CHECK(answer->dominant_colors_json ==
          R"([{"hex":"#ff8000","rgb":[255,128,0],"name":"orange","percentage":35.2}])");
    CHECK(answer->image_quality_json == R"({"overall_score":0.8,"issues":{"is_blurry":false}})");
    CHECK(answer->quality_tier == "excellent");
    CHECK(answer->phash == "8f373714acfcf4d0");
    CHECK(answer->dhash == "0f1f3f7fffffffff");
    CHECK(answer->objects_detected_json == R"([{"label":"person","confidence":0.9}])");
    CHECK(answer->scene_classification_json == R"({"scene":"beach","confidence":0.7})");
    CHECK(answer->thumbnail_path == "/app/shared/thumbnails/a_thumb.jpg");
    CHECK(answer->extracted_text == "SUNSET BAR");
}

TEST_CASE("analyze_image sends the Ollama model only when it is asked to use Ollama") {
    HttpServer server(analyze_answer(json_reply(200, R"({"description":"x"})")));
    AiServiceClient client(server.url());
    auto request = beach_request();
    request.use_ollama = true;
    request.ollama_model = "llava:13b";
    request.captioning_model.clear();
    REQUIRE(client.analyze_image(request));
    auto body = eye::json::parse(server.requests().at(0).body);
    REQUIRE(body);
    CHECK(eye::json::get_bool(*body, "use_ollama") == true);
    CHECK(eye::json::get_string(*body, "ollama_model") == "llava:13b");
    CHECK(eye::json::member(*body, "captioning_model") == nullptr);
}

TEST_CASE("analyze_image takes missing and null fields as not computed") {
    HttpServer server(analyze_answer(json_reply(
        200, R"({"description":null,"embedding":null,"meta_tags":null,"faces_detected":null,
                 "face_locations":null,"face_encodings":null,"dominant_colors":null,
                 "image_quality":null,"scene_classification":null,"extracted_text":null})")));
    AiServiceClient client(server.url());
    auto answer = client.analyze_image(beach_request());
    REQUIRE(answer);
    CHECK_FALSE(answer->description);
    CHECK_FALSE(answer->detailed_description);
    CHECK(answer->meta_tags.empty());
    CHECK_FALSE(answer->embedding);
    CHECK(answer->faces_detected == 0);
    CHECK(answer->face_locations.empty());
    CHECK(answer->face_encodings.empty());
    CHECK_FALSE(answer->dominant_colors_json);
    CHECK_FALSE(answer->image_quality_json);
    CHECK_FALSE(answer->quality_tier);
    CHECK_FALSE(answer->scene_classification_json);
    CHECK_FALSE(answer->thumbnail_path);
    CHECK_FALSE(answer->extracted_text);
}

TEST_CASE("analyze_image refuses a field of the wrong type, naming it, as a malformed answer") {
    struct Case {
        const char* body;
        const char* reason;
    };
    const Case cases[] = {
        {R"({"faces_detected":"2"})", "'faces_detected' is a string, expected an integer"},
        {R"({"faces_detected":1.5})", "'faces_detected' is a number, expected an integer"},
        {R"({"faces_detected":-1})", "'faces_detected' is -1, expected 0 or more"},
        {R"({"description":42})", "'description' is a number, expected a string"},
        {R"({"meta_tags":"beach"})", "'meta_tags' is a string, expected an array of strings"},
        {R"({"meta_tags":["beach",7]})", "'meta_tags[1]' is a number, expected a string"},
        {R"({"embedding":{"0":1}})", "'embedding' is an object, expected an array of numbers"},
        {R"({"embedding":[0.5,"0.25"]})", "'embedding[1]' is a string, expected a number"},
        {R"({"embedding":[0.5,1e39]})", "'embedding[1]' is 1e+39, not a finite 32-bit float"},
        {R"({"face_locations":[[1,2,3]]})",
         "'face_locations[0]' is not [top, right, bottom, left]"},
        {R"({"face_locations":[[1,2,3,4.5]]})",
         "'face_locations[0][3]' is a number, expected an integer"},
        {R"({"face_encodings":[[0.1],"x"]})",
         "'face_encodings[1]' is a string, expected an array of numbers"},
        {R"({"dominant_colors":{"hex":"#fff"}})",
         "'dominant_colors' is an object, expected an array"},
        {R"({"image_quality":[0.5]})", "'image_quality' is an array, expected an object"},
        {R"({"phash":12345})", "'phash' is a number, expected a string"},
        {R"(["description"])", "expected a JSON object, got an array"},
        {R"({"description": "cut short)",
         "invalid JSON at offset 26: Missing a closing quotation mark in string."},
    };
    for (const auto& c : cases) {
        INFO(c.body);
        auto error = refused_answer(c.body);
        CHECK(error.kind == ServiceError::Kind::bad_response);
        CHECK_THAT(error.message, Catch::StartsWith("POST http://127.0.0.1:") &&
                                      Catch::Contains(std::string("/analyze-image: malformed "
                                                                  "answer: ") +
                                                      c.reason));
        CHECK(eye::services::is_malformed_answer(error));
    }
}

TEST_CASE("analyze_image calls a body that is not JSON not JSON, not a malformed answer") {
    auto html = refused_answer("<html><body>Please sign in</body></html>");
    CHECK(html.kind == ServiceError::Kind::bad_response);
    CHECK_THAT(html.message,
               Catch::EndsWith("/analyze-image: not JSON (starts with '<html><body>Please sign "
                               "in</body></html>')"));
    CHECK_FALSE(eye::services::is_malformed_answer(html));

    auto empty = refused_answer("  \n");
    CHECK(empty.kind == ServiceError::Kind::bad_response);
    CHECK_THAT(empty.message, Catch::EndsWith("empty body where JSON was expected"));
    CHECK_FALSE(eye::services::is_malformed_answer(empty));

    // the marker words inside a quoted body do not make it the service's answer
    auto quoted = refused_answer("x: malformed answer: y");
    CHECK_FALSE(eye::services::is_malformed_answer(quoted));
}

TEST_CASE("analyze_image reports the service's error statuses with their detail") {
    struct Case {
        int status;
        const char* body;
        const char* ending;
    };
    const Case cases[] = {
        {404, R"({"detail":"Image not found: /app/shared/media/2026/beach.jpg"})",
         "/analyze-image: HTTP 404: Image not found: /app/shared/media/2026/beach.jpg"},
        {503, R"({"detail":"Models are still loading"})",
         "/analyze-image: HTTP 503: Models are still loading"},
        {500, R"({"detail":"Analysis failed: CUDA error"})",
         "/analyze-image: HTTP 500: Analysis failed: CUDA error"},
    };
    for (const auto& c : cases) {
        INFO(c.status);
        HttpServer server(analyze_answer(json_reply(c.status, c.body)));
        AiServiceClient client(server.url());
        auto answer = client.analyze_image(beach_request());
        REQUIRE_FALSE(answer);
        CHECK(answer.error().kind == ServiceError::Kind::http_status);
        CHECK(answer.error().http_status == c.status);
        CHECK_THAT(answer.error().message, Catch::EndsWith(c.ending));
        CHECK_FALSE(eye::services::is_malformed_answer(answer.error()));
    }
}

TEST_CASE("analyze_image stops reading an answer larger than 16 MiB") {
    Reply huge = json_reply(200, "");
    huge.chunks.push_back(R"({"description":")");
    std::string mebibyte(1024 * 1024, 'a');
    for (int i = 0; i < 20; ++i) {
        huge.chunks.push_back(mebibyte);
    }
    huge.chunks.push_back(R"("})");
    HttpServer server(analyze_answer(huge));
    AiServiceClient client(server.url());
    auto answer = client.analyze_image(beach_request());
    REQUIRE_FALSE(answer);
    CHECK(answer.error().kind == ServiceError::Kind::too_large);
    CHECK_THAT(answer.error().message, Catch::EndsWith("response larger than 16.0 MiB"));
}
