#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/avinash.hpp"
#include "eye/config/config.hpp"
#include "eye/core/error.hpp"
#include "eye/http/client.hpp"
#include "eye/json/json.hpp"
#include "support/analysis.hpp"
#include "support/http_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::AnalysisResult;
using eye::Milliseconds;
using eye::analyzers::ai_image_path;
using eye::analyzers::AnalysisError;
using eye::analyzers::AvinashAnalyzer;
using eye::analyzers::AvinashOptions;
using eye::analyzers::MediaItem;
using eye::testing::FakeServices;
using eye::testing::HttpServer;
using eye::testing::json_reply;
using eye::testing::Reply;
using eye::testing::TempDir;
using eye::testing::text_reply;
using Clock = std::chrono::steady_clock;
using eye::testing::analysis_error;

namespace fs = std::filesystem;

namespace {

// Writes `content` to `relative` under `dir`, making the folders on the way.
void write_file(const TempDir& dir, const std::string& relative, const std::string& content) {
    const fs::path file = dir.path / relative;
    fs::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
}

// Quick retries, so that failures are answered in a second or two.
AvinashOptions fast_options(std::string url, int expected_embedding_length = 512) {
    AvinashOptions options;
    options.ai_url = std::move(url);
    options.expected_embedding_length = expected_embedding_length;
    options.timeouts = {Milliseconds(500), Milliseconds(2'000)};
    options.retry = {3, Milliseconds(20), Milliseconds(50), Milliseconds(5'000)};
    return options;
}

MediaItem item(std::string file_path) {
    MediaItem media;
    media.id = 7;
    media.file_path = std::move(file_path);
    media.absolute_path = "/nonexistent/eye/" + media.file_path;
    return media;
}

// GET /_fake/calls of the fake python-ai: image_path -> calls.
std::map<std::string, int> fake_calls(const std::string& url) {
    eye::http::Client client;
    eye::http::Request request;
    request.url = url + "/_fake/calls";
    auto response = client.send(request);
    REQUIRE(response);
    REQUIRE(response->status == 200);
    auto document = eye::json::parse(response->body);
    REQUIRE(document);
    std::map<std::string, int> calls;
    for (const auto& member : document->GetObject()) {
        calls[member.name.GetString()] = member.value.GetInt();
    }
    return calls;
}

eye::testing::Handler analyze_answer(Reply reply) {
    return [reply](const eye::testing::Request& request) {
        if (request.method != "POST" || request.path != "/analyze-image") {
            return json_reply(404, R"({"detail":"Not Found"})");
        }
        return reply;
    };
}

}  // namespace

TEST_CASE("ai_image_path strips what upstream strips and joins with one slash") {
    CHECK(ai_image_path("/app/shared/", "storage/app/public/media/2026/a.jpg") ==
          "/app/shared/media/2026/a.jpg");
    CHECK(ai_image_path("/app/shared/", "public/media/2026/a.jpg") ==
          "/app/shared/media/2026/a.jpg");
    CHECK(ai_image_path("/app/shared/", "media/2026/a.jpg") == "/app/shared/media/2026/a.jpg");
    CHECK(ai_image_path("/app/shared", "media/a.jpg") == "/app/shared/media/a.jpg");
    CHECK(ai_image_path("/app/shared//", "/media/a.jpg") == "/app/shared/media/a.jpg");
    CHECK(ai_image_path("/app/shared/", "./storage/app/public//media/a.jpg") ==
          "/app/shared/media/a.jpg");
    CHECK(ai_image_path("/", "public/a.jpg") == "/a.jpg");
    CHECK(ai_image_path("", "public/a.jpg") == "a.jpg");
    // only a leading prefix is upstream's; the same words deeper in the path are a folder name
    CHECK(ai_image_path("/app/shared/", "media/public/a.jpg") == "/app/shared/media/public/a.jpg");
    CHECK(ai_image_path("/app/shared/", "publicity/a.jpg") == "/app/shared/publicity/a.jpg");
    CHECK(ai_image_path("/app/shared/", "storage/app/private/a.jpg") ==
          "/app/shared/storage/app/private/a.jpg");
    CHECK(ai_image_path("/app/shared/", "media/..hidden.jpg") == "/app/shared/media/..hidden.jpg");

    CHECK_THROWS_WITH(ai_image_path("/app/shared/", "public/../../etc/passwd"),
                      "file path 'public/../../etc/passwd' leaves the shared directory with '..'");
    CHECK_THROWS_AS(ai_image_path("/app/shared/", "media/.."), std::invalid_argument);
    CHECK_THROWS_WITH(ai_image_path("/app/shared/", "storage/app/public/"),
                      "file path 'storage/app/public/' does not name a file under the shared "
                      "directory");
    CHECK_THROWS_AS(ai_image_path("/app/shared/", ""), std::invalid_argument);
}

TEST_CASE("the avinash model version names the models the service is asked to use") {
    AvinashOptions options;
    CHECK(AvinashAnalyzer(options).model_version() == "florence+clip");
    CHECK(AvinashAnalyzer(options).name() == "avinash");
    options.captioning_model = "blip";
    options.embedding_model = "";
    CHECK(AvinashAnalyzer(options).model_version() == "blip+default");
    options.use_ollama = true;
    // the model upstream names when none is configured
    CHECK(AvinashAnalyzer(options).model_version() == "blip+default+ollama:llava:13b-v1.6");
    options.ollama_model = "llava";
    CHECK(AvinashAnalyzer(options).model_version() == "blip+default+ollama:llava:latest");
}

TEST_CASE("the avinash analyzer takes its settings from the configuration") {
    eye::Config config;
    CHECK_THROWS_AS(AvinashAnalyzer(config, 512), eye::ConfigError);

    config.ai_url = "http://python-ai:8000";
    config.ai_token = "secret";
    config.ai_shared_prefix = "/shared/";
    config.ai_use_ollama = true;
    config.ollama_vision_model = "llava:13b-v1.6";
    config.http_timeout = Milliseconds(10'000);
    auto options = eye::analyzers::avinash_options(config, 768);
    CHECK(options.ai_url == "http://python-ai:8000");
    CHECK(options.ai_token == "secret");
    CHECK(options.shared_prefix == "/shared/");
    CHECK(options.captioning_model == "florence");
    CHECK(options.embedding_model == "clip");
    CHECK(options.use_ollama);
    CHECK(options.ollama_model == "llava:13b-v1.6");
    CHECK(options.expected_embedding_length == 768);
    CHECK(options.timeouts.connect == Milliseconds(3'000));
    CHECK(options.timeouts.total == Milliseconds(120'000));
    CHECK(options.retry.max_attempts > 1);
    CHECK(options.retry.deadline >= options.timeouts.total);
    CHECK(AvinashAnalyzer(config, 768).model_version() == "florence+clip+ollama:llava:13b-v1.6");

    config.http_timeout = Milliseconds(200'000);
    CHECK(eye::analyzers::avinash_options(config, 0).timeouts.total == Milliseconds(200'000));
}

TEST_CASE("every field of the fake service's analysis lands in the result, faces included") {
    TempDir shared;
    write_file(shared, "media/2026/a.jpg", "not decoded by eye: the service reads it");
    FakeServices fake(true, false, {"--ai-shared-root", shared.path.string()});
    AvinashAnalyzer analyzer(fast_options(fake.ai_url()));

    AnalysisResult result = analyzer.analyze(item("storage/app/public/media/2026/a.jpg"));
    CHECK(result.analyzer == "avinash");
    CHECK(result.model_version == "florence+clip");
    CHECK(result.description == "A fake analysis of 'a.jpg'.");
    CHECK(result.detailed_description ==
          "The fake AI service analyzed '/app/shared/media/2026/a.jpg' (40 bytes) with florence "
          "and clip.");
    CHECK(result.meta_tags == std::vector<std::string>{"fake", "a", "person", "outdoor"});
    REQUIRE(result.embedding);
    CHECK(result.embedding->size() == 512);
    double norm = 0;
    for (float value : *result.embedding) {
        norm += static_cast<double>(value) * value;
    }
    CHECK(norm == Approx(1.0).epsilon(1e-4));

    CHECK(result.face_count == 2);
    REQUIRE(result.face_encodings_json);
    auto encodings = eye::json::parse(*result.face_encodings_json);
    REQUIRE(encodings);
    REQUIRE(encodings->IsArray());
    REQUIRE(encodings->Size() == 2);
    CHECK((*encodings)[0].Size() == 128);
    CHECK((*encodings)[1].Size() == 128);
    CHECK(result.face_locations_json == "[[40,180,150,70],[60,400,170,290]]");

    REQUIRE(result.dominant_colors_json);
    CHECK_THAT(*result.dominant_colors_json, Catch::StartsWith(R"([{"hex":"#4a6b8c")"));
    REQUIRE(result.image_quality_json);
    CHECK_THAT(*result.image_quality_json, Catch::StartsWith(R"({"overall_score":0.72)"));
    CHECK(result.quality_tier == "good");
    REQUIRE(result.phash);
    CHECK(result.phash->size() == 16);
    REQUIRE(result.dhash);
    CHECK(result.dhash->size() == 16);
    CHECK(*result.phash != *result.dhash);
    REQUIRE(result.objects_detected_json);
    CHECK_THAT(*result.objects_detected_json, Catch::Contains(R"("label":"person")"));
    REQUIRE(result.scene_classification_json);
    CHECK_THAT(*result.scene_classification_json, Catch::StartsWith(R"({"scene":"outdoor")"));
    CHECK(result.extracted_text == "fake text in a");

    // facts of the file are not the service's to give
    CHECK_FALSE(result.width);
    CHECK_FALSE(result.file_hash);

    CHECK(fake_calls(fake.ai_url()) ==
          std::map<std::string, int>{{"/app/shared/media/2026/a.jpg", 1}});
}

TEST_CASE("a file the service cannot find is a permanent failure quoting its detail") {
    TempDir shared;
    FakeServices fake(true, false, {"--ai-shared-root", shared.path.string()});
    AvinashAnalyzer analyzer(fast_options(fake.ai_url()));
    auto error = analysis_error(analyzer, item("public/media/missing.jpg"));
    CHECK(error.permanent());
    CHECK(std::string(error.what()) ==
          "the AI service cannot find '/app/shared/media/missing.jpg': Image not found: "
          "/app/shared/media/missing.jpg");
    // a 4xx is answered at once: no retry
    CHECK(fake_calls(fake.ai_url()) ==
          std::map<std::string, int>{{"/app/shared/media/missing.jpg", 1}});
}

TEST_CASE("the service's prefix is configurable on both sides") {
    TempDir shared;
    write_file(shared, "b.png", "x");
    FakeServices fake(true, false,
                      {"--ai-shared-root", shared.path.string(), "--ai-shared-prefix", "/data/"});
    auto options = fast_options(fake.ai_url());
    options.shared_prefix = "/data";
    AvinashAnalyzer analyzer(options);
    CHECK(analyzer.analyze(item("b.png")).description == "A fake analysis of 'b.png'.");
    options.shared_prefix = "/app/shared/";
    AvinashAnalyzer wrong_prefix(options);
    CHECK(analysis_error(wrong_prefix, item("b.png")).permanent());
}

TEST_CASE("server errors, busy models and hangs are temporary after bounded retries") {
    struct Case {
        const char* mode;
        const char* message;
        int calls;
    };
    const Case cases[] = {
        {"error500",
         "the AI service failed: POST {}/analyze-image: HTTP 500: Analysis failed: CUDA error: out "
         "of memory",
         3},
        {"busy503",
         "the AI service is busy or still loading its models: POST {}/analyze-image: HTTP 503: "
         "Models are still loading, please try again shortly",
         3},
        {"hang", "the AI service did not answer: POST {}/analyze-image: timed out after", 3},
    };
    for (const auto& c : cases) {
        INFO(c.mode);
        TempDir shared;
        write_file(shared, "a.jpg", "x");
        FakeServices fake(true, false,
                          {"--ai-shared-root", shared.path.string(), "--analyze-mode", c.mode});
        auto options = fast_options(fake.ai_url());
        options.timeouts.total = Milliseconds(400);
        options.retry.deadline = Milliseconds(2'000);
        AvinashAnalyzer analyzer(options);
        auto start = Clock::now();
        auto error = analysis_error(analyzer, item("a.jpg"));
        auto took = Clock::now() - start;
        CHECK_FALSE(error.permanent());
        CHECK_THAT(error.what(), Catch::StartsWith(fmt::format(c.message, fake.ai_url())));
        CHECK(took < std::chrono::milliseconds(2'500));
        CHECK(fake_calls(fake.ai_url()) == std::map<std::string, int>{{"/app/shared/a.jpg", 3}});
    }
}

TEST_CASE("the retry deadline bounds an analysis however many attempts are allowed") {
    Reply hang;
    hang.hang = true;
    HttpServer server(analyze_answer(hang));
    auto options = fast_options(server.url());
    options.retry.max_attempts = 100;
    options.retry.deadline = Milliseconds(1'000);
    AvinashAnalyzer analyzer(options);
    auto start = Clock::now();
    auto error = analysis_error(analyzer, item("a.jpg"));
    CHECK_FALSE(error.permanent());
    CHECK(Clock::now() - start < std::chrono::milliseconds(1'800));
}

TEST_CASE("an HTML page instead of the service's JSON is temporary and says so") {
    FakeServices fake(true, false, {"--analyze-mode", "html"});
    AvinashAnalyzer analyzer(fast_options(fake.ai_url()));
    auto error = analysis_error(analyzer, item("a.jpg"));
    CHECK_FALSE(error.permanent());
    CHECK(std::string(error.what()) ==
          fmt::format("the AI service did not answer with JSON: POST {}/analyze-image: not JSON "
                      "(starts with '<!DOCTYPE html><html><head><title>Sign i') (is EYE_AI_URL "
                      "the AI service?)",
                      fake.ai_url()));
}

TEST_CASE("an answer past the size cap is temporary and stops reading early") {
    FakeServices fake(true, false, {"--analyze-mode", "huge"});
    auto options = fast_options(fake.ai_url());
    // time for the fake to put 64 MiB together, so that only the size can end the attempt
    options.timeouts.total = Milliseconds(10'000);
    options.retry.deadline = Milliseconds(20'000);
    AvinashAnalyzer analyzer(options);
    auto start = Clock::now();
    auto error = analysis_error(analyzer, item("a.jpg"));
    CHECK_FALSE(error.permanent());
    CHECK(std::string(error.what()) ==
          fmt::format("the AI service's answer is too large: POST {}/analyze-image: response "
                      "larger than 16.0 MiB",
                      fake.ai_url()));
    CHECK(Clock::now() - start < std::chrono::seconds(10));
    CHECK(fake_calls(fake.ai_url()) == std::map<std::string, int>{{"/app/shared/a.jpg", 1}});
}

TEST_CASE("an embedding of another length than the column's is permanent") {
    FakeServices fake(true, false, {"--analyze-mode", "wrong-dim"});
    AvinashAnalyzer analyzer(fast_options(fake.ai_url(), 512));
    auto error = analysis_error(analyzer, item("a.jpg"));
    CHECK(error.permanent());
    CHECK_THAT(error.what(),
               Catch::StartsWith("embedding has 768 values but media_files.embedding is "
                                 "vector(512)"));

    SECTION("with the length unknown any length is taken") {
        AvinashAnalyzer any_length(fast_options(fake.ai_url(), 0));
        auto result = any_length.analyze(item("a.jpg"));
        REQUIRE(result.embedding);
        CHECK(result.embedding->size() == 768);
    }
    SECTION("the fake's length follows --ai-embedding-dim") {
        FakeServices wide(true, false, {"--ai-embedding-dim", "1024"});
        AvinashAnalyzer matching(fast_options(wide.ai_url(), 1024));
        CHECK(matching.analyze(item("a.jpg")).embedding->size() == 1024);
    }
}

TEST_CASE("a field of the wrong type in the service's JSON is permanent and named") {
    FakeServices fake(true, false, {"--analyze-mode", "bad-types"});
    AvinashAnalyzer analyzer(fast_options(fake.ai_url()));
    auto error = analysis_error(analyzer, item("media/a.jpg"));
    CHECK(error.permanent());
    CHECK(std::string(error.what()) ==
          fmt::format("the AI service's answer for '/app/shared/media/a.jpg' breaks the contract: "
                      "POST {}/analyze-image: malformed answer: 'faces_detected' is a string, "
                      "expected an integer",
                      fake.ai_url()));
    CHECK(fake_calls(fake.ai_url()) == std::map<std::string, int>{{"/app/shared/media/a.jpg", 1}});
}

TEST_CASE("the avinash analyzer sorts the other answers into permanent and temporary") {
    struct Case {
        const char* name;
        Reply reply;
        bool permanent;
        const char* message_start;
    };
    const Case cases[] = {
        {"json that does not parse", json_reply(200, R"({"description": "cut)"), true,
         "the AI service's answer for '/app/shared/a.jpg' breaks the contract: "},
        {"a number that is not finite as a float", json_reply(200, R"({"embedding":[1e39]})"), true,
         "the AI service's answer for '/app/shared/a.jpg' breaks the contract: "},
        {"an empty embedding", json_reply(200, R"({"embedding":[]})"), true,
         "the AI service returned an empty embedding for '/app/shared/a.jpg'"},
        {"a route the service does not have", json_reply(404, R"({"detail":"Not Found"})"), false,
         "the AI service has no POST /analyze-image: "},
        {"a 404 page from a proxy", text_reply(404, "text/html", "<h1>404</h1>"), false,
         "the AI service has no POST /analyze-image: "},
        {"a wrong token", json_reply(401, R"({"detail":"Invalid token"})"), false,
         "the AI service refused eye's credentials: "},
        {"a rate limit", json_reply(429, R"({"detail":"Too many requests"})"), false,
         "the AI service refused the request: "},
        {"a request the service refuses", json_reply(422, R"({"detail":"bad image_path"})"), true,
         "the AI service refused '/app/shared/a.jpg': "},
        {"a gateway error", text_reply(502, "text/html", "<h1>Bad Gateway</h1>"), false,
         "the AI service failed: "},
        {"an empty 200", text_reply(200, "application/json", ""), false,
         "the AI service did not answer with JSON: "},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        HttpServer server(analyze_answer(c.reply));
        AvinashAnalyzer analyzer(fast_options(server.url()));
        auto error = analysis_error(analyzer, item("a.jpg"));
        CHECK(error.permanent() == c.permanent);
        CHECK_THAT(error.what(), Catch::StartsWith(c.message_start));
    }
}

TEST_CASE("an AI service that is not running is unavailable, which says nothing of the image") {
    std::string url = "http://127.0.0.1:" + std::to_string(eye::testing::closed_port());
    AvinashAnalyzer analyzer(fast_options(url));
    auto error = analysis_error(analyzer, item("a.jpg"));
    CHECK(error.kind() == eye::analyzers::AnalysisError::Kind::unavailable);
    CHECK(std::string(error.what()) ==
          fmt::format("the AI service is unreachable: POST {}/analyze-image: connection refused "
                      "(after 3 attempts)",
                      url));
}

TEST_CASE("a file path that leaves the shared directory is permanent and never sent") {
    HttpServer server(analyze_answer(json_reply(200, R"({"description":"x"})")));
    AvinashAnalyzer analyzer(fast_options(server.url()));
    auto error = analysis_error(analyzer, item("media/../../etc/passwd"));
    CHECK(error.permanent());
    CHECK_THAT(error.what(), Catch::Contains("leaves the shared directory"));
    CHECK(server.requests_served() == 0);
}

TEST_CASE("the avinash analyzer sends the token, the models and detect_faces") {
    HttpServer server(analyze_answer(json_reply(200, R"({"description":"x","embedding":null,
        "faces_detected":0,"face_locations":[],"face_encodings":[]})")));
    auto options = fast_options(server.url());
    options.ai_token = "eye-secret";
    options.use_ollama = true;
    options.ollama_model = "llava:13b";
    AvinashAnalyzer analyzer(options);
    auto result = analyzer.analyze(item("public/a.jpg"));
    CHECK(result.description == "x");
    CHECK_FALSE(result.embedding);
    CHECK(result.face_count == 0);
    CHECK(result.face_encodings_json == "[]");
    CHECK(result.face_locations_json == "[]");

    auto sent = server.requests().at(0);
    CHECK(sent.header("authorization") == "Bearer eye-secret");
    auto body = eye::json::parse(sent.body);
    REQUIRE(body);
    CHECK(eye::json::get_string(*body, "image_path") == "/app/shared/a.jpg");
    CHECK(eye::json::get_bool(*body, "detect_faces") == true);
    CHECK(eye::json::get_bool(*body, "use_ollama") == true);
    CHECK(eye::json::get_string(*body, "captioning_model") == "florence");
    CHECK(eye::json::get_string(*body, "embedding_model") == "clip");
    CHECK(eye::json::get_string(*body, "ollama_model") == "llava:13b");

    // without Ollama the configured model still goes along, as upstream's body has it
    options.use_ollama = false;
    AvinashAnalyzer without_ollama(options);
    without_ollama.analyze(item("public/b.jpg"));
    auto second = eye::json::parse(server.requests().at(1).body);
    REQUIRE(second);
    CHECK(eye::json::get_bool(*second, "use_ollama") == false);
    CHECK(eye::json::get_string(*second, "ollama_model") == "llava:13b");
}

TEST_CASE("ollama_model goes with every request, upstream's llava:13b-v1.6 when none is set") {
    HttpServer server(analyze_answer(json_reply(200, R"({"description":"x","embedding":null,
        "faces_detected":0,"face_locations":[],"face_encodings":[]})")));
    eye::Config config;
    config.ai_url = server.url();
    AvinashAnalyzer analyzer(eye::analyzers::avinash_options(config, 0));
    analyzer.analyze(item("public/a.jpg"));
    auto body = eye::json::parse(server.requests().at(0).body);
    REQUIRE(body);
    CHECK(eye::json::get_string(*body, "ollama_model") == "llava:13b-v1.6");
}

TEST_CASE("a stop request ends an analysis in hand as a temporary failure") {
    Reply hang;
    hang.hang = true;
    HttpServer server(analyze_answer(hang));
    auto options = fast_options(server.url());
    options.timeouts.total = Milliseconds(30'000);
    options.retry.deadline = Milliseconds(60'000);
    auto start = Clock::now();
    options.should_abort = [start] { return Clock::now() - start > Milliseconds(200); };
    AvinashAnalyzer analyzer(options);
    auto error = analysis_error(analyzer, item("a.jpg"));
    CHECK_FALSE(error.permanent());
    CHECK_THAT(error.what(), Catch::StartsWith("analysis of '/app/shared/a.jpg' stopped: "));
    CHECK(Clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("the avinash analyzer can be used from several threads at once") {
    TempDir shared;
    for (int i = 0; i < 8; ++i) {
        write_file(shared, fmt::format("m/{}.jpg", i), "x");
    }
    FakeServices fake(true, false, {"--ai-shared-root", shared.path.string()});
    AvinashAnalyzer analyzer(fast_options(fake.ai_url()));
    std::vector<std::thread> threads;
    std::atomic<int> described{0};
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&, i] {
            auto result = analyzer.analyze(item(fmt::format("m/{}.jpg", i)));
            if (result.description == fmt::format("A fake analysis of '{}.jpg'.", i)) {
                ++described;
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    CHECK(described == 8);
    CHECK(fake_calls(fake.ai_url()).size() == 8);
}
