// eye-fake-services: a fake Avinash-EYE python-ai and/or a fake Ollama on 127.0.0.1, speaking
// their documented protocols (design section 6), errors included, for end-to-end tests and
// benchmarks.
//
//   eye-fake-services --ai-port 0 --ai-mode healthy
//                     --ai-shared-root /srv/media --ai-shared-prefix /app/shared/
//                     --analyze-mode ok --ai-embedding-dim 512
//                     --ollama-port 0 --ollama-mode healthy --ollama-embedding-dim 768
//                     --ollama-models llava:latest --ollama-pullable llava:13b,moondream
//                     --ports-file /tmp/ports
//
// A port of 0 picks a free one; a service whose port is not given is not started. Once every
// server listens, --ports-file receives "ai=PORT\n" and/or "ollama=PORT\n" (only the services
// started), written to a temporary name and renamed, so a test can wait for the file. Runs until
// SIGTERM or SIGINT.
//
// The python-ai fake answers POST /analyze-image as upstream does: the image_path, less
// --ai-shared-prefix, is looked up under --ai-shared-root (404 {"detail": "Image not found: ..."}
// when it is not a file there; without --ai-shared-root every path is taken to exist), and the
// answer is a full, deterministic analysis that depends on the path. --analyze-mode makes it
// fail instead: error500, busy503, html (a 200 web page), hang, huge (a 64 MiB body, streamed),
// wrong-dim (an embedding of another length), bad-types (faces_detected as a string), deep-json
// (8 MiB of "[", which crashes a parser that recurses). --ai-mode deep-json answers every
// request so. --analyze-mode labelled stands in for a vision model whose embeddings cluster by
// what an image shows: the file holds {"embedding": [...], "meta_tags": [...]} (a labelled data
// set the test wrote), and the answer carries those instead of the path's.
// The Ollama fake answers POST /api/generate (images required, base64 JPEG or PNG; with a
// "format" the response is the JSON {"description", "detailed_description", "tags"}; mode
// bad-answer makes it prose instead) and POST /api/embed (--ollama-embedding-dim values per
// input) for installed models.
// Both count the calls they receive, whatever they answer: GET /_fake/calls gives
// {"<image_path>": count} for /analyze-image and {"/api/generate": n, "/api/embed": n} for
// Ollama.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/image/format.hpp"
#include "eye/core/exit_code.hpp"
#include "eye/core/stop.hpp"
#include "eye/json/json.hpp"
#include "eye/services/ollama.hpp"
#include "support/http_server.hpp"

namespace {

using eye::Milliseconds;
using eye::testing::json_reply;
using eye::testing::Reply;
using eye::testing::Request;
using eye::testing::text_reply;

struct Route {
    std::string method;
    std::string path;
    std::function<Reply(const Request&)> handle;
};

// Routes a request by method and path: an unknown path is 404, a known path with another
// method 405, each with the body the faked service would send.
Reply dispatch(const std::vector<Route>& routes, const Request& request,
               const std::function<Reply(int status, std::string_view message)>& error) {
    bool path_known = false;
    for (const auto& route : routes) {
        if (route.path != request.path) {
            continue;
        }
        path_known = true;
        if (route.method == request.method) {
            return route.handle(request);
        }
    }
    return path_known ? error(405, "Method Not Allowed") : error(404, "Not Found");
}

std::vector<std::string> split_list(const std::string& text) {
    std::vector<std::string> items;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t comma = text.find(',', start);
        std::string item = eye::services::normalize_model_name(std::string_view(text).substr(
            start, comma == std::string::npos ? comma : comma - start));
        if (!item.empty()) {
            items.push_back(std::move(item));
        }
        if (comma == std::string::npos) {
            break;
        }
        start = comma + 1;
    }
    return items;
}

// FNV-1a: a hash that is the same in every build, so the fakes' answers are reproducible.
std::uint64_t stable_hash(std::string_view text) {
    std::uint64_t hash = 1469598103934665603ULL;
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ULL;
    }
    return hash;
}

// dimension values of unit length, a function of seed only.
std::vector<double> unit_vector(std::uint64_t seed, int dimension) {
    std::vector<double> values(static_cast<std::size_t>(std::max(dimension, 0)));
    double phase = static_cast<double>(seed % 10'007) / 97.0;
    double norm = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
        values[i] = std::sin(phase + 0.37 * static_cast<double>(i)) + 0.01;
        norm += values[i] * values[i];
    }
    norm = std::sqrt(norm);
    for (double& value : values) {
        value = norm > 0 ? value / norm : 0;
    }
    return values;
}

