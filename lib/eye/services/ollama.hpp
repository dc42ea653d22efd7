#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eye/core/units.hpp"
#include "eye/http/client.hpp"
#include "eye/services/service_error.hpp"

// A typed client for Ollama's documented HTTP API (design section 6).
namespace eye::services {

// Called for every progress line of a pull: its status ("pulling manifest", "pulling <digest>",
// "verifying sha256 digest", "success", ...) and byte counts, 0 when the line has none.
using PullProgress =
    std::function<void(std::string_view status, std::int64_t completed, std::int64_t total)>;

// POST /api/generate, answered whole ("stream": false).
struct GenerateRequest {
    std::string model;
    std::string prompt;
    std::vector<std::string> images;    // base64-encoded image files, as Ollama takes them
    std::string format_json;            // a JSON schema (or "\"json\""), as JSON text; "": none
    std::optional<double> temperature;  // sent in "options" when set
};

struct GenerateResponse {
    std::string model;
    std::string response;     // the model's text; with a format, JSON to parse
    std::string done_reason;  // "stop", "length", ...; "" when not reported
    std::int64_t total_duration_ns = 0;
    std::int64_t eval_count = 0;  // tokens generated
};

class OllamaClient {
public:
    // base_url like "http://ollama:11434" (EYE_OLLAMA_URL). Every call except pull() is bounded
    // by timeouts and made under retry (one attempt by default).
    explicit OllamaClient(std::string base_url, http::Timeouts timeouts = {},
                          http::RetryPolicy retry = http::RetryPolicy{1});

    const std::string& base_url() const { return m_base_url; }

    // Consulted during every call; returning true stops it (ServiceError::Kind::aborted).
    void set_abort_check(std::function<bool()> should_abort);

    // GET /api/version: the server's version string; answering it means Ollama is alive.
    ServiceResult<std::string> version();

    // GET /api/tags: the names of the installed models as Ollama lists them ("llava:latest").
    ServiceResult<std::vector<std::string>> tags();

    // POST /api/pull {"model", "stream": true}, one attempt, reading the NDJSON progress lines
    // as they arrive and passing each to on_progress (may be empty). Succeeds only when a line
    // with status "success" arrived. An {"error": ...} line is a failure even after a 200
    // (http_status, with the 200 as http_status); a line that is not JSON is bad_response. The
    // whole pull must end within `deadline` of the call, else it is a timeout.
    ServiceResult<void> pull(std::string_view model, const PullProgress& on_progress,
                             Milliseconds deadline);

    // POST /api/show {"model"}: the model's capabilities ("completion", "vision", ...); empty
    // when the server is too old to report them. A model that is not installed is http_status
    // 404.
    ServiceResult<std::vector<std::string>> show(std::string_view model);

    // POST /api/generate with "stream": false. A 2xx that is not a JSON object with a string
    // "response" and "done": true is bad_response. A model that is not installed is http_status
    // 404, a busy server 503 ("server busy, please try again..."), each with Ollama's {"error"}.
    ServiceResult<GenerateResponse> generate(const GenerateRequest& generate);

    // POST /api/embed {"model", "input"}: the embedding of one text, "embeddings"[0]. A 2xx
    // without a non-empty array of numbers there, or with a number that is not finite as a
    // 32-bit float, is bad_response. Errors otherwise as generate().
    ServiceResult<std::vector<float>> embed(std::string_view model, std::string_view input);

private:
    http::Request request(std::string method, std::string_view path, std::string body = {}) const;

    http::Client m_client;
    std::string m_base_url;
    http::Timeouts m_timeouts;
    http::RetryPolicy m_retry;
};

// The name Ollama gives a model: spaces trimmed and ":latest" added when there is no tag
// ("llava" -> "llava:latest"; "llava:13b" and "host:5000/llava:7b" unchanged).
std::string normalize_model_name(std::string_view name);

// Whether `wanted` is among `installed`, comparing normalised names exactly: "llava" matches
// "llava:latest" but not "llava-phi3:latest", and "llava:13b" does not match "llava:13b-v1.6".
bool has_model(const std::vector<std::string>& installed, std::string_view wanted);

}  // namespace eye::services
