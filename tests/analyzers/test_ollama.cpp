#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/image/format.hpp"
#include "eye/analyzers/ollama.hpp"
#include "eye/config/config.hpp"
#include "eye/core/digest.hpp"
#include "eye/core/error.hpp"
#include "eye/http/client.hpp"
#include "eye/json/json.hpp"
#include "support/analysis.hpp"
#include "support/base64.hpp"
#include "support/fixtures.hpp"
#include "support/http_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::AnalysisResult;
using eye::Milliseconds;
using eye::analyzers::AnalysisError;
using eye::analyzers::MediaItem;
using eye::analyzers::OllamaAnalyzer;
using eye::analyzers::OllamaOptions;
using eye::testing::base64_decode;
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

using eye::testing::k_images;
using eye::testing::read_file;

// Writes `content` to the file `name` in `dir` and returns its path.
fs::path write_file(const TempDir& dir, const std::string& name, const std::string& content) {
    fs::path file = dir.path / name;
    std::ofstream(file, std::ios::binary) << content;
    return file;
}

MediaItem item(const fs::path& path) {
    MediaItem media;
    media.id = 11;
    media.set_file(path);
    return media;
}

MediaItem fixture(const std::string& name) {
    return item(k_images / name);
}

OllamaOptions fast_options(std::string url, std::string embed_model = {},
                           int expected_embedding_length = 0) {
    OllamaOptions options;
    options.ollama_url = std::move(url);
    options.vision_model = "llava:13b-v1.6";
    options.embed_model = std::move(embed_model);
    options.expected_embedding_length = expected_embedding_length;
    options.timeouts = {Milliseconds(500), Milliseconds(2'000)};
    options.retry = {3, Milliseconds(20), Milliseconds(50), Milliseconds(5'000)};
    return options;
}

std::string generate_answer(const std::string& response, const std::string& done_reason = "stop") {
    eye::json::Writer body;
    body.begin_object();
    body.field("model", "llava:13b-v1.6");
    body.field("created_at", "2025-01-01T00:00:00Z");
    body.field("response", response);
    body.field("done", true);
    body.field("done_reason", done_reason);
    body.field("total_duration", 4'935'886'791LL);
    body.end_object();
    return body.take();
}

const std::string k_described = R"({"description":"An eye seen through a fundus camera.",
    "detailed_description":"A round orange retina with dark blood vessels.",
    "tags":["Retina","medical", " eye ", "retina", ""]})";

std::string embed_answer(int dimension) {
    eye::json::Writer body;
    body.begin_object();
    body.field("model", "nomic-embed-text:latest");
    body.key("embeddings");
    body.begin_array();
    body.begin_array();
    for (int i = 0; i < dimension; ++i) {
        body.value(i == 0 ? 1.0 : 0.0);
    }
    body.end_array();
    body.end_array();
    body.end_object();
    return body.take();
}

// A fake Ollama on a loopback server, with the generate and embed answers a test chooses.
struct Ollama {
    explicit Ollama(Reply generate = json_reply(200, generate_answer(k_described)),
                    Reply embed = json_reply(200, embed_answer(4)))
        : server([generate, embed](const eye::testing::Request& request) {
              if (request.method == "POST" && request.path == "/api/generate") {
                  return generate;
              }
              if (request.method == "POST" && request.path == "/api/embed") {
                  return embed;
              }
              return json_reply(404, R"({"error":"not found"})");
          }) {}

    std::vector<eye::testing::Request> requests_to(const std::string& path) const {
        std::vector<eye::testing::Request> found;
        for (auto& request : server.requests()) {
            if (request.path == path) {
                found.push_back(request);
            }
        }
        return found;
    }

    HttpServer server;
};

// The image the analyzer sent in its one /api/generate request, decoded.
eye::analyzers::Image sent_image(const Ollama& ollama) {
    auto generates = ollama.requests_to("/api/generate");
    REQUIRE(generates.size() == 1);
    auto body = eye::json::parse(generates[0].body);
    REQUIRE(body);
    const auto* images = eye::json::member(*body, "images");
    REQUIRE(images != nullptr);
    REQUIRE(images->IsArray());
    REQUIRE(images->Size() == 1);
    std::string jpeg = base64_decode((*images)[0].GetString());
    CHECK(eye::analyzers::sniff_mime(jpeg) == "image/jpeg");
    return eye::testing::decode_full(jpeg);
}

// GET /_fake/calls of the fake Ollama.
std::map<std::string, int> fake_calls(const std::string& url) {
    eye::http::Client client;
    eye::http::Request request;
    request.url = url + "/_fake/calls";
    auto response = client.send(request);
    REQUIRE(response);
    auto document = eye::json::parse(response->body);
    REQUIRE(document);
    std::map<std::string, int> calls;
    for (const auto& member : document->GetObject()) {
        calls[member.name.GetString()] = member.value.GetInt();
    }
    return calls;
}

}  // namespace

TEST_CASE("the ollama analyzer sends a base64 JPEG of at most 720 pixels with the schema") {
    Ollama ollama;
    OllamaAnalyzer analyzer(fast_options(ollama.server.url()));
    AnalysisResult result = analyzer.analyze(fixture("retina.jpg"));

    auto generates = ollama.requests_to("/api/generate");
    REQUIRE(generates.size() == 1);
    CHECK(generates[0].header("content-type") == "application/json");
    auto body = eye::json::parse(generates[0].body);
    REQUIRE(body);
    CHECK(eye::json::get_string(*body, "model") == "llava:13b-v1.6");
    CHECK(eye::json::get_bool(*body, "stream") == false);
    CHECK_THAT(eye::json::get_string(*body, "prompt").value_or(""), Catch::Contains("tags"));
    const auto* options = eye::json::member(*body, "options");
    REQUIRE(options != nullptr);
    CHECK(eye::json::get_number(*options, "temperature") == 0.0);

    const auto* format = eye::json::member(*body, "format");
    REQUIRE(format != nullptr);
    REQUIRE(format->IsObject());
    CHECK(eye::json::get_string(*format, "type") == "object");
    const auto* properties = eye::json::member(*format, "properties");
    REQUIRE(properties != nullptr);
    CHECK(eye::json::to_string(*properties) ==
          R"({"description":{"type":"string"},"detailed_description":{"type":"string"},)"
          R"("tags":{"type":"array","items":{"type":"string"}}})");
    CHECK(eye::json::to_string(*eye::json::member(*format, "required")) ==
          R"(["description","detailed_description","tags"])");

    auto image = sent_image(ollama);
    CHECK(image.width == 720);
    CHECK(image.height == 720);

    CHECK(result.analyzer == "ollama");
    CHECK(result.model_version == "llava:13b-v1.6");
    CHECK(result.description == "An eye seen through a fundus camera.");
    CHECK(result.detailed_description == "A round orange retina with dark blood vessels.");
    CHECK(result.meta_tags == std::vector<std::string>{"retina", "medical", "eye"});
    CHECK_FALSE(result.embedding);
    CHECK(result.face_count == 0);
    // the facts are of the file itself, not of the copy that was sent
    std::string bytes = read_file(k_images / "retina.jpg");
    CHECK(result.width == 1411);
    CHECK(result.height == 1411);
    CHECK(result.mime_type == "image/jpeg");
    CHECK(result.file_size == static_cast<std::int64_t>(bytes.size()));
    CHECK(result.file_hash == eye::sha256_hex(bytes));
    CHECK(ollama.requests_to("/api/embed").empty());
}

TEST_CASE("the ollama analyzer keeps the aspect ratio and never enlarges") {
    SECTION("a wide photo is scaled to 720 pixels across") {
        Ollama ollama;
        OllamaAnalyzer analyzer(fast_options(ollama.server.url()));
        auto result = analyzer.analyze(fixture("hubble_deep_field.jpg"));
        auto image = sent_image(ollama);
        CHECK(image.width == 720);
        CHECK(image.height == Approx(720.0 * 872 / 1000).margin(1));
        CHECK(result.width == 1000);
    }
    SECTION("a PNG smaller than 720 pixels is sent at its own size as a JPEG") {
        Ollama ollama;
        OllamaAnalyzer analyzer(fast_options(ollama.server.url()));
        auto result = analyzer.analyze(fixture("chelsea.png"));
        auto image = sent_image(ollama);
        CHECK(image.width == 451);
        CHECK(image.height == 300);
        CHECK(result.mime_type == "image/png");
    }
}

TEST_CASE("the description is embedded only when an embed model is set") {
    Ollama ollama;
    OllamaAnalyzer without(fast_options(ollama.server.url()));
    CHECK_FALSE(without.analyze(fixture("rocket.jpg")).embedding);
    CHECK(ollama.requests_to("/api/embed").empty());

    OllamaAnalyzer with(fast_options(ollama.server.url(), "nomic-embed-text", 4));
    CHECK(with.model_version() == "llava:13b-v1.6+nomic-embed-text:latest");
    auto result = with.analyze(fixture("rocket.jpg"));
    REQUIRE(result.embedding);
    CHECK(*result.embedding == std::vector<float>{1, 0, 0, 0});
    auto embeds = ollama.requests_to("/api/embed");
    REQUIRE(embeds.size() == 1);
    auto body = eye::json::parse(embeds[0].body);
    REQUIRE(body);
    CHECK(eye::json::get_string(*body, "model") == "nomic-embed-text");
    CHECK(eye::json::get_string(*body, "input") == "An eye seen through a fundus camera.");
}

TEST_CASE("an embedding of another length than the column's is permanent") {
    Ollama ollama(json_reply(200, generate_answer(k_described)),
                  json_reply(200, embed_answer(768)));
    OllamaAnalyzer analyzer(fast_options(ollama.server.url(), "nomic-embed-text", 512));
    auto error = analysis_error(analyzer, fixture("rocket.jpg"));
    CHECK(error.permanent());
    CHECK(std::string(error.what()) ==
          "embedding has 768 values but media_files.embedding is vector(512) (embed model "
          "'nomic-embed-text')");
}

TEST_CASE("a busy Ollama is temporary after bounded retries") {
    Ollama ollama(json_reply(
        503, R"({"error":"server busy, please try again.  maximum pending requests exceeded"})"));
    OllamaAnalyzer analyzer(fast_options(ollama.server.url()));
    auto start = Clock::now();
    auto error = analysis_error(analyzer, fixture("rocket.jpg"));
    CHECK_FALSE(error.permanent());
    CHECK(std::string(error.what()) ==
          fmt::format("ollama is busy: POST {}/api/generate: HTTP 503: server busy, please try "
                      "again. maximum pending requests exceeded",
                      ollama.server.url()));
    CHECK(ollama.requests_to("/api/generate").size() == 3);
    CHECK(Clock::now() - start < std::chrono::seconds(2));
}

TEST_CASE("a busy embed call is temporary too") {
    Ollama ollama(json_reply(200, generate_answer(k_described)),
                  json_reply(503, R"({"error":"server busy"})"));
    OllamaAnalyzer analyzer(fast_options(ollama.server.url(), "nomic-embed-text"));
    auto error = analysis_error(analyzer, fixture("rocket.jpg"));
    CHECK_FALSE(error.permanent());
    CHECK_THAT(error.what(), Catch::StartsWith("ollama is busy: POST ") &&
                                 Catch::Contains("/api/embed: HTTP 503: server busy"));
}

TEST_CASE("an answer of the model that is not the JSON asked for is permanent") {
    struct Case {
        std::string response;
        std::string done_reason;
        std::string reason;
    };
    const Case cases[] = {
        {"Sure! This image shows an eye.", "stop", "not JSON (starts with 'Sure! This image "},
        {R"(["an eye"])", "stop", "not a JSON object (starts with '[\"an eye\"]')"},
        {R"({"tags":["eye"]})", "stop", "no string 'description'"},
        {R"({"description":"  "})", "stop", "'description' is empty"},
        {R"({"description":"An eye.","tags":"eye"})", "stop", "'tags' is not an array"},
        {R"({"description":"An eye.","tags":["eye",3]})", "stop", "'tags'[1] is not a string"},
        {R"({"description":"An eye.","detailed_description":7})", "stop",
         "'detailed_description' is not a string"},
        {R"({"description":"An eye seen thr)", "length",
         "not JSON (starts with '{\"description\":\"An eye seen thr') (the model stopped at its "
         "token limit)"},
    };
    for (const auto& c : cases) {
        INFO(c.response);
        Ollama ollama(json_reply(200, generate_answer(c.response, c.done_reason)));
        OllamaAnalyzer analyzer(fast_options(ollama.server.url(), "nomic-embed-text"));
        auto error = analysis_error(analyzer, fixture("rocket.jpg"));
        CHECK(error.permanent());
        CHECK_THAT(error.what(),
                   Catch::StartsWith(fmt::format("ollama's answer for '{}' is not the JSON asked "
                                                 "for: {}",
                                                 (k_images / "rocket.jpg").string(), c.reason)));
        // asked once: at temperature 0 the answer would not change
        CHECK(ollama.requests_to("/api/generate").size() == 1);
        CHECK(ollama.requests_to("/api/embed").empty());
    }
}

TEST_CASE("an answer without optional fields is taken as it is") {
    Ollama ollama(json_reply(200, generate_answer(R"({"description":" An eye. "})")));
    OllamaAnalyzer analyzer(fast_options(ollama.server.url()));
    auto result = analyzer.analyze(fixture("rocket.jpg"));
    CHECK(result.description == "An eye.");
    CHECK_FALSE(result.detailed_description);
    CHECK(result.meta_tags.empty());
}

TEST_CASE("answers that are not Ollama's are temporary, refusals of the image permanent") {
    struct Case {
        const char* name;
        Reply reply;
        bool permanent;
        const char* message_start;
    };
    const Case cases[] = {
        {"an HTML page", text_reply(200, "text/html", "<html>Sign in</html>"), false,
         "ollama did not answer as Ollama does: "},
        {"an envelope without a response", json_reply(200, R"({"model":"llava","done":true})"),
         false, "ollama did not answer as Ollama does: "},
        {"an envelope that is not done", json_reply(200, R"({"response":"{}","done":false})"),
         false, "ollama did not answer as Ollama does: "},
        {"a model that is not installed",
         json_reply(404, R"({"error":"model \"llava:13b-v1.6\" not found, try pulling it first"})"),
         false, "ollama has no model 'llava:13b-v1.6': "},
        {"a failure inside Ollama",
         json_reply(500, R"({"error":"llama runner process has terminated: signal: killed"})"),
         false, "ollama failed: "},
        {"an image Ollama refuses", json_reply(400, R"({"error":"invalid image input"})"), true,
         "ollama refused the image: "},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        Ollama ollama(c.reply);
        OllamaAnalyzer analyzer(fast_options(ollama.server.url()));
        auto error = analysis_error(analyzer, fixture("rocket.jpg"));
        CHECK(error.permanent() == c.permanent);
        CHECK_THAT(error.what(), Catch::StartsWith(c.message_start));
    }
}