void write_numbers(eye::json::Writer& writer, const std::vector<double>& values) {
    writer.begin_array();
    for (double value : values) {
        writer.value(value);
    }
    writer.end_array();
}

// Decodes standard base64; nullopt names the first bad input byte in *bad_at, as Go's decoder
// (and so Ollama) reports it.
std::optional<std::string> base64_decode(std::string_view text, std::size_t* bad_at) {
    auto value_of = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') {
            return c - 'A';
        }
        if (c >= 'a' && c <= 'z') {
            return c - 'a' + 26;
        }
        if (c >= '0' && c <= '9') {
            return c - '0' + 52;
        }
        return c == '+' ? 62 : c == '/' ? 63 : -1;
    };
    std::string out;
    std::uint32_t bits = 0;
    int bit_count = 0;
    std::size_t padding = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '=') {
            ++padding;
            continue;
        }
        int value = value_of(text[i]);
        if (value < 0 || padding > 0) {
            *bad_at = i;
            return std::nullopt;
        }
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            out += static_cast<char>((bits >> bit_count) & 0xff);
        }
    }
    if (text.size() % 4 != 0 || padding > 2) {
        *bad_at = text.size();
        return std::nullopt;
    }
    return out;
}

// Counts calls by a key, for GET /_fake/calls.
class CallCounter {
public:
    void count(const std::string& key) {
        std::lock_guard lock(m_mutex);
        ++m_calls[key];
    }

    Reply reply() const {
        eye::json::Writer body;
        body.begin_object();
        {
            std::lock_guard lock(m_mutex);
            for (const auto& [key, calls] : m_calls) {
                body.field(key, calls);
            }
        }
        body.end_object();
        return json_reply(200, body.take());
    }

private:
    mutable std::mutex m_mutex;
    std::map<std::string, int> m_calls;
};

struct FakeAiOptions {
    std::string mode = "healthy";     // --ai-mode: how /health (and every route) behaves
    std::string analyze_mode = "ok";  // --analyze-mode
    std::string shared_root;          // --ai-shared-root; "": every path exists
    std::string shared_prefix = "/app/shared/";
    int embedding_dim = 512;
    int analyze_delay_ms = 0;  // --analyze-delay: a slow model, before any answer
};

// The fake python-ai: GET /health, POST /analyze-image, FastAPI's {"detail"} errors.
class FakeAi {
public:
    explicit FakeAi(FakeAiOptions options) : m_mode(options.mode), m_options(std::move(options)) {
        m_routes = {
            {"GET", "/health", [this](const Request&) { return health(); }},
            {"POST", "/analyze-image",
             [this](const Request& request) { return analyze_image(request); }},
        };
    }

    Reply handle(const Request& request) {
        if (request.method == "GET" && request.path == "/_fake/calls") {
            return m_calls.reply();
        }
        if (request.method == "POST" && request.path == "/analyze-image") {
            auto document = eye::json::parse(request.body);
            if (document) {
                m_calls.count(eye::json::get_string(*document, "image_path").value_or(""));
            }
        }
        if (m_mode == "hang") {
            Reply reply;
            reply.hang = true;
            return reply;
        }
        if (m_mode == "error500") {
            return detail(500, "Internal Server Error: CUDA error: out of memory");
        }
        if (m_mode == "html") {
            return text_reply(200, "text/html",
                              "<html><head><title>Welcome</title></head><body><h1>It works!"
                              "</h1></body></html>\n");
        }
        if (m_mode == "not-json") {
            return json_reply(200, R"({"status": "healthy", "models_lo)");
        }
        if (m_mode == "deep-json") {
            return deep_json();
        }
        return dispatch(m_routes, request, [](int status, std::string_view message) {
            return detail(status, message);
        });
    }

private:
    // 8 MiB of "[": valid JSON so far, nested far deeper than any parser's stack allows when it
    // recurses once per level (under the client's 16 MiB body cap)
    static Reply deep_json() { return json_reply(200, std::string(8 * 1024 * 1024, '[')); }

    static Reply detail(int status, std::string_view message) {
        eye::json::Writer body;
        body.begin_object();
        body.field("detail", message);
        body.end_object();
        return json_reply(status, body.take());
    }

