// eye-fake-services: a fake Avinash-EYE python-ai and/or a fake Ollama on 127.0.0.1, speaking
// their documented protocols (design section 6), errors included, for end-to-end tests and
// benchmarks.
//
//   eye-fake-services --ai-port 0 --ai-mode healthy
//                     --ollama-port 0 --ollama-mode healthy
//                     --ollama-models llava:latest --ollama-pullable llava:13b,moondream
//                     --ports-file /tmp/ports
//
// A port of 0 picks a free one; a service whose port is not given is not started. Once every
// server listens, --ports-file receives "ai=PORT\n" and/or "ollama=PORT\n" (only the services
// started), written to a temporary name and renamed, so a test can wait for the file. Runs until
// SIGTERM or SIGINT.
//
// Each fake is a table of routes; a new endpoint (POST /analyze-image, /api/generate,
// /api/embed) is one more row and one more function.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

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

// The fake python-ai: GET /health, FastAPI's {"detail"} errors.
class FakeAi {
public:
    explicit FakeAi(std::string mode) : m_mode(std::move(mode)) {
        m_routes = {
            {"GET", "/health", [this](const Request&) { return health(); }},
            // {"POST", "/analyze-image", ...} lands here
        };
    }

    Reply handle(const Request& request) const {
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
        return dispatch(m_routes, request, [](int status, std::string_view message) {
            return detail(status, message);
        });
    }

private:
    static Reply detail(int status, std::string_view message) {
        eye::json::Writer body;
        body.begin_object();
        body.field("detail", message);
        body.end_object();
        return json_reply(status, body.take());
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
    std::vector<Route> m_routes;
};

// The fake Ollama: version, tags, pull (streamed NDJSON), show; {"error"} bodies.
class FakeOllama {
public:
    FakeOllama(std::string mode, std::vector<std::string> installed,
               std::vector<std::string> pullable)
        : m_mode(std::move(mode)),
          m_installed(std::move(installed)),
          m_pullable(pullable.begin(), pullable.end()) {
        m_routes = {
            {"GET", "/",
             [](const Request&) { return text_reply(200, "text/plain", "Ollama is running"); }},
            {"GET", "/api/version",
             [](const Request&) { return json_reply(200, R"({"version":"0.5.7"})"); }},
            {"GET", "/api/tags", [this](const Request&) { return tags(); }},
            {"POST", "/api/pull", [this](const Request& request) { return pull(request); }},
            {"POST", "/api/show", [this](const Request& request) { return show(request); }},
            // {"POST", "/api/generate", ...} and {"POST", "/api/embed", ...} land here
        };
    }

    Reply handle(const Request& request) {
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
        reply.chunk_delay = Milliseconds(30);
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

    std::string m_mode;
    mutable std::mutex m_mutex;
    std::vector<std::string> m_installed;
    std::set<std::string> m_pullable;
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
    std::string ports_file;
    auto* ai_port_option = app.add_option("--ai-port", ai_port,
                                          "serve a fake python-ai on this port (0: any free port)")
                               ->check(CLI::Range(0, 65535));
    auto* ollama_port_option = app.add_option("--ollama-port", ollama_port,
                                              "serve a fake Ollama on this port (0: any free port)")
                                   ->check(CLI::Range(0, 65535));
    app.add_option("--ai-mode", ai_mode, "how the fake python-ai behaves")
        ->check(CLI::IsMember({"healthy", "initializing", "models-not-loaded", "html", "hang",
                               "error500", "not-json"}));
    app.add_option("--ollama-mode", ollama_mode, "how the fake Ollama behaves")
        ->check(CLI::IsMember({"healthy", "busy503", "hang"}));
    app.add_option("--ollama-models", ollama_models, "comma list of models installed at start");
    app.add_option("--ollama-pullable", ollama_pullable,
                   "comma list of models /api/pull can fetch besides the installed ones");
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
            ai = std::make_unique<FakeAi>(ai_mode);
            ai_server = std::make_unique<eye::testing::HttpServer>(
                [fake = ai.get()](const Request& request) { return fake->handle(request); },
                ai_port);
            ports += fmt::format("ai={}\n", ai_server->port());
            std::cerr << fmt::format("eye-fake-services: python-ai on {} ({})\n", ai_server->url(),
                                     ai_mode);
        }
        if (*ollama_port_option) {
            ollama = std::make_unique<FakeOllama>(ollama_mode, split_list(ollama_models),
                                                  split_list(ollama_pullable));
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