TEST_CASE("an Ollama that is not running is unavailable") {
    std::string url = "http://127.0.0.1:" + std::to_string(eye::testing::closed_port());
    OllamaAnalyzer analyzer(fast_options(url));
    auto error = analysis_error(analyzer, fixture("rocket.jpg"));
    CHECK(error.kind() == eye::analyzers::AnalysisError::Kind::unavailable);
    CHECK_THAT(error.what(), Catch::StartsWith("ollama is unreachable: "));
}

TEST_CASE("an Ollama that never answers is temporary within the deadline") {
    Reply hang;
    hang.hang = true;
    Ollama ollama(hang);
    auto options = fast_options(ollama.server.url());
    options.timeouts.total = Milliseconds(300);
    options.retry.deadline = Milliseconds(1'000);
    OllamaAnalyzer analyzer(options);
    auto start = Clock::now();
    auto error = analysis_error(analyzer, fixture("rocket.jpg"));
    CHECK_FALSE(error.permanent());
    CHECK_THAT(error.what(), Catch::StartsWith("ollama did not answer: POST "));
    CHECK(Clock::now() - start < std::chrono::milliseconds(1'800));
}

TEST_CASE("a missing or corrupt file is permanent and never sent") {
    Ollama ollama;
    OllamaAnalyzer analyzer(fast_options(ollama.server.url()));
    TempDir dir;

    auto missing = analysis_error(analyzer, item(dir.path / "missing.jpg"));
    CHECK(missing.permanent());
    CHECK_THAT(missing.what(), Catch::StartsWith("cannot read '") &&
                                   Catch::EndsWith("missing.jpg': No such file or directory"));

    auto directory = analysis_error(analyzer, item(k_images));
    CHECK(directory.permanent());
    CHECK_THAT(directory.what(), Catch::EndsWith("not a regular file"));

    std::string jpeg = read_file(k_images / "rocket.jpg");
    auto truncated =
        analysis_error(analyzer, item(write_file(dir, "cut.jpg", jpeg.substr(0, jpeg.size() / 2))));
    CHECK(truncated.permanent());
    CHECK_THAT(truncated.what(), Catch::StartsWith("truncated JPEG"));

    auto text =
        analysis_error(analyzer, item(write_file(dir, "notes.jpg", "hello, this is text\n")));
    CHECK(text.permanent());
    CHECK_THAT(text.what(), Catch::StartsWith("not a supported image"));

    auto options = fast_options(ollama.server.url());
    options.limits.max_file_bytes = 1000;
    OllamaAnalyzer small_limit(options);
    auto too_large = analysis_error(small_limit, fixture("rocket.jpg"));
    CHECK(too_large.permanent());
    CHECK_THAT(too_large.what(), Catch::StartsWith("image file is too large"));

    CHECK(ollama.server.requests_served() == 0);
}

TEST_CASE("the ollama analyzer takes its settings from the configuration") {
    eye::Config config;
    CHECK_THROWS_AS(OllamaAnalyzer(config, 512), eye::ConfigError);
    config.ollama_url = "http://ollama:11434";
    CHECK_THROWS_AS(OllamaAnalyzer(config, 512), eye::ConfigError);
    config.ollama_models = {"llava", "nomic-embed-text"};
    config.http_timeout = Milliseconds(10'000);
    auto options = eye::analyzers::ollama_options(config, 512);
    CHECK(options.ollama_url == "http://ollama:11434");
    CHECK(options.vision_model == "llava");
    CHECK(options.embed_model.empty());
    CHECK(options.expected_embedding_length == 512);
    CHECK(options.timeouts.connect == Milliseconds(3'000));
    CHECK(options.timeouts.total >= Milliseconds(120'000));
    CHECK(options.retry.deadline >= options.timeouts.total);
    CHECK(OllamaAnalyzer(config, 512).model_version() == "llava:latest");

    config.ollama_vision_model = "moondream";
    config.ollama_embed_model = "nomic-embed-text";
    OllamaAnalyzer analyzer(config, 768);
    CHECK(analyzer.name() == "ollama");
    CHECK(analyzer.model_version() == "moondream:latest+nomic-embed-text:latest");

    OllamaOptions empty;
    CHECK_THROWS_AS(OllamaAnalyzer(empty), eye::ConfigError);
}

TEST_CASE("the fake Ollama describes and embeds what the analyzer sends, counting calls") {
    FakeServices fake(
        false, true,
        {"--ollama-models", "llava:13b-v1.6,nomic-embed-text", "--ollama-embedding-dim", "512"});
    OllamaAnalyzer analyzer(fast_options(fake.ollama_url(), "nomic-embed-text", 512));
    auto result = analyzer.analyze(fixture("retina.jpg"));
    // the fake decoded the image it was sent: 720x720, a JPEG
    CHECK(result.description == "A fake scene in a 720x720 image/jpeg image.");
    CHECK(result.meta_tags == std::vector<std::string>{"fake", "scene", "test"});
    REQUIRE(result.embedding);
    CHECK(result.embedding->size() == 512);
    CHECK(fake_calls(fake.ollama_url()) ==
          std::map<std::string, int>{{"/api/embed", 1}, {"/api/generate", 1}});

    SECTION("a vision model that is not installed is temporary") {
        auto options = fast_options(fake.ollama_url());
        options.vision_model = "llava:34b";
        OllamaAnalyzer missing(options);
        auto error = analysis_error(missing, fixture("retina.jpg"));
        CHECK_FALSE(error.permanent());
        CHECK_THAT(error.what(),
                   Catch::EndsWith("HTTP 404: model \"llava:34b\" not found, try pulling it "
                                   "first (eye-monitor --fix pulls the models in "
                                   "EYE_OLLAMA_MODELS)"));
    }
}

TEST_CASE("the fake Ollama can be busy or answer prose") {
    SECTION("busy503") {
        FakeServices fake(false, true,
                          {"--ollama-models", "llava:13b-v1.6", "--ollama-mode", "busy503"});
        OllamaAnalyzer analyzer(fast_options(fake.ollama_url()));
        auto error = analysis_error(analyzer, fixture("rocket.jpg"));
        CHECK_FALSE(error.permanent());
        CHECK_THAT(error.what(), Catch::StartsWith("ollama is busy: "));
        CHECK(fake_calls(fake.ollama_url()) == std::map<std::string, int>{{"/api/generate", 3}});
    }
    SECTION("bad-answer") {
        FakeServices fake(false, true,
                          {"--ollama-models", "llava:13b-v1.6", "--ollama-mode", "bad-answer"});
        OllamaAnalyzer analyzer(fast_options(fake.ollama_url()));
        auto error = analysis_error(analyzer, fixture("rocket.jpg"));
        CHECK(error.permanent());
        CHECK_THAT(error.what(), Catch::Contains("is not the JSON asked for: not JSON (starts "
                                                 "with 'Sure! This is a 640x427 image/jpeg"));
    }
}