    static Reply validation_error(std::string_view field, std::string_view message) {
        eye::json::Writer body;
        body.begin_object();
        body.key("detail");
        body.begin_array();
        body.begin_object();
        body.key("loc");
        body.begin_array();
        body.value("body");
        if (!field.empty()) {
            body.value(field);
        }
        body.end_array();
        body.field("msg", message);
        body.field("type", "value_error");
        body.end_object();
        body.end_array();
        body.end_object();
        return json_reply(422, body.take());
    }

    // The local file an image_path stands for, or nullopt when the service could not open it.
    std::optional<std::filesystem::path> local_file(const std::string& image_path) const {
        namespace fs = std::filesystem;
        if (m_options.shared_root.empty()) {
            return fs::path(image_path);
        }
        const std::string& prefix = m_options.shared_prefix;
        if (image_path.compare(0, prefix.size(), prefix) != 0) {
            return std::nullopt;
        }
        fs::path relative = fs::path(image_path.substr(prefix.size())).lexically_normal();
        if (relative.empty() || relative.is_absolute() || *relative.begin() == "..") {
            return std::nullopt;
        }
        fs::path local = fs::path(m_options.shared_root) / relative;
        std::error_code error;
        if (!fs::is_regular_file(local, error)) {
            return std::nullopt;
        }
        return local;
    }

