#include "eye/services/ai_service.hpp"

#include <utility>

#include "eye/json/json.hpp"

namespace eye::services {

AiServiceClient::AiServiceClient(std::string base_url, std::string bearer_token,
                                 http::Timeouts timeouts, http::RetryPolicy retry)
    : m_base_url(std::move(base_url)),
      m_bearer_token(std::move(bearer_token)),
      m_timeouts(timeouts),
      m_retry(retry) {}

void AiServiceClient::set_abort_check(std::function<bool()> should_abort) {
    m_client.set_abort_check(std::move(should_abort));
}

http::Request AiServiceClient::request(std::string method, std::string_view path,
                                       std::string body) const {
    http::Request request;
    request.method = std::move(method);
    request.url = http::join_url(m_base_url, path);
    request.timeouts = m_timeouts;
    request.bearer_token = m_bearer_token;
    request.headers.emplace_back("Accept", "application/json");
    if (!body.empty()) {
        request.headers.emplace_back("Content-Type", "application/json");
        request.body = std::move(body);
    }
    return request;
}

ServiceResult<AiHealth> AiServiceClient::health() {
    auto health_request = request("GET", "/health");
    AiHealth health;
    auto document = call_json(m_client, health_request, m_retry, &health.latency);
    if (!document) {
        return tl::make_unexpected(std::move(document.error()));
    }
    auto status = json::get_string(*document, "status");
    if (!status) {
        return tl::make_unexpected(
            bad_response(describe_call(health_request.method, health_request.url),
                         "no string 'status' in the answer"));
    }
    health.status = std::move(*status);
    health.models_loaded = json::get_bool(*document, "models_loaded").value_or(false);
    health.device = json::get_string(*document, "device").value_or("");
    return health;
}

}  // namespace eye::services
