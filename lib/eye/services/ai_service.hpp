#pragma once

#include <functional>
#include <string>

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

    // POST /analyze-image (design section 6) belongs here, built on request() below: the
    // request body, the mapping of faces_detected/face_encodings, and 404 (file missing,
    // permanent) versus 503 (models loading, retry) versus 500.

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

}  // namespace eye::services
