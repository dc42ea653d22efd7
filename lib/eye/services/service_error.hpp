#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <tl/expected.hpp>

#include "eye/http/client.hpp"

// What the typed service clients (AI service, Ollama) return when a call did not give the
// expected answer, and the shared steps that turn HTTP results into it.
namespace eye::services {

struct ServiceError {
    enum class Kind {
        unreachable,   // could not connect (or the URL cannot be used)
        timeout,       // no complete answer in time
        http_status,   // the service answered with an error status, or an in-band error
        bad_response,  // the answer is not the JSON the protocol promises
        too_large,     // the answer exceeded the size limit
        aborted,       // stopped by the abort check (a stop request)
    };

    Kind kind = Kind::unreachable;
    long http_status = 0;  // the status of the answer for http_status, else 0
    // One lowercase line naming the call, then what went wrong:
    // "GET http://ai:8000/health: connection refused", "GET http://ai:8000/health: HTTP 502".
    std::string message;
};

template <typename T>
using ServiceResult = tl::expected<T, ServiceError>;

std::string_view service_error_kind_name(ServiceError::Kind kind);

// "GET http://ai:8000/health", with any password in the URL replaced by "***".
std::string describe_call(std::string_view method, std::string_view url);

// The message an upstream put in an error body: FastAPI's {"detail": str} (or its list of
// {"msg"} for validation errors) and Ollama's {"error": str}. "" when the body holds none.
std::string error_detail(std::string_view body);

// At most max_chars of the start of a body, printable ASCII only (runs of whitespace become one
// space, other bytes '?'), to quote in a message.
std::string body_excerpt(std::string_view body, std::size_t max_chars = 40);

ServiceError failure_error(std::string_view call, const http::Failure& failure);
// "<call>: HTTP 502", then ": <detail>" when the body carries one.
ServiceError status_error(std::string_view call, const http::Response& response);
ServiceError bad_response(std::string_view call, std::string_view reason);

// Parses a body that must be a JSON object; otherwise bad_response
// "<call>: not JSON (starts with '<html>')".
ServiceResult<rapidjson::Document> parse_object(std::string_view call, std::string_view body);

// Sends the request under the policy and returns the JSON object of a 2xx answer; transport
// failures, other statuses and bodies that are not a JSON object become ServiceErrors. The
// response's elapsed time is stored in *elapsed when given.
ServiceResult<rapidjson::Document> call_json(http::Client& client, const http::Request& request,
                                             const http::RetryPolicy& policy,
                                             Milliseconds* elapsed = nullptr);

}  // namespace eye::services
