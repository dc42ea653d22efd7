#include "support/http_server.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <optional>
#include <poll.h>
#include <stdexcept>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

namespace eye::testing {
namespace {

constexpr std::size_t k_max_head_bytes = 64 * 1024;

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 204:
            return "No Content";
        case 301:
            return "Moved Permanently";
        case 302:
            return "Found";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 413:
            return "Payload Too Large";
        case 422:
            return "Unprocessable Entity";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        default:
            return "Status";
    }
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t sent = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
}

struct Head {
    Request request;
    bool http10 = false;
    std::size_t content_length = 0;
    bool chunked_body = false;
};

std::optional<Head> parse_head(std::string_view head) {
    std::size_t line_end = head.find("\r\n");
    std::string_view request_line = head.substr(0, line_end);
    std::size_t first_space = request_line.find(' ');
    std::size_t second_space = request_line.find(' ', first_space + 1);
    if (first_space == std::string_view::npos || second_space == std::string_view::npos) {
        return std::nullopt;
    }
    Head parsed;
    parsed.request.method = std::string(request_line.substr(0, first_space));
    std::string_view target = request_line.substr(first_space + 1, second_space - first_space - 1);
    parsed.http10 = request_line.substr(second_space + 1) == "HTTP/1.0";
    std::size_t question = target.find('?');
    parsed.request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) {
        parsed.request.query = std::string(target.substr(question + 1));
    }

    std::string_view rest =
        line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 2);
    while (!rest.empty()) {
        std::size_t end = rest.find("\r\n");
        std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        parsed.request.headers[lowercase(trim(line.substr(0, colon)))] =
            std::string(trim(line.substr(colon + 1)));
    }
    std::string length = parsed.request.header("content-length");
    if (!length.empty()) {
        char* end = nullptr;
        parsed.content_length = std::strtoul(length.c_str(), &end, 10);
        if (*end != '\0') {
            return std::nullopt;
        }
    }
    parsed.chunked_body = lowercase(parsed.request.header("transfer-encoding")) == "chunked";
    return parsed;
}

}  // namespace

std::string Request::header(std::string_view name) const {
    auto it = headers.find(lowercase(name));
    return it == headers.end() ? std::string() : it->second;
}

Reply json_reply(int status, std::string body) {
    Reply reply;
    reply.status = status;
    reply.body = std::move(body);
    return reply;
}

Reply text_reply(int status, std::string content_type, std::string body) {
    Reply reply;
    reply.status = status;
    reply.content_type = std::move(content_type);
    reply.body = std::move(body);
    return reply;
}

HttpServer::HttpServer(Handler handler, int port) : m_handler(std::move(handler)) {
    if (pipe2(m_stop_pipe, O_CLOEXEC) != 0) {
        throw std::runtime_error(fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    }
    m_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int enable = 1;
    setsockopt(m_listen_fd, SOL_SOCKET, SO_REUSEADDR, &enable, sizeof enable);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (m_listen_fd < 0 ||
        bind(m_listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(m_listen_fd, 128) != 0) {
        int error = errno;
        for (int fd : {m_listen_fd, m_stop_pipe[0], m_stop_pipe[1]}) {
            if (fd >= 0) {
                close(fd);
            }
        }
        throw std::runtime_error(
            fmt::format("cannot listen on 127.0.0.1:{}: {}", port, std::strerror(error)));
    }
    socklen_t length = sizeof address;
    getsockname(m_listen_fd, reinterpret_cast<sockaddr*>(&address), &length);
    m_port = ntohs(address.sin_port);
    m_acceptor = std::thread([this] { accept_loop(); });
}

HttpServer::~HttpServer() {
    // the byte is never read, so the pipe stays readable for every poll that watches it
    char byte = 1;
    [[maybe_unused]] ssize_t written = write(m_stop_pipe[1], &byte, 1);
    m_acceptor.join();
    std::list<Connection> connections;
    {
        std::lock_guard lock(m_mutex);
        for (int fd : m_open_fds) {
            shutdown(fd, SHUT_RDWR);
        }
        connections.swap(m_connections);
    }
    for (auto& connection : connections) {
        connection.thread.join();
    }
    close(m_listen_fd);
    close(m_stop_pipe[0]);
    close(m_stop_pipe[1]);
}

std::string HttpServer::url() const {
    return fmt::format("http://127.0.0.1:{}", m_port);
}

int HttpServer::requests_served() const {
    std::lock_guard lock(m_mutex);
    return static_cast<int>(m_requests.size());
}

std::vector<Request> HttpServer::requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
}

int HttpServer::connections_accepted() const {
    std::lock_guard lock(m_mutex);
    return m_connections_accepted;
}

void HttpServer::set_handler(Handler handler) {
    std::lock_guard lock(m_mutex);
    m_handler = std::move(handler);
}

bool HttpServer::wait_readable(int fd) const {
    pollfd fds[2] = {{fd, POLLIN, 0}, {m_stop_pipe[0], POLLIN, 0}};
    for (;;) {
        int ready = poll(fds, 2, -1);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready < 0 || fds[1].revents != 0) {
            return false;
        }
        return true;
    }
}

