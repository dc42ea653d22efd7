#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "eye/core/units.hpp"
#include "eye/http/client.hpp"
#include "eye/services/service_error.hpp"

// A typed client for the Avinash-EYE python-ai service (design section 6).
namespace eye::services {

// GET /health: {"status": "healthy"|"initializing", "models_loaded": bool, "device": str, ...}
struct AiHealth {
    std::string status;          // as reported: "healthy", "initializing", ...
    bool models_loaded = false;  // false when the service does not say
    std::string device;          // "cpu", "cuda", ...; "" when the service does not say
    Milliseconds latency{0};     // how long the answer took

    // Healthy with its models loaded: ready to analyse images.
    bool ready() const { return status == "healthy" && models_loaded; }
};

// POST /analyze-image: what to analyze and with which models. Empty model names are left out of
// the request, so the service uses its own defaults.
struct AnalyzeImageRequest {
    std::string image_path;  // as the service sees it: "/app/shared/media/2026/a.jpg"
    bool detect_faces = true;
    bool use_ollama = false;
    std::string captioning_model;  // "florence"
    std::string embedding_model;   // "clip"
    std::string ollama_model;      // "llava:13b-v1.6"
};

// The answer of POST /analyze-image, every field of the contract. A field the service left out or
// sent as null is empty (nullopt, an empty vector, 0). Numbers are checked to be finite as the type
// that holds them; JSON-valued fields are kept as compact serialised JSON text.
struct AnalyzeImageResponse {
    std::optional<std::string> description;
    std::optional<std::string> detailed_description;
    std::vector<std::string> meta_tags;
    std::optional<std::vector<float>> embedding;  // null: the service computed none
    int faces_detected = 0;
    std::vector<std::array<int, 4>> face_locations;        // [top, right, bottom, left] in pixels
    std::vector<std::vector<float>> face_encodings;        // one vector (128 values) per face
    std::optional<std::string> dominant_colors_json;       // a JSON array
    std::optional<std::string> image_quality_json;         // a JSON object
    std::optional<std::string> quality_tier;               // "excellent", "good", ...
    std::optional<std::string> phash;                      // hex digits
    std::optional<std::string> dhash;                      // hex digits
    std::optional<std::string> objects_detected_json;      // any JSON value
    std::optional<std::string> scene_classification_json;  // any JSON value
    std::optional<std::string> thumbnail_path;
    std::optional<std::string> extracted_text;
};

class AiServiceClient {
public:
    // base_url like "http://python-ai:8000" (EYE_AI_URL); bearer_token is sent as
    // "Authorization: Bearer ..." when not empty (EYE_AI_TOKEN). Every call is bounded by
    // timeouts and made under retry (one attempt by default).
    explicit AiServiceClient(std::string base_url, std::string bearer_token = {},
                             http::Timeouts timeouts = {},
                             http::RetryPolicy retry = http::RetryPolicy{1});

    const std::string& base_url() const { return m_base_url; }

    // Consulted during every call; returning true stops it (ServiceError::Kind::aborted).
    void set_abort_check(std::function<bool()> should_abort);

    // GET /health. A 2xx whose body is not a JSON object with a string "status" is
    // bad_response; "initializing" is a successful answer (see AiHealth::ready()).
    ServiceResult<AiHealth> health();

    // POST /analyze-image (design section 6). Errors:
    // - transport failures, timeouts and an answer larger than 16 MiB as call_json reports them;
    // - an error status is http_status with the service's {"detail"} in the message: 404 means
    //   the service cannot find the file, 503 that its models are still loading, 500 a failure
    //   inside it ("POST http://ai:8000/analyze-image: HTTP 404: Image not found: /app/...");
    // - a 2xx whose body is not JSON at all (an HTML page from a proxy, text, nothing) is
    //   bad_response "...: not JSON (starts with '<html>')";
    // - a 2xx whose body is the service's JSON but breaks the contract is bad_response
    //   "...: malformed answer: <what>", naming the field: JSON that does not parse, an answer
    //   that is not an object, a field of the wrong type ("'faces_detected' is a string, expected
    //   an integer"), a number that is not finite as a 32-bit float, a face location that is not
    //   four integers. is_malformed_answer() tells this case from the others.
    ServiceResult<AnalyzeImageResponse> analyze_image(const AnalyzeImageRequest& analyze);

private:
    // A request to base_url + path with the token, timeouts and, when body is not empty, a
    // JSON content type.
    http::Request request(std::string method, std::string_view path, std::string body = {}) const;

    http::Client m_client;
    std::string m_base_url;
    std::string m_bearer_token;
    http::Timeouts m_timeouts;
    http::RetryPolicy m_retry;
};

// Whether an error from analyze_image is the service's own JSON answer breaking the contract
// (asking again gets the same answer), rather than no answer or an answer from something that is
// not the service.
bool is_malformed_answer(const ServiceError& error);

}  // namespace eye::services