    Reply analyze_image(const Request& request) const {
        auto document = eye::json::parse(request.body);
        if (!document || !document->IsObject()) {
            return validation_error("", "invalid JSON body");
        }
        auto image_path = eye::json::get_string(*document, "image_path");
        if (!image_path) {
            return validation_error("image_path", "field required");
        }
        const std::string& mode = m_options.analyze_mode;
        if (mode == "hang") {
            Reply reply;
            reply.hang = true;
            return reply;
        }
        if (mode == "busy503") {
            return detail(503, "Models are still loading, please try again shortly");
        }
        if (mode == "deep-json") {
            return deep_json();
        }
        if (mode == "error500") {
            return detail(500, "Analysis failed: CUDA error: out of memory");
        }
        if (mode == "html") {
            return text_reply(200, "text/html",
                              "<!DOCTYPE html><html><head><title>Sign in</title></head>"
                              "<body>Please sign in to continue.</body></html>\n");
        }
        if (mode == "huge") {
            // a body far past any sane cap, streamed so that a client can stop reading early
            Reply reply = json_reply(200, "");
            reply.chunks.push_back(R"({"description": ")");
            std::string mebibyte(1024 * 1024, 'a');
            for (int i = 0; i < 64; ++i) {
                reply.chunks.push_back(mebibyte);
            }
            reply.chunks.push_back(R"("})");
            return reply;
        }
        auto local = local_file(*image_path);
        if (!local) {
            return detail(404, "Image not found: " + *image_path);
        }
        bool detect_faces = eye::json::get_bool(*document, "detect_faces").value_or(true);
        bool use_ollama = eye::json::get_bool(*document, "use_ollama").value_or(false);
        std::string captioning =
            eye::json::get_string(*document, "captioning_model").value_or("florence");
        std::string embedding_model =
            eye::json::get_string(*document, "embedding_model").value_or("clip");
        std::string ollama_model =
            eye::json::get_string(*document, "ollama_model").value_or("llava:latest");
        Reply reply = json_reply(
            200, analysis(*image_path, *local, detect_faces,
                          use_ollama ? ollama_model : std::string(), captioning, embedding_model));
        reply.delay = Milliseconds(m_options.analyze_delay_ms);
        return reply;
    }

    std::string analysis(const std::string& image_path, const std::filesystem::path& local,
                         bool detect_faces, const std::string& ollama_model,
                         const std::string& captioning, const std::string& embedding_model) const {
        std::uint64_t seed = stable_hash(image_path);
        std::string name = std::filesystem::path(image_path).filename().string();
        std::string stem = std::filesystem::path(image_path).stem().string();
        std::error_code error;
        auto size = m_options.shared_root.empty() ? 0 : std::filesystem::file_size(local, error);
        const std::string& mode = m_options.analyze_mode;

        eye::json::Writer body;
        body.begin_object();
        body.field("description", fmt::format("A fake analysis of '{}'.", name));
        body.field("detailed_description",
                   fmt::format("The fake AI service analyzed '{}' ({} bytes) with {} and {}{}.",
                               image_path, error ? 0 : size, captioning, embedding_model,
                               ollama_model.empty() ? "" : " and ollama " + ollama_model));
        std::optional<rapidjson::Document> labelled;
        if (mode == "labelled") {
            std::ifstream in(local);
            std::stringstream content;
            content << in.rdbuf();
            if (auto parsed = eye::json::parse(content.str()); parsed && parsed->IsObject()) {
                labelled = std::move(*parsed);
            }
        }
        body.key("meta_tags");
        if (labelled && labelled->HasMember("meta_tags")) {
            body.raw(eye::json::to_string((*labelled)["meta_tags"]));
        } else {
            body.begin_array();
            for (const auto& tag :
                 {std::string("fake"), stem, std::string("person"), std::string("outdoor")}) {
                body.value(tag);
            }
            body.end_array();
        }
        int dimension = m_options.embedding_dim;
        if (mode == "wrong-dim") {
            dimension = dimension == 768 ? 512 : 768;
        }
        body.key("embedding");
        if (labelled && labelled->HasMember("embedding")) {
            body.raw(eye::json::to_string((*labelled)["embedding"]));
        } else {
            write_numbers(body, unit_vector(seed, dimension));
        }
        int faces = detect_faces ? 2 : 0;
        if (mode == "bad-types") {
            body.field("faces_detected", std::to_string(faces));
        } else {
            body.field("faces_detected", faces);
        }
        body.key("face_locations");
        body.begin_array();
        for (int face = 0; face < faces; ++face) {
            body.begin_array();
            for (int side : {40 + 20 * face, 180 + 220 * face, 150 + 20 * face, 70 + 220 * face}) {
                body.value(side);
            }
            body.end_array();
        }
        body.end_array();
        body.key("face_encodings");
        body.begin_array();
        for (int face = 0; face < faces; ++face) {
            std::vector<double> encoding(128);
            for (std::size_t i = 0; i < encoding.size(); ++i) {
                encoding[i] = 0.2 * std::cos(0.1 * static_cast<double>(i) + face +
                                             static_cast<double>(seed % 101));
            }
            write_numbers(body, encoding);
        }
        body.end_array();
        body.raw_field(
            "dominant_colors",
            R"([{"hex":"#4a6b8c","rgb":[74,107,140],"name":"blue","percentage":41.2},)"
            R"({"hex":"#d9c7a3","rgb":[217,199,163],"name":"beige","percentage":23.5}])");
        body.raw_field("image_quality",
                       R"({"overall_score":0.72,"sharpness":0.81,"brightness":0.56,)"
                       R"("contrast":0.63,"issues":{"is_blurry":false,"is_dark":false,)"
                       R"("is_overexposed":false,"is_low_contrast":false}})");
        body.field("quality_tier", "good");
        body.field("phash", fmt::format("{:016x}", seed));
        body.field("dhash", fmt::format("{:016x}", seed ^ 0xf0f0f0f0f0f0f0f0ULL));
        body.raw_field("objects_detected",
                       R"([{"label":"person","confidence":0.97,"bbox":[70,40,180,150]},)"
                       R"({"label":"dog","confidence":0.81,"bbox":[300,200,420,330]}])");
        body.raw_field("scene_classification",
                       R"({"scene":"outdoor","confidence":0.88,"top_scenes":[)"
                       R"({"label":"park","score":0.61},{"label":"street","score":0.22}]})");
        body.field("thumbnail_path",
                   fmt::format("{}thumbnails/{}_thumb.jpg", m_options.shared_prefix, stem));
        body.field("extracted_text", fmt::format("fake text in {}", stem));
        body.end_object();
        return body.take();
    }

    Reply health() const {
        bool initializing = m_mode == "initializing";
        bool loaded = m_mode == "healthy";
        eye::json::Writer body;
        body.begin_object();
        body.field("status", initializing ? "initializing" : "healthy");
        body.field("models_loaded", loaded);
        body.field("device", "cpu");
        body.key("features");
        body.begin_object();
        body.field("image_captioning", loaded);
        body.field("face_detection", loaded);
        body.field("embeddings", loaded);
        body.field("ollama", false);
        body.end_object();
        body.end_object();
        return json_reply(200, body.take());
    }

    std::string m_mode;
    FakeAiOptions m_options;
    CallCounter m_calls;
    std::vector<Route> m_routes;
};

