#include "eye/tasks/serve/serve.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <filesystem>
#include <httplib.h>
#include <mutex>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <optional>
#include <sys/socket.h>
#include <thread>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/digest.hpp"
#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/log/log.hpp"
#include "eye/runner/run_record.hpp"
#include "eye/tasks/serve/page.hpp"
#include "eye/tasks/serve/snapshot.hpp"

namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;

struct Address {
    std::string host;
    int port = 0;
};

// "127.0.0.1:8090", "[::1]:8090", "0.0.0.0:80"
std::optional<Address> parse_listen(const std::string& text) {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
        return std::nullopt;
    }
    Address address;
    address.host = text.substr(0, colon);
    if (address.host.size() > 2 && address.host.front() == '[' && address.host.back() == ']') {
        address.host = address.host.substr(1, address.host.size() - 2);
    }
    const std::string port = text.substr(colon + 1);
    if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) {
        return std::nullopt;
    }
    address.port = std::stoi(port);
    if (address.port < 1 || address.port > 65535) {
        return std::nullopt;
    }
    return address;
}

bool is_loopback(const std::string& host) {
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Equal without telling by its time how much of the secret matched.
bool same_secret(const std::string& given, const std::string& secret) {
    const std::string a = sha256_hex(given);
    const std::string b = sha256_hex(secret);
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

const char* const k_cookie = "eye_session";

// cpp-httplib 0.11 listens with a queue of 5 connections, so a burst of clients beyond that has
// its SYNs dropped and sent again a second later. Calling listen() again on the listening
// socket (found by its port among our descriptors) only sets its queue, here to the system's
// maximum. Returns whether it did.
bool widen_accept_queue(int port) {
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        const int fd = std::stoi(name);
        int listening = 0;
        socklen_t size = sizeof listening;
        sockaddr_storage address{};
        socklen_t length = sizeof address;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &size) != 0 || !listening ||
            getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            continue;
        }
        const int bound = address.ss_family == AF_INET
                              ? ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port)
                          : address.ss_family == AF_INET6
                              ? ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port)
                              : -1;
        if (bound == port) {
            return ::listen(fd, SOMAXCONN) == 0;
        }
    }
    return false;
}

// A session of eye serve's: read-only, without JIT (its statements are short: compiling them
// costs more than it saves).
db::Session connect_read_only(const Config& config) {
    db::Session session = db::Session::connect(run_record::connect_options(config, "eye serve"));
    db::Transaction tx(session, db::Transaction::Mode::autocommit);
    tx.run_sql("making the session read-only", "SET default_transaction_read_only = on");
    tx.run_sql("turning JIT off", "SET jit = off");
    return session;
}

// One database session (read-only, reconnected when lost) and the snapshot of the current
// refresh interval: any number of clients cost one query set per interval. The library's slow
// counts come from a second session, in the background (LibraryCounter).
class StatusSource {
public:
    StatusSource(Context& context, Milliseconds refresh)
        : m_context(context),
          m_refresh(refresh),
          m_library(
              context.config, [&config = context.config] { return connect_read_only(config); },
              refresh) {}

    struct Rendered {
        std::string page;
        std::string json;
        std::string metrics;
    };

    Rendered current() {
        std::lock_guard lock(m_mutex);
        if (!m_rendered || Clock::now() - m_taken >= m_refresh) {
            Snapshot snapshot = take();
            const int refresh_seconds =
                static_cast<int>(std::max<long long>(1, m_refresh.count() / 1000));
            m_rendered =
                Rendered{serve::render_page(snapshot, refresh_seconds),
                         serve::snapshot_json(snapshot), serve::snapshot_metrics(snapshot)};
            m_taken = Clock::now();
        }
        return *m_rendered;
    }

private:
    using Snapshot = serve::Snapshot;

    Snapshot take() {
        std::string connect_error;
        ExitCode connect_code = ExitCode::ok;
        if (!m_session) {
            try {
                m_session = connect_read_only(m_context.config);
            } catch (const Error& e) {
                m_session.reset();
                connect_error = e.what();
                connect_code = e.code();
            }
        }
        Context context{m_context.config,
                        m_context.out,
                        m_context.program,
                        m_context.task,
                        nullptr,
                        connect_error,
                        connect_code,
                        std::chrono::system_clock::now(),
                        false,
                        {},
                        {}};
        if (m_session) {
            context.db = &*m_session;
            try {
                db::Transaction tx(*m_session, db::Transaction::Mode::autocommit);
                context.now = from_epoch(
                    tx.run_sql("reading the time", "SELECT extract(epoch from now())")[0][0]
                        .as<double>());
            } catch (const Error& e) {
                log::warning("the database went away: {}", e.what());
                m_session.reset();
                context.db = nullptr;
                context.connect_error = e.what();
                context.connect_error_code = e.code();
            }
        }
        Snapshot snapshot = serve::take_snapshot(context);
        if (snapshot.database) {
            snapshot.library = m_library.latest();
        }
        if (m_session && !m_session->connection().is_open()) {
            m_session.reset();  // connect again at the next refresh
        }
        return snapshot;
    }

    Context& m_context;
    Milliseconds m_refresh;
    std::mutex m_mutex;
    std::optional<db::Session> m_session;
    std::optional<Rendered> m_rendered;
    Clock::time_point m_taken;
    serve::LibraryCounter m_library;  // the second session of the two
};

}  // namespace

