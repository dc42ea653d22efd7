#include "eye/http/client.hpp"

#include <cerrno>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <curl/curl.h>
#include <fmt/format.h>

namespace eye::http {
namespace {

using Clock = std::chrono::steady_clock;

// Between two polls of the transfer, and between two looks at the abort check during a backoff:
// short enough that a stop request is answered at once, long enough to cost nothing.
constexpr Milliseconds k_slice{25};

// A retry with less time than this before the deadline could not do anything useful.
constexpr Milliseconds k_min_attempt_time{100};

std::once_flag g_curl_global_once;

void init_curl_once() {
    std::call_once(g_curl_global_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct EasyDeleter {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct MultiDeleter {
    void operator()(CURLM* handle) const { curl_multi_cleanup(handle); }
};
struct SlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
struct UrlDeleter {
    void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct CurlStringDeleter {
    void operator()(char* text) const { curl_free(text); }
};

using EasyHandle = std::unique_ptr<CURL, EasyDeleter>;
using MultiHandle = std::unique_ptr<CURLM, MultiDeleter>;
using HeaderList = std::unique_ptr<curl_slist, SlistDeleter>;
using UrlHandle = std::unique_ptr<CURLU, UrlDeleter>;
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

Milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<Milliseconds>(Clock::now() - start);
}

Failure make_failure(FailureKind kind, std::string message,
                     Milliseconds elapsed = Milliseconds(0)) {
    Failure failure;
    failure.kind = kind;
    failure.message = std::move(message);
    failure.elapsed = elapsed;
    return failure;
}

// What the callbacks of one transfer share with the code that started it.
struct Transfer {
    enum class Sink { undecided, body, lines };

    CURL* easy = nullptr;
    std::size_t max_bytes = 0;
    const std::function<bool()>* should_abort = nullptr;
    const std::function<bool(std::string_view)>* on_line = nullptr;

    Sink sink = Sink::undecided;
    std::string buffer;  // the whole body, or the unfinished line when streaming lines
    bool too_large = false;
    bool line_refused = false;
    bool abort_requested = false;
};

// Hands every complete line in the buffer to the callback and keeps the unfinished rest.
bool deliver_complete_lines(Transfer& transfer) {
    std::size_t start = 0;
    for (;;) {
        std::size_t end = transfer.buffer.find('\n', start);
        if (end == std::string::npos) {
            break;
        }
        std::string_view line(transfer.buffer.data() + start, end - start);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        start = end + 1;
        if (!(*transfer.on_line)(line)) {
            transfer.line_refused = true;
            return false;
        }
    }
    transfer.buffer.erase(0, start);
    return true;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
    auto& transfer = *static_cast<Transfer*>(user);
    std::size_t bytes = size * count;
    if (transfer.sink == Transfer::Sink::undecided) {
        // an error status is not a stream of results: keep its body whole so that the caller
        // can show what the server said
        long status = 0;
        curl_easy_getinfo(transfer.easy, CURLINFO_RESPONSE_CODE, &status);
        bool stream = transfer.on_line != nullptr && status >= 200 && status < 300;
        transfer.sink = stream ? Transfer::Sink::lines : Transfer::Sink::body;
    }
    if (transfer.sink == Transfer::Sink::body) {
        if (transfer.buffer.size() + bytes > transfer.max_bytes) {
            transfer.too_large = true;
            return 0;
        }
        transfer.buffer.append(data, bytes);
        return bytes;
    }
    transfer.buffer.append(data, bytes);
    if (!deliver_complete_lines(transfer)) {
        return 0;
    }
    if (transfer.buffer.size() > transfer.max_bytes) {
        transfer.too_large = true;
        return 0;
    }
    return bytes;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    auto& transfer = *static_cast<Transfer*>(user);
    if (transfer.should_abort != nullptr && *transfer.should_abort && (*transfer.should_abort)()) {
        transfer.abort_requested = true;
        return 1;
    }
    return 0;
}

std::string lowercase(std::string text) {
    for (char& c : text) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return text;
}

struct ParsedUrl {
    std::string scheme;  // lowercase: http or https
    std::string host;
};

tl::expected<ParsedUrl, Failure> check_url(const std::string& url) {
    if (url.empty()) {
        return tl::make_unexpected(make_failure(FailureKind::bad_url, "empty url"));
    }
    UrlHandle handle(curl_url());
    if (!handle) {
        throw std::bad_alloc();
    }
    if (curl_url_set(handle.get(), CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME) !=
        CURLUE_OK) {
        return tl::make_unexpected(
            make_failure(FailureKind::bad_url, fmt::format("malformed url '{}'", redact_url(url))));
    }
    char* raw = nullptr;
    curl_url_get(handle.get(), CURLUPART_SCHEME, &raw, 0);
    CurlString scheme(raw);
    std::string scheme_name = scheme ? lowercase(scheme.get()) : std::string();
    if (scheme_name != "http" && scheme_name != "https") {
        return tl::make_unexpected(
            make_failure(FailureKind::bad_url,
                         fmt::format("unsupported url scheme '{}' in '{}' (use http or https)",
                                     scheme_name, redact_url(url))));
    }
    raw = nullptr;
    curl_url_get(handle.get(), CURLUPART_HOST, &raw, 0);
    CurlString host(raw);
    if (!host || *host == '\0') {
        return tl::make_unexpected(make_failure(
            FailureKind::bad_url, fmt::format("url '{}' has no host", redact_url(url))));
    }
    return ParsedUrl{scheme_name, host.get()};
}

std::string connect_error_message(CURL* easy) {
    long os_errno = 0;
    curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno);
    switch (os_errno) {
        case ECONNREFUSED:
            return "connection refused";
        case EHOSTUNREACH:
            return "host unreachable";
        case ENETUNREACH:
            return "network unreachable";
        case ETIMEDOUT:
            return "connect timed out";
        default:
            return "could not connect";
    }
}

// Turns a finished transfer that did not succeed into the one line a human reads.
Failure describe_failure(CURLcode code, const Transfer& transfer, const Request& request,
                         const ParsedUrl& url) {
    CURL* easy = transfer.easy;
    if (transfer.too_large) {
        if (transfer.sink == Transfer::Sink::lines) {
            return make_failure(FailureKind::too_large,
                                fmt::format("response line longer than {}",
                                            format_size(request.max_response_bytes)));
        }
        return make_failure(
            FailureKind::too_large,
            fmt::format("response larger than {}", format_size(request.max_response_bytes)));
    }
    if (transfer.line_refused) {
        return make_failure(FailureKind::aborted, "stopped by the line callback");
    }
    if (transfer.abort_requested || code == CURLE_ABORTED_BY_CALLBACK) {
        return make_failure(FailureKind::aborted, "aborted");
    }
    switch (code) {
        case CURLE_FILESIZE_EXCEEDED:
            return make_failure(
                FailureKind::too_large,
                fmt::format("response larger than {}", format_size(request.max_response_bytes)));
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            return make_failure(FailureKind::bad_url,
                                fmt::format("malformed url '{}'", redact_url(request.url)));
        case CURLE_COULDNT_RESOLVE_HOST:
            return make_failure(FailureKind::connect,
                                fmt::format("could not resolve host '{}'", url.host));
        case CURLE_COULDNT_CONNECT:
            return make_failure(FailureKind::connect, connect_error_message(easy));
        case CURLE_OPERATION_TIMEDOUT: {
            curl_off_t connected_after = 0;
            curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &connected_after);
            if (connected_after == 0 && request.timeouts.connect <= request.timeouts.total) {
                return make_failure(FailureKind::timeout,
                                    fmt::format("connect timed out after {}",
                                                format_duration(request.timeouts.connect)));
            }
            return make_failure(
                FailureKind::timeout,
                fmt::format("timed out after {}", format_duration(request.timeouts.total)));
        }
        case CURLE_GOT_NOTHING:
            return make_failure(FailureKind::transport,
                                "server closed the connection without replying");
        case CURLE_PARTIAL_FILE:
            return make_failure(FailureKind::transport,
                                "connection closed before the whole response arrived");
        case CURLE_RECV_ERROR:
            return make_failure(FailureKind::transport, "connection lost while receiving");
        case CURLE_SEND_ERROR:
            return make_failure(FailureKind::transport, "connection lost while sending");
        case CURLE_WEIRD_SERVER_REPLY:
            return make_failure(FailureKind::transport, "the server did not answer in http");
        default:
            return make_failure(FailureKind::transport, lowercase(curl_easy_strerror(code)));
    }
}

}  // namespace

std::string_view failure_kind_name(FailureKind kind) {
    switch (kind) {
        case FailureKind::bad_url:
            return "bad_url";
        case FailureKind::connect:
            return "connect";
        case FailureKind::timeout:
            return "timeout";
        case FailureKind::too_large:
            return "too_large";
        case FailureKind::aborted:
            return "aborted";
        case FailureKind::transport:
            return "transport";
    }
    return "transport";
}

bool is_retryable(const Result& result) {
    if (result) {
        return result->server_error();
    }
    switch (result.error().kind) {
        case FailureKind::connect:
        case FailureKind::timeout:
        case FailureKind::transport:
            return true;
        case FailureKind::bad_url:
        case FailureKind::too_large:
        case FailureKind::aborted:
            return false;
    }
    return false;
}

struct Client::Impl {
    // The easy handle runs inside a multi handle of its own so that the transfer can be polled
    // in short slices; the multi handle also holds the connection cache that keeps connections
    // alive from one request to the next.
    EasyHandle easy;
    MultiHandle multi;
    std::function<bool()> should_abort;

