#pragma once

#include <map>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

// Database connection strings: libpq URLs (postgresql://user:pw@host:5432/db?opt=v) and key=value
// strings, parsed by libpq itself so eye accepts exactly what psql accepts.
namespace eye::db {

class ConnInfo {
public:
    // Parses a URL or key=value string. An empty string means "libpq's defaults" (PG* variables).
    // The error is libpq's own reason, one line, with any password removed.
    static tl::expected<ConnInfo, std::string> parse(std::string_view text);

    // Returns a key=value string with `key` set to `value`, overriding any given value.
    ConnInfo with(std::string key, std::string value) const;
    // Like with(), but only when the string does not set `key` (nor a PG* variable does).
    ConnInfo with_default(std::string key, std::string value, const char* env_name) const;
    // Appends "-c name=value" to the `options` parameter.
    ConnInfo with_server_setting(std::string_view name, std::string_view value) const;

    // The key=value string to hand to libpq.
    std::string to_string() const;

    // "user@host:port/dbname" for logs and messages, with what libpq would default filled in;
    // never the password.
    std::string describe() const;

    std::string password() const;

private:
    std::map<std::string, std::string> m_values;
};

}  // namespace eye::db
