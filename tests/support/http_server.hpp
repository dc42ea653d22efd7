#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "eye/core/units.hpp"

// A small HTTP/1.1 server on 127.0.0.1 for tests and fakes. Each connection is served on its own
// thread (so a handler that hangs holds up only its own client) and kept alive between requests
// as HTTP/1.1 clients expect. Request bodies must carry a Content-Length (curl always sends one).
namespace eye::testing {

struct Request {
    std::string method;
    std::string path;                            // without the query string
    std::string query;                           // what follows '?', without it
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;

    // The value of a header (name in any case), or "" when it was not sent.
    std::string header(std::string_view name) const;
};

struct Reply {
    int status = 200;
    std::string content_type = "application/json";  // no Content-Type header when empty
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // sent in addition
    // When not empty the body is ignored and these are sent one by one with
    // Transfer-Encoding: chunked, chunk_delay apart (empty strings are skipped).
    std::vector<std::string> chunks;
    Milliseconds chunk_delay{0};
    Milliseconds delay{0};             // wait this long before answering
    bool hang = false;                 // never answer; the connection ends when the server stops
    bool close_without_reply = false;  // close the connection instead of answering
    // Called on the connection's thread once the whole reply has been written (not when the
    // client went away first), for fakes whose state changes when an answer is complete.
    std::function<void()> after_sent;
};

Reply json_reply(int status, std::string body);
Reply text_reply(int status, std::string content_type, std::string body);

// Called on the connection's thread, so concurrently for concurrent clients.
using Handler = std::function<Reply(const Request&)>;

class HttpServer {
public:
    // Listens on 127.0.0.1:port (0 picks a free port). Throws std::runtime_error when it cannot.
    explicit HttpServer(Handler handler, int port = 0);
    // Stops promptly, also with handlers that hang or clients that stall: every wait inside the
    // server watches a stop pipe and open connections are shut down.
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    int port() const { return m_port; }
    // "http://127.0.0.1:PORT", without a trailing slash.
    std::string url() const;

    // How many requests were received and handed to the handler.
    int requests_served() const;
    // Copies of those requests, in the order they arrived.
    std::vector<Request> requests() const;

    // How many connections were accepted (fewer than requests when clients keep them alive).
    int connections_accepted() const;

    void set_handler(Handler handler);

private:
    struct Connection {
        std::thread thread;
        std::atomic<bool> done{false};
    };

    void accept_loop();
    void serve(int fd, Connection& connection);
    bool answer(int fd, const Request& request, const Reply& reply, bool keep_alive);
    // Waits until fd is readable (true) or the server stops (false).
    bool wait_readable(int fd) const;
    // Sleeps, returning true early when the server stops.
    bool stop_during(Milliseconds duration) const;

    int m_listen_fd = -1;
    int m_stop_pipe[2] = {-1, -1};
    int m_port = 0;
    std::thread m_acceptor;

    mutable std::mutex m_mutex;
    Handler m_handler;
    std::vector<Request> m_requests;
    std::list<Connection> m_connections;
    std::vector<int> m_open_fds;
    int m_connections_accepted = 0;
};

// A port on 127.0.0.1 that was free a moment ago and has nothing listening on it: connecting
// to it is refused.
int closed_port();

}  // namespace eye::testing