    bool abort_requested() const { return should_abort && should_abort(); }

    Result perform(const Request& request, const std::function<bool(std::string_view)>* on_line);
    CURLcode run_transfer();
};

CURLcode Client::Impl::run_transfer() {
    CURL* handle = easy.get();
    if (curl_multi_add_handle(multi.get(), handle) != CURLM_OK) {
        return CURLE_FAILED_INIT;
    }
    CURLcode result = CURLE_OK;
    bool finished = false;
    while (!finished) {
        int running = 0;
        if (curl_multi_perform(multi.get(), &running) != CURLM_OK) {
            result = CURLE_FAILED_INIT;
            break;
        }
        int queued = 0;
        while (CURLMsg* message = curl_multi_info_read(multi.get(), &queued)) {
            if (message->msg == CURLMSG_DONE && message->easy_handle == handle) {
                result = message->data.result;
                finished = true;
            }
        }
        if (!finished && curl_multi_poll(multi.get(), nullptr, 0, static_cast<int>(k_slice.count()),
                                         nullptr) != CURLM_OK) {
            result = CURLE_FAILED_INIT;
            break;
        }
    }
    curl_multi_remove_handle(multi.get(), handle);
    return result;
}

Result Client::Impl::perform(const Request& request,
                             const std::function<bool(std::string_view)>* on_line) {
    auto start = Clock::now();
    auto url = check_url(request.url);
    if (!url) {
        return tl::make_unexpected(url.error());
    }
    if (abort_requested()) {
        return tl::make_unexpected(make_failure(FailureKind::aborted, "aborted"));
    }

    CURL* handle = easy.get();
    curl_easy_reset(handle);

    Transfer transfer;
    transfer.easy = handle;
    transfer.max_bytes = request.max_response_bytes;
    transfer.should_abort = &should_abort;
    transfer.on_line = on_line;

    HeaderList headers;
    auto add_header = [&headers](const std::string& line) {
        curl_slist* extended = curl_slist_append(headers.get(), line.c_str());
        if (extended == nullptr) {
            throw std::bad_alloc();
        }
        headers.release();
        headers.reset(extended);
    };
    for (const auto& [name, value] : request.headers) {
        add_header(name + ": " + value);
    }
    if (!request.bearer_token.empty()) {
        add_header("Authorization: Bearer " + request.bearer_token);
    }
    // curl would otherwise wait for a "100 Continue" before sending a larger body
    add_header("Expect:");

    curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str());
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "eye/" EYE_VERSION);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(request.timeouts.connect.count()));
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeouts.total.count()));
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(handle, CURLOPT_XFERINFODATA, &transfer);
    if (on_line == nullptr) {
        // refuses a body whose declared length is too large before reading any of it
        curl_easy_setopt(handle, CURLOPT_MAXFILESIZE_LARGE,
                         static_cast<curl_off_t>(request.max_response_bytes));
    }

    if (request.method == "HEAD") {
        curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    } else if (request.method == "GET" && request.body.empty()) {
        curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
    } else {
        if (!request.body.empty() || request.method == "POST") {
            curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                             static_cast<curl_off_t>(request.body.size()));
            curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body.data());
        }
        if (request.method != "POST") {
            curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request.method.c_str());
        }
    }

    CURLcode code = run_transfer();

    if (code == CURLE_OK && on_line != nullptr && transfer.sink == Transfer::Sink::lines &&
        !transfer.buffer.empty()) {
        std::string last = std::move(transfer.buffer);
        transfer.buffer.clear();
        if (!(*on_line)(last)) {
            transfer.line_refused = true;
            code = CURLE_WRITE_ERROR;
        }
    }
    if (code != CURLE_OK || transfer.line_refused) {
        Failure failure = describe_failure(code, transfer, request, *url);
        failure.elapsed = since(start);
        return tl::make_unexpected(std::move(failure));
    }

    Response response;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
    char* content_type = nullptr;
    curl_easy_getinfo(handle, CURLINFO_CONTENT_TYPE, &content_type);
    if (content_type != nullptr) {
        response.content_type = content_type;
    }
    if (transfer.sink == Transfer::Sink::body) {
        response.body = std::move(transfer.buffer);
    }
    response.elapsed = since(start);
    return response;
}