void add_serve_options(CLI::App& app, Config& config, ServeOptions& options) {
    add_settings(app, config, SettingGroup::analysis);  // "outdated": what the worker uses now
    add_settings(app, config, SettingGroup::ai);
    add_settings(app, config, SettingGroup::ollama);
    add_settings(app, config, SettingGroup::storage);
    add_settings(app, config, SettingGroup::schedule);
    options::add_string(app, "--listen", options.listen,
                        "address and port to serve on; anything but loopback needs a token");
    options::add_duration(app, "--refresh", options.refresh,
                          "how long a snapshot is shown before the next is read (the page "
                          "reloads at this pace)",
                          Milliseconds(1000));
    options::add_string(app, "--serve-token", options.token,
                        "the token every path but /healthz asks for (bearer header or the "
                        "login form); required off loopback");
}

void validate_serve(const Config&, const ServeOptions& options) {
    auto address = parse_listen(options.listen);
    if (!address) {
        throw UsageError(fmt::format("--listen '{}' is not host:port", options.listen),
                         "for example --listen=127.0.0.1:8090 or --listen=0.0.0.0:8090");
    }
    if (!is_loopback(address->host) && options.token.empty()) {
        throw ConfigError(
            fmt::format("--listen {} is reachable from other hosts, and no token is set",
                        options.listen),
            "set EYE_SERVE_TOKEN (every path but /healthz then asks for it), or listen on "
            "127.0.0.1");
    }
}

Outcome run_serve(Context& context, const ServeOptions& options) {
    log::add_secret(options.token);
    const auto address = *parse_listen(options.listen);
    const bool guarded = !options.token.empty();
    const std::string session_value = sha256_hex("eye serve session:" + options.token);
    StatusSource source(context, options.refresh);

    httplib::Server server;
    auto allowed = [&](const httplib::Request& request) {
        if (!guarded) {
            return true;
        }
        const std::string authorization = request.get_header_value("Authorization");
        if (authorization.rfind("Bearer ", 0) == 0 &&
            same_secret(authorization.substr(7), options.token)) {
            return true;
        }
        const std::string cookies = request.get_header_value("Cookie");
        const std::string wanted = fmt::format("{}={}", k_cookie, session_value);
        return cookies.find(wanted) != std::string::npos;
    };
    auto refuse = [](httplib::Response& response, bool page) {
        response.status = 401;
        if (page) {
            response.set_content(serve::render_login(false), "text/html; charset=utf-8");
        } else {
            response.set_header("WWW-Authenticate", "Bearer");
            response.set_content("a token is needed: Authorization: Bearer <EYE_SERVE_TOKEN>\n",
                                 "text/plain; charset=utf-8");
        }
    };
    // before any route: without the token every path but /healthz and the login form's POST
    // answers 401, one that does not exist too (it tells nothing about what does)
    server.set_pre_routing_handler(
        [&](const httplib::Request& request, httplib::Response& response) {
            using Handled = httplib::Server::HandlerResponse;
            if (request.path == "/healthz" ||
                (request.path == "/login" && request.method == "POST") || allowed(request)) {
                return Handled::Unhandled;
            }
            refuse(response, request.path == "/");
            return Handled::Handled;
        });
    server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
        response.set_content("ok\n", "text/plain; charset=utf-8");
    });
    server.Get("/", [&](const httplib::Request&, httplib::Response& response) {
        response.set_content(source.current().page, "text/html; charset=utf-8");
    });
    server.Get("/api/status", [&](const httplib::Request&, httplib::Response& response) {
        response.set_content(source.current().json, "application/json");
    });
    server.Get("/metrics", [&](const httplib::Request&, httplib::Response& response) {
        response.set_content(source.current().metrics, "text/plain; version=0.0.4");
    });
    server.Post("/login", [&](const httplib::Request& request, httplib::Response& response) {
        if (!guarded || !request.has_param("token") ||
            !same_secret(request.get_param_value("token"), options.token)) {
            response.status = 401;
            response.set_content(serve::render_login(true), "text/html; charset=utf-8");
            return;
        }
        response.set_header("Set-Cookie", fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict",
                                                      k_cookie, session_value));
        response.set_redirect("/", 303);
    });
    server.set_default_headers({{"Cache-Control", "no-store"},
                                {"X-Content-Type-Options", "nosniff"},
                                {"Content-Security-Policy",
                                 "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                                 "form-action 'self'"}});

    // bounded: a fixed pool of threads, one request per connection (a client that keeps its
    // connection cannot hold a thread from the others), small bodies, short timeouts
    server.set_keep_alive_max_count(1);
    // headers and body go out in two writes: without this the body waits for the client's
    // delayed acknowledgement of the headers (about 40 ms on Linux)
    server.set_tcp_nodelay(true);
    server.set_payload_max_length(4096);
    server.set_read_timeout(5, 0);
    server.set_write_timeout(5, 0);
    if (!server.bind_to_port(address.host, address.port)) {
        throw ConfigError(fmt::format("cannot listen on {}", options.listen),
                          "is another program using the port? choose another with --listen");
    }
    if (!widen_accept_queue(address.port)) {
        log::debug("kept cpp-httplib's accept queue of 5 connections");
    }
    log::info("serving on http://{}{}", options.listen, guarded ? " (token required)" : "");
    std::thread listener([&server] { server.listen_after_bind(); });
    while (!stop::wait_for(Milliseconds(1000))) {
    }
    server.stop();
    listener.join();
    Outcome outcome;
    outcome.note = fmt::format("stopped by {}", stop::signal_name());
    return outcome;
}

}  // namespace eye::tasks