bool HttpServer::stop_during(Milliseconds duration) const {
    pollfd stop{m_stop_pipe[0], POLLIN, 0};
    auto until = std::chrono::steady_clock::now() + duration;
    for (;;) {
        auto left =
            std::chrono::duration_cast<Milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        if (poll(&stop, 1, static_cast<int>(left.count())) > 0) {
            return true;
        }
    }
}

void HttpServer::accept_loop() {
    pollfd fds[2] = {{m_listen_fd, POLLIN, 0}, {m_stop_pipe[0], POLLIN, 0}};
    for (;;) {
        int ready = poll(fds, 2, -1);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready < 0 || fds[1].revents != 0) {
            return;
        }
        int fd = accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        std::lock_guard lock(m_mutex);
        // a long-running fake sees many short connections; join the finished ones as we go
        for (auto it = m_connections.begin(); it != m_connections.end();) {
            if (it->done) {
                it->thread.join();
                it = m_connections.erase(it);
            } else {
                ++it;
            }
        }
        m_open_fds.push_back(fd);
        ++m_connections_accepted;
        Connection& connection = m_connections.emplace_back();
        connection.thread = std::thread([this, fd, &connection] { serve(fd, connection); });
    }
}

void HttpServer::serve(int fd, Connection& connection) {
    std::string buffer;
    for (;;) {
        std::size_t head_end = buffer.find("\r\n\r\n");
        while (head_end == std::string::npos && buffer.size() <= k_max_head_bytes) {
            char chunk[16 * 1024];
            if (!wait_readable(fd)) {
                break;
            }
            ssize_t got = recv(fd, chunk, sizeof chunk, 0);
            if (got <= 0) {
                break;
            }
            buffer.append(chunk, static_cast<std::size_t>(got));
            head_end = buffer.find("\r\n\r\n");
        }
        if (head_end == std::string::npos) {
            break;
        }
        auto head = parse_head(std::string_view(buffer).substr(0, head_end));
        if (!head || head->chunked_body) {
            break;
        }
        if (lowercase(head->request.header("expect")) == "100-continue" &&
            !send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n")) {
            break;
        }
        std::size_t body_start = head_end + 4;
        bool complete = true;
        while (buffer.size() < body_start + head->content_length) {
            char chunk[64 * 1024];
            ssize_t got = 0;
            if (!wait_readable(fd) || (got = recv(fd, chunk, sizeof chunk, 0)) <= 0) {
                complete = false;
                break;
            }
            buffer.append(chunk, static_cast<std::size_t>(got));
        }
        if (!complete) {
            break;
        }
        Request request = std::move(head->request);
        request.body = buffer.substr(body_start, head->content_length);
        buffer.erase(0, body_start + head->content_length);

        Handler handler;
        {
            std::lock_guard lock(m_mutex);
            m_requests.push_back(request);
            handler = m_handler;
        }
        Reply reply = handler ? handler(request) : json_reply(404, R"({"error":"no handler"})");
        bool keep_alive = !head->http10 && lowercase(request.header("connection")) != "close";
        if (!answer(fd, request, reply, keep_alive) || !keep_alive) {
            break;
        }
    }
    {
        std::lock_guard lock(m_mutex);
        m_open_fds.erase(std::find(m_open_fds.begin(), m_open_fds.end(), fd));
        close(fd);
    }
    connection.done = true;
}

bool HttpServer::answer(int fd, const Request& request, const Reply& reply, bool keep_alive) {
    if (reply.delay.count() > 0 && stop_during(reply.delay)) {
        return false;
    }
    if (reply.hang) {
        pollfd stop{m_stop_pipe[0], POLLIN, 0};
        while (poll(&stop, 1, -1) <= 0) {
        }
        return false;
    }
    if (reply.close_without_reply) {
        return false;
    }
    bool chunked = !reply.chunks.empty();
    std::string head = fmt::format("HTTP/1.1 {} {}\r\n", reply.status, reason_phrase(reply.status));
    if (!reply.content_type.empty()) {
        head += fmt::format("Content-Type: {}\r\n", reply.content_type);
    }
    for (const auto& [name, value] : reply.headers) {
        head += fmt::format("{}: {}\r\n", name, value);
    }
    if (chunked) {
        head += "Transfer-Encoding: chunked\r\n";
    } else {
        head += fmt::format("Content-Length: {}\r\n", reply.body.size());
    }
    head += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";

    auto sent = [&reply] {
        if (reply.after_sent) {
            reply.after_sent();
        }
        return true;
    };
    if (!chunked) {
        if (request.method != "HEAD") {
            head += reply.body;
        }
        return send_all(fd, head) && sent();
    }
    if (!send_all(fd, head)) {
        return false;
    }
    bool first = true;
    for (const auto& chunk : reply.chunks) {
        if (chunk.empty()) {
            continue;
        }
        if (!first && reply.chunk_delay.count() > 0 && stop_during(reply.chunk_delay)) {
            return false;
        }
        first = false;
        if (!send_all(fd, fmt::format("{:x}\r\n{}\r\n", chunk.size(), chunk))) {
            return false;
        }
    }
    return send_all(fd, "0\r\n\r\n") && sent();
}

int closed_port() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw std::runtime_error(fmt::format("cannot bind a port: {}", std::strerror(errno)));
    }
    close(fd);
    return ntohs(address.sin_port);
}

}  // namespace eye::testing