Client::Client() : m_impl(std::make_unique<Impl>()) {
    init_curl_once();
    m_impl->easy.reset(curl_easy_init());
    m_impl->multi.reset(curl_multi_init());
    if (!m_impl->easy || !m_impl->multi) {
        throw std::runtime_error("cannot initialise libcurl");
    }
}

Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::set_abort_check(std::function<bool()> should_abort) {
    m_impl->should_abort = std::move(should_abort);
}

Result Client::send(const Request& request) {
    return m_impl->perform(request, nullptr);
}

Result Client::send(const Request& request, const RetryPolicy& policy) {
    auto start = Clock::now();
    auto deadline = start + policy.deadline;
    Milliseconds backoff = policy.initial_backoff;
    int attempts = 0;
    Request attempt = request;

    auto finish = [&](Result result) {
        if (result) {
            result->attempts = attempts;
            result->elapsed = since(start);
        } else {
            result.error().attempts = attempts;
            result.error().elapsed = since(start);
            if (attempts > 1) {
                result.error().message += fmt::format(" (after {} attempts)", attempts);
            }
        }
        return result;
    };

    for (;;) {
        auto left = std::chrono::duration_cast<Milliseconds>(deadline - Clock::now());
        // the call as a whole must end by the deadline, so no attempt may outlive it
        attempt.timeouts.total = std::max(std::min(request.timeouts.total, left), Milliseconds(1));
        ++attempts;
        Result result = m_impl->perform(attempt, nullptr);
        if (!is_retryable(result) || attempts >= policy.max_attempts) {
            return finish(std::move(result));
        }
        auto wake_at = Clock::now() + backoff;
        if (deadline - wake_at < k_min_attempt_time) {
            return finish(std::move(result));
        }
        while (Clock::now() < wake_at) {
            if (m_impl->abort_requested()) {
                return finish(tl::make_unexpected(
                    make_failure(FailureKind::aborted, "aborted while waiting to retry")));
            }
            auto nap = std::min<Clock::duration>(k_slice, wake_at - Clock::now());
            std::this_thread::sleep_for(nap);
        }
        backoff = std::min(backoff * 2, policy.max_backoff);
    }
}

