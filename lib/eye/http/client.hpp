#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "eye/core/units.hpp"

// HTTP over libcurl: one RAII handle per Client (reused, so connections are kept alive), named
// timeouts, a cap on the response size, and transport failures returned as values. A response
// with any status code is a Response; only a request that got no complete answer is a Failure.
namespace eye::http {

struct Timeouts {
    Milliseconds connect{3'000};
    Milliseconds total{10'000};
};

struct Request {
    std::string method = "GET";
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;  // sent as is; set a Content-Type header for it
    Timeouts timeouts;
    std::size_t max_response_bytes = 16 * 1024 * 1024;
    std::string bearer_token;  // sent as "Authorization: Bearer ..." when not empty
};

struct Response {
    long status = 0;
    std::string body;
    std::string content_type;
    Milliseconds elapsed{0};
    int attempts = 1;

    bool ok() const { return status >= 200 && status < 300; }
    bool server_error() const { return status >= 500; }
};

enum class FailureKind {
    bad_url,    // the URL cannot be used at all
    connect,    // could not resolve or connect
    timeout,    // connect or total timeout
    too_large,  // the body exceeded max_response_bytes
    aborted,    // the abort check or a line callback stopped the transfer
    transport,  // any other transport error (reset, bad chunking, TLS)
};

struct Failure {
    FailureKind kind = FailureKind::transport;
    std::string message;  // one lowercase line: "connection refused", "timed out after 5s"
    Milliseconds elapsed{0};
    int attempts = 1;
};

using Result = tl::expected<Response, Failure>;

std::string_view failure_kind_name(FailureKind kind);

// Which results are worth another attempt: connect failures, timeouts, other transport errors
// and 5xx (503 included). 4xx, too_large, bad_url and aborted are answered at once.
bool is_retryable(const Result& result);

// Retries with capped exponential backoff (initial, doubled each time, at most max_backoff) until
// max_attempts or until the next attempt could not finish before the deadline. The deadline is
// measured from the call and bounds everything: each attempt's total timeout is cut to the time
// left, and no retry is made when its backoff would leave less than 100 ms before the deadline.
struct RetryPolicy {
    int max_attempts = 3;
    Milliseconds initial_backoff{250};
    Milliseconds max_backoff{4'000};
    Milliseconds deadline{30'000};
};

// A Client is used by one thread at a time; give each thread its own.
class Client {
public:
    Client();
    ~Client();
    Client(Client&&) noexcept;
    Client& operator=(Client&&) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // Called often during a transfer; returning true aborts it (FailureKind::aborted). Also
    // consulted between retries and during backoff sleeps.
    void set_abort_check(std::function<bool()> should_abort);

    // One attempt.
    Result send(const Request& request);

    // Attempts under the policy; Response::attempts / Failure::attempts say how many were made,
    // elapsed covers all of them and the waits between, and a failure's message ends with
    // "(after N attempts)" when there was more than one.
    Result send(const Request& request, const RetryPolicy& policy);

    // One attempt whose body is delivered line by line as it arrives (NDJSON streams such as
    // Ollama's /api/pull). Lines are passed without their "\n" (and a "\r" before it); a last
    // line without one is passed when the body ends. Returning false from on_line aborts the
    // transfer (FailureKind::aborted). The returned Response has an empty body; max_response_bytes
    // bounds any single line. Only a 2xx body is streamed: any other status is not a stream of
    // results, so its body is kept whole in Response::body (bounded by max_response_bytes) for
    // the caller to report.
    Result stream_lines(const Request& request,
                        const std::function<bool(std::string_view line)>& on_line);

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// "http://host:8000" + "/health" with exactly one slash between them.
std::string join_url(std::string_view base, std::string_view path);

// The URL with the password of its user information replaced by "***", for messages:
// "http://eye:***@ai:8000/health".
std::string redact_url(std::string_view url);

// True for an http:// URL whose host is not this machine (localhost, 127.0.0.0/8, ::1): what it
// carries, a bearer token included, crosses the network in clear text.
bool is_cleartext_to_remote(std::string_view url);

}  // namespace eye::http