// The fake Ollama: version, tags, pull (streamed NDJSON), show, generate, embed; {"error"}
// bodies.
class FakeOllama {
public:
    FakeOllama(std::string mode, std::vector<std::string> installed,
               std::vector<std::string> pullable, int embedding_dim, Milliseconds pull_delay)
        : m_mode(std::move(mode)),
          m_installed(std::move(installed)),
          m_pullable(pullable.begin(), pullable.end()),
          m_embedding_dim(embedding_dim),
          m_pull_delay(pull_delay) {
        m_routes = {
            {"GET", "/",
             [](const Request&) { return text_reply(200, "text/plain", "Ollama is running"); }},
            {"GET", "/api/version",
             [](const Request&) { return json_reply(200, R"({"version":"0.5.7"})"); }},
            {"GET", "/api/tags", [this](const Request&) { return tags(); }},
            {"POST", "/api/pull", [this](const Request& request) { return pull(request); }},
            {"POST", "/api/show", [this](const Request& request) { return show(request); }},
            {"POST", "/api/generate", [this](const Request& request) { return generate(request); }},
            {"POST", "/api/embed", [this](const Request& request) { return embed(request); }},
        };
    }

    Reply handle(const Request& request) {
        if (request.method == "GET" && request.path == "/_fake/calls") {
            return m_calls.reply();
        }
        if (request.method == "POST" &&
            (request.path == "/api/generate" || request.path == "/api/embed")) {
            m_calls.count(request.path);
        }
        if (m_mode == "hang") {
            Reply reply;
            reply.hang = true;
            return reply;
        }
        if (m_mode == "busy503") {
            return error(503, "server busy, please try again.  maximum pending requests exceeded");
        }
        return dispatch(m_routes, request, [](int status, std::string_view message) {
            return error(status, message);
        });
    }

private:
    static std::string error_body(std::string_view message) {
        eye::json::Writer body;
        body.begin_object();
        body.field("error", message);
        body.end_object();
        return body.take();
    }

    static Reply error(int status, std::string_view message) {
        return json_reply(status, error_body(message));
    }

    static std::string digest_of(std::string_view name) {
        auto hash = std::hash<std::string_view>{}(name);
        return fmt::format("sha256:{:016x}{:016x}{:016x}{:016x}", hash, hash ^ 0x5555,
                           hash ^ 0xaaaa, hash ^ 0xffff);
    }

    // The model a request names: "model", or "name" as older clients send it.
    static std::optional<std::string> requested_model(const Request& request, Reply& refusal,
                                                      bool& stream) {
        auto document = eye::json::parse(request.body);
        if (!document || !document->IsObject()) {
            refusal = error(400, "invalid JSON body");
            return std::nullopt;
        }
        auto model = eye::json::get_string(*document, "model");
        if (!model || model->empty()) {
            model = eye::json::get_string(*document, "name");
        }
        if (!model || model->empty()) {
            refusal = error(400, "model is required");
            return std::nullopt;
        }
        stream = eye::json::get_bool(*document, "stream").value_or(true);
        return eye::services::normalize_model_name(*model);
    }

    bool installed(const std::string& name) const {
        std::lock_guard lock(m_mutex);
        return std::find(m_installed.begin(), m_installed.end(), name) != m_installed.end();
    }

    void install(const std::string& name) {
        std::lock_guard lock(m_mutex);
        if (std::find(m_installed.begin(), m_installed.end(), name) == m_installed.end()) {
            m_installed.push_back(name);
        }
    }

