#pragma once

#include <string>

#include "eye/runner/command.hpp"

// eye serve: the status page (/), the same data as JSON (/api/status), Prometheus metrics
// (/metrics) and a probe (/healthz), over cpp-httplib. Read-only: one database session in
// read-only mode, one snapshot per refresh interval however many clients ask. On an address
// other than loopback every path but /healthz needs EYE_SERVE_TOKEN (a bearer header, or the
// login form's cookie).
namespace eye::tasks {

struct ServeOptions {
    std::string listen = "127.0.0.1:8090";
    Milliseconds refresh{5'000};
    std::string token;  // --serve-token, EYE_SERVE_TOKEN
};

void add_serve_options(CLI::App& app, Config& config, ServeOptions& options);
// A --listen that is no host:port is a usage error (64); a non-loopback one without a token a
// configuration error (78).
void validate_serve(const Config& config, const ServeOptions& options);
Outcome run_serve(Context& context, const ServeOptions& options);

}  // namespace eye::tasks
