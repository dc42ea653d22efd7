#include "eye/services/service_error.hpp"

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::services {
namespace {

// An upstream's own words are quoted in our one-line messages; keep them one line and short.
constexpr std::size_t k_max_detail_chars = 300;

std::string one_line(std::string_view text, std::size_t max_chars) {
    std::string out;
    bool pending_space = false;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            pending_space = !out.empty();
            continue;
        }
        if (out.size() >= max_chars) {
            break;
        }
        if (pending_space) {
            out += ' ';
            pending_space = false;
        }
        out += c;
    }
    return out;
}

std::string detail_of(const rapidjson::Value& detail) {
    if (detail.IsString()) {
        return std::string(detail.GetString(), detail.GetStringLength());
    }
    // FastAPI's validation errors: [{"loc": [...], "msg": "...", "type": "..."}]
    if (detail.IsArray() && !detail.Empty()) {
        if (auto message = json::get_string(detail[0], "msg")) {
            return *message;
        }
    }
    if (detail.IsObject()) {
        if (auto message = json::get_string(detail, "message")) {
            return *message;
        }
    }
    if (detail.IsNull()) {
        return {};
    }
    return json::to_string(detail);
}

}  // namespace

std::string_view service_error_kind_name(ServiceError::Kind kind) {
    switch (kind) {
        case ServiceError::Kind::unreachable:
            return "unreachable";
        case ServiceError::Kind::timeout:
            return "timeout";
        case ServiceError::Kind::http_status:
            return "http_status";
        case ServiceError::Kind::bad_response:
            return "bad_response";
        case ServiceError::Kind::too_large:
            return "too_large";
        case ServiceError::Kind::aborted:
            return "aborted";
    }
    return "unreachable";
}

std::string describe_call(std::string_view method, std::string_view url) {
    return fmt::format("{} {}", method, http::redact_url(url));
}

std::string error_detail(std::string_view body) {
    auto document = json::parse(body);
    if (!document || !document->IsObject()) {
        return {};
    }
    for (const char* name : {"detail", "error"}) {
        if (const auto* value = json::member(*document, name)) {
            return one_line(detail_of(*value), k_max_detail_chars);
        }
    }
    return {};
}

std::string body_excerpt(std::string_view body, std::size_t max_chars) {
    std::string out;
    bool pending_space = false;
    for (char c : body) {
        auto byte = static_cast<unsigned char>(c);
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            pending_space = !out.empty();
            continue;
        }
        if (out.size() + (pending_space ? 1 : 0) >= max_chars) {
            break;
        }
        if (pending_space) {
            out += ' ';
            pending_space = false;
        }
        out += byte >= 0x21 && byte < 0x7f ? c : '?';
    }
    return out;
}

ServiceError failure_error(std::string_view call, const http::Failure& failure) {
    ServiceError error;
    switch (failure.kind) {
        case http::FailureKind::bad_url:
        case http::FailureKind::connect:
        case http::FailureKind::transport:
            error.kind = ServiceError::Kind::unreachable;
            break;
        case http::FailureKind::timeout:
            error.kind = ServiceError::Kind::timeout;
            break;
        case http::FailureKind::too_large:
            error.kind = ServiceError::Kind::too_large;
            break;
        case http::FailureKind::aborted:
            error.kind = ServiceError::Kind::aborted;
            break;
    }
    error.message = fmt::format("{}: {}", call, failure.message);
    return error;
}

ServiceError status_error(std::string_view call, const http::Response& response) {
    ServiceError error;
    error.kind = ServiceError::Kind::http_status;
    error.http_status = response.status;
    error.message = fmt::format("{}: HTTP {}", call, response.status);
    std::string detail = error_detail(response.body);
    if (!detail.empty()) {
        error.message += ": " + detail;
    }
    return error;
}

ServiceError bad_response(std::string_view call, std::string_view reason) {
    ServiceError error;
    error.kind = ServiceError::Kind::bad_response;
    error.message = fmt::format("{}: {}", call, reason);
    return error;
}

ServiceResult<rapidjson::Document> parse_object(std::string_view call, std::string_view body) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        return tl::make_unexpected(bad_response(call, "empty body where JSON was expected"));
    }
    auto document = json::parse(body);
    if (!document) {
        return tl::make_unexpected(bad_response(
            call, json::is_too_deep(document.error())
                      ? fmt::format("JSON too deep to read ({}; starts with '{}')",
                                    document.error(), body_excerpt(body))
                      : fmt::format("not JSON (starts with '{}')", body_excerpt(body))));
    }
    if (!document->IsObject()) {
        return tl::make_unexpected(bad_response(
            call, fmt::format("expected a JSON object (got '{}')", body_excerpt(body))));
    }
    return std::move(*document);
}

ServiceResult<rapidjson::Document> call_json(http::Client& client, const http::Request& request,
                                             const http::RetryPolicy& policy,
                                             Milliseconds* elapsed) {
    std::string call = describe_call(request.method, request.url);
    auto result = client.send(request, policy);
    if (!result) {
        return tl::make_unexpected(failure_error(call, result.error()));
    }
    if (elapsed != nullptr) {
        *elapsed = result->elapsed;
    }
    if (!result->ok()) {
        return tl::make_unexpected(status_error(call, *result));
    }
    return parse_object(call, result->body);
}

}  // namespace eye::services