    Reply tags() const {
        std::vector<std::string> names;
        {
            std::lock_guard lock(m_mutex);
            names = m_installed;
        }
        eye::json::Writer body;
        body.begin_object();
        body.key("models");
        body.begin_array();
        for (const auto& name : names) {
            body.begin_object();
            body.field("name", name);
            body.field("model", name);
            body.field("modified_at", "2025-01-01T00:00:00Z");
            body.field("size", 4'109'865'159LL);
            body.field("digest", digest_of(name).substr(7));
            body.key("details");
            body.begin_object();
            body.field("format", "gguf");
            body.field("family", "llama");
            body.field("parameter_size", "7B");
            body.field("quantization_level", "Q4_0");
            body.end_object();
            body.end_object();
        }
        body.end_array();
        body.end_object();
        return json_reply(200, body.take());
    }

    Reply pull(const Request& request) {
        Reply refusal;
        bool stream = true;
        auto model = requested_model(request, refusal, stream);
        if (!model) {
            return refusal;
        }
        // a registry has every model that is installed, so pulling one again succeeds too
        bool available = m_pullable.count(*model) != 0 || installed(*model);
        const std::string missing = "pull model manifest: file does not exist";
        if (!stream) {
            if (!available) {
                return error(500, missing);
            }
            install(*model);
            return json_reply(200, R"({"status":"success"})");
        }
        Reply reply = json_reply(200, "");
        reply.content_type = "application/x-ndjson";
        reply.chunk_delay = m_pull_delay;
        reply.chunks.push_back(R"({"status":"pulling manifest"})"
                               "\n");
        if (!available) {
            reply.chunks.push_back(error_body(missing) + "\n");
            return reply;
        }
        std::string digest = digest_of(*model);
        constexpr std::int64_t k_total = 4'109'853'248;
        for (std::int64_t completed : {std::int64_t{0}, k_total / 2, k_total}) {
            eye::json::Writer line;
            line.begin_object();
            line.field("status", "pulling " + digest.substr(7, 12));
            line.field("digest", digest);
            line.field("total", k_total);
            line.field("completed", completed);
            line.end_object();
            reply.chunks.push_back(line.take() + "\n");
        }
        reply.chunks.push_back(R"({"status":"verifying sha256 digest"})"
                               "\n");
        reply.chunks.push_back(R"({"status":"writing manifest"})"
                               "\n");
        reply.chunks.push_back(R"({"status":"success"})"
                               "\n");
        reply.after_sent = [this, name = *model] { install(name); };
        return reply;
    }

    Reply show(const Request& request) {
        Reply refusal;
        bool stream = false;
        auto model = requested_model(request, refusal, stream);
        if (!model) {
            return refusal;
        }
        if (!installed(*model)) {
            return error(404, fmt::format("model '{}' not found", *model));
        }
        bool vision = model->find("llava") != std::string::npos ||
                      model->find("vision") != std::string::npos ||
                      model->find("moondream") != std::string::npos;
        eye::json::Writer body;
        body.begin_object();
        body.field("modelfile", "# Modelfile generated by the eye fake\nFROM " + *model + "\n");
        body.field("parameters", "");
        body.field("template", "{{ .Prompt }}");
        body.key("details");
        body.begin_object();
        body.field("format", "gguf");
        body.field("family", "llama");
        body.field("parameter_size", "7B");
        body.field("quantization_level", "Q4_0");
        body.end_object();
        body.key("capabilities");
        body.begin_array();
        body.value("completion");
        if (vision) {
            body.value("vision");
        }
        body.end_array();
        body.end_object();
        return json_reply(200, body.take());
    }

    static Reply not_installed(const std::string& model) {
        return error(404, fmt::format("model \"{}\" not found, try pulling it first", model));
    }

    Reply generate(const Request& request) const {
        Reply refusal;
        bool stream = true;
        auto model = requested_model(request, refusal, stream);
        if (!model) {
            return refusal;
        }
        if (!installed(*model)) {
            return not_installed(*model);
        }
        auto document = eye::json::parse(request.body);
        const auto* images = eye::json::member(*document, "images");
        if (images == nullptr || !images->IsArray() || images->Empty()) {
            return error(400, "the fake ollama describes images: 'images' is required");
        }
        std::vector<std::string> described;
        for (const auto& image : images->GetArray()) {
            if (!image.IsString()) {
                return error(400,
                             "json: cannot unmarshal number into Go struct field "
                             "GenerateRequest.images of type api.ImageData");
            }
            std::size_t bad_at = 0;
            auto bytes = base64_decode({image.GetString(), image.GetStringLength()}, &bad_at);
            if (!bytes) {
                return error(400, fmt::format("illegal base64 data at input byte {}", bad_at));
            }
            try {
                auto decoded = eye::analyzers::read_image_header(*bytes);
                described.push_back(fmt::format("{}x{} {}", decoded.width, decoded.height,
                                                eye::analyzers::sniff_mime(*bytes)));
            } catch (const std::exception& refused) {
                return error(400, fmt::format("image: unknown format ({})", refused.what()));
            }
        }
        std::uint64_t seed = stable_hash(images->GetArray()[0].GetString());
        const auto* format = eye::json::member(*document, "format");
        std::string text;
        if (m_mode == "bad-answer" || format == nullptr || format->IsNull()) {
            text = fmt::format("Sure! This is a {} image of a fake scene.", described.front());
        } else {
            eye::json::Writer answer;
            answer.begin_object();
            answer.field("description",
                         fmt::format("A fake scene in a {} image.", described.front()));
            answer.field("detailed_description",
                         fmt::format("The fake Ollama model {} looked at a {} image ({:016x}).",
                                     *model, described.front(), seed));
            answer.key("tags");
            answer.begin_array();
            for (const char* tag : {"Fake", "scene", " test ", "scene"}) {
                answer.value(tag);
            }
            answer.end_array();
            answer.end_object();
            text = answer.take();
        }
        if (stream) {
            // what Ollama does when "stream" is not false: NDJSON pieces, then a final line
            Reply reply = json_reply(200, "");
            reply.content_type = "application/x-ndjson";
            eye::json::Writer piece;
            piece.begin_object();
            piece.field("model", *model);
            piece.field("response", text);
            piece.field("done", false);
            piece.end_object();
            reply.chunks.push_back(piece.take() + "\n");
            reply.chunks.push_back(
                fmt::format(R"({{"model":{},"response":"","done":true,"done_reason":"stop"}})"
                            "\n",
                            eye::json::quote(*model)));
            return reply;
        }
        eye::json::Writer body;
        body.begin_object();
        body.field("model", *model);
        body.field("created_at", "2025-01-01T00:00:00Z");
        body.field("response", text);
        body.field("done", true);
        body.field("done_reason", "stop");
        body.field("total_duration", 4'935'886'791LL);
        body.field("load_duration", 534'986'708LL);
        body.field("prompt_eval_count", 576);
        body.field("eval_count", 42);
        body.field("eval_duration", 4'289'432'000LL);
        body.end_object();
        return json_reply(200, body.take());
    }

    Reply embed(const Request& request) const {
        Reply refusal;
        bool stream = false;
        auto model = requested_model(request, refusal, stream);
        if (!model) {
            return refusal;
        }
        if (!installed(*model)) {
            return not_installed(*model);
        }
        auto document = eye::json::parse(request.body);
        const auto* input = eye::json::member(*document, "input");
        std::vector<std::string> texts;
        if (input != nullptr && input->IsString()) {
            texts.emplace_back(input->GetString(), input->GetStringLength());
        } else if (input != nullptr && input->IsArray()) {
            for (const auto& text : input->GetArray()) {
                if (!text.IsString()) {
                    return error(400, "invalid input type");
                }
                texts.emplace_back(text.GetString(), text.GetStringLength());
            }
        } else {
            return error(400, "invalid input type");
        }
        eye::json::Writer body;
        body.begin_object();
        body.field("model", *model);
        body.key("embeddings");
        body.begin_array();
        for (const auto& text : texts) {
            write_numbers(body, unit_vector(stable_hash(text), m_embedding_dim));
        }
        body.end_array();
        body.field("total_duration", 14'143'917LL);
        body.field("load_duration", 1'019'500LL);
        body.field("prompt_eval_count", 8);
        body.end_object();
        return json_reply(200, body.take());
    }

    std::string m_mode;
    mutable std::mutex m_mutex;
    std::vector<std::string> m_installed;
    std::set<std::string> m_pullable;
    int m_embedding_dim;
    Milliseconds m_pull_delay;
    CallCounter m_calls;
    std::vector<Route> m_routes;
};

void write_ports_file(const std::string& path, const std::string& content) {
    std::string temporary = fmt::format("{}.tmp.{}", path, getpid());
    int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool written = fd >= 0 && write(fd, content.data(), content.size()) ==
                                  static_cast<ssize_t>(content.size());
    written = written && fsync(fd) == 0;
    if (fd >= 0) {
        close(fd);
    }
    if (!written || rename(temporary.c_str(), path.c_str()) != 0) {
        int error = errno;
        unlink(temporary.c_str());
        throw std::runtime_error(
            fmt::format("cannot write the ports file '{}': {}", path, std::strerror(error)));
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Fake Avinash-EYE python-ai and Ollama services for tests and benchmarks",
                 "eye-fake-services"};
    int ai_port = 0;
    int ollama_port = 0;
    std::string ai_mode = "healthy";
    std::string ollama_mode = "healthy";
    std::string ollama_models;
    std::string ollama_pullable;
    int ollama_embedding_dim = 768;
    int ollama_pull_delay_ms = 30;
    FakeAiOptions ai_options;
    std::string ports_file;
    auto* ai_port_option = app.add_option("--ai-port", ai_port,
                                          "serve a fake python-ai on this port (0: any free port)")
                               ->check(CLI::Range(0, 65535));
    auto* ollama_port_option = app.add_option("--ollama-port", ollama_port,
                                              "serve a fake Ollama on this port (0: any free port)")
                                   ->check(CLI::Range(0, 65535));
    app.add_option("--ai-mode", ai_mode, "how the fake python-ai behaves")
        ->check(CLI::IsMember({"healthy", "initializing", "models-not-loaded", "html", "hang",
                               "error500", "not-json", "deep-json"}));
    app.add_option("--analyze-mode", ai_options.analyze_mode,
                   "how the fake python-ai answers POST /analyze-image")
        ->check(CLI::IsMember({"ok", "error500", "busy503", "html", "hang", "huge", "wrong-dim",
                               "bad-types", "deep-json", "labelled"}));
    app.add_option("--ai-shared-root", ai_options.shared_root,
                   "the local directory --ai-shared-prefix stands for (unset: every image_path "
                   "exists)");
    app.add_option("--ai-shared-prefix", ai_options.shared_prefix,
                   "the directory as image_path names it")
        ->capture_default_str();
    app.add_option("--analyze-delay", ai_options.analyze_delay_ms,
                   "milliseconds before a successful /analyze-image answers (a slow model)");
    app.add_option("--ai-embedding-dim", ai_options.embedding_dim,
                   "values in the embedding /analyze-image returns")
        ->capture_default_str()
        ->check(CLI::Range(1, 65536));
    app.add_option("--ollama-mode", ollama_mode, "how the fake Ollama behaves")
        ->check(CLI::IsMember({"healthy", "busy503", "hang", "bad-answer"}));
    app.add_option("--ollama-embedding-dim", ollama_embedding_dim,
                   "values in each embedding /api/embed returns")
        ->capture_default_str()
        ->check(CLI::Range(1, 65536));
    app.add_option("--ollama-models", ollama_models, "comma list of models installed at start");
    app.add_option("--ollama-pullable", ollama_pullable,
                   "comma list of models /api/pull can fetch besides the installed ones");
    app.add_option("--ollama-pull-delay", ollama_pull_delay_ms,
                   "milliseconds between the lines of a streamed /api/pull (a slow download)")
        ->capture_default_str()
        ->check(CLI::Range(0, 600'000));
    app.add_option("--ports-file", ports_file,
                   "write ai=PORT and ollama=PORT lines here once listening");
    CLI11_PARSE(app, argc, argv);

    if (!*ai_port_option && !*ollama_port_option) {
        std::cerr
            << "eye-fake-services: nothing to serve\nhint: give --ai-port and/or --ollama-port\n";
        return eye::to_int(eye::ExitCode::usage);
    }

    eye::stop::install_handlers();
    try {
        std::unique_ptr<FakeAi> ai;
        std::unique_ptr<FakeOllama> ollama;
        std::unique_ptr<eye::testing::HttpServer> ai_server;
        std::unique_ptr<eye::testing::HttpServer> ollama_server;
        std::string ports;
        if (*ai_port_option) {
            ai_options.mode = ai_mode;
            ai = std::make_unique<FakeAi>(ai_options);
            ai_server = std::make_unique<eye::testing::HttpServer>(
                [fake = ai.get()](const Request& request) { return fake->handle(request); },
                ai_port);
            ports += fmt::format("ai={}\n", ai_server->port());
            std::cerr << fmt::format("eye-fake-services: python-ai on {} ({})\n", ai_server->url(),
                                     ai_mode);
        }
        if (*ollama_port_option) {
            ollama = std::make_unique<FakeOllama>(ollama_mode, split_list(ollama_models),
                                                  split_list(ollama_pullable), ollama_embedding_dim,
                                                  Milliseconds(ollama_pull_delay_ms));
            ollama_server = std::make_unique<eye::testing::HttpServer>(
                [fake = ollama.get()](const Request& request) { return fake->handle(request); },
                ollama_port);
            ports += fmt::format("ollama={}\n", ollama_server->port());
            std::cerr << fmt::format("eye-fake-services: ollama on {} ({})\n", ollama_server->url(),
                                     ollama_mode);
        }
        if (!ports_file.empty()) {
            write_ports_file(ports_file, ports);
        }
        while (!eye::stop::wait_for(Milliseconds(60'000))) {
        }
        std::cerr << fmt::format("eye-fake-services: stopping on {}\n", eye::stop::signal_name());
    } catch (const std::exception& error) {
        std::cerr << "eye-fake-services: " << error.what() << "\n";
        return eye::to_int(eye::ExitCode::unavailable);
    }
    return 0;
}