Result Client::stream_lines(const Request& request,
                            const std::function<bool(std::string_view line)>& on_line) {
    return m_impl->perform(request, &on_line);
}

std::string join_url(std::string_view base, std::string_view path) {
    while (!base.empty() && base.back() == '/') {
        base.remove_suffix(1);
    }
    while (!path.empty() && path.front() == '/') {
        path.remove_prefix(1);
    }
    if (path.empty()) {
        return std::string(base);
    }
    std::string url;
    url.reserve(base.size() + 1 + path.size());
    url.append(base);
    url += '/';
    url.append(path);
    return url;
}

std::string redact_url(std::string_view url) {
    std::string shown(url);
    std::size_t scheme_end = shown.find("://");
    if (scheme_end == std::string::npos) {
        return shown;
    }
    std::size_t authority = scheme_end + 3;
    std::size_t authority_end = shown.find_first_of("/?#", authority);
    std::size_t at = shown.rfind('@', authority_end);
    if (at != std::string::npos && at >= authority) {
        std::size_t colon = shown.find(':', authority);
        if (colon != std::string::npos && colon < at) {
            shown.replace(colon + 1, at - colon - 1, "***");
        }
    }
    return shown;
}

bool is_cleartext_to_remote(std::string_view url) {
    auto parsed = check_url(std::string(url));
    if (!parsed || parsed->scheme != "http") {
        return false;
    }
    const std::string& host = parsed->host;
    bool loopback = host == "localhost" || host == "::1" || host == "[::1]" ||
                    host.rfind("127.", 0) == 0 || host.rfind("localhost.", 0) == 0;
    return !loopback;
}

}  // namespace eye::http
