#include "eye/db/conninfo.hpp"

#include <cstdlib>
#include <libpq-fe.h>
#include <memory>

#include <fmt/format.h>

namespace eye::db {
namespace {

struct ConninfoOptionsDeleter {
    void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using ConninfoOptions = std::unique_ptr<PQconninfoOption, ConninfoOptionsDeleter>;

struct PqFreeDeleter {
    void operator()(char* text) const { PQfreemem(text); }
};

std::string quote_value(const std::string& value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\'' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    out += '\'';
    return out;
}

std::string value_or_env(const std::map<std::string, std::string>& values, const char* key,
                         const char* env_name, const char* fallback) {
    if (auto it = values.find(key); it != values.end() && !it->second.empty()) {
        return it->second;
    }
    if (const char* env = std::getenv(env_name); env != nullptr && *env != '\0') {
        return env;
    }
    return fallback;
}

}  // namespace

tl::expected<ConnInfo, std::string> ConnInfo::parse(std::string_view text) {
    std::string input(text);
    char* raw_error = nullptr;
    ConninfoOptions options(PQconninfoParse(input.c_str(), &raw_error));
    std::unique_ptr<char, PqFreeDeleter> error(raw_error);
    if (!options) {
        std::string reason = error ? error.get() : "out of memory";
        while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) {
            reason.pop_back();
        }
        return tl::make_unexpected(reason);
    }
    ConnInfo info;
    for (const PQconninfoOption* option = options.get(); option->keyword != nullptr; ++option) {
        if (option->val != nullptr) {
            info.m_values[option->keyword] = option->val;
        }
    }
    // libpq checks numbers only when it connects; a URL that can never work is refused now
    for (const char* key : {"port", "connect_timeout"}) {
        auto it = info.m_values.find(key);
        if (it == info.m_values.end()) {
            continue;
        }
        std::string_view rest = it->second;
        while (true) {
            auto comma = rest.find(',');
            std::string_view part = rest.substr(0, comma);
            bool digits = !part.empty() && part.size() <= 5 &&
                          part.find_first_not_of("0123456789") == std::string_view::npos;
            if (!part.empty() && (!digits || (std::string(key) == "port" &&
                                              (std::stoi(std::string(part)) < 1 ||
                                               std::stoi(std::string(part)) > 65535)))) {
                return tl::make_unexpected(fmt::format("invalid {} '{}'", key, std::string(part)));
            }
            if (comma == std::string_view::npos) {
                break;
            }
            rest.remove_prefix(comma + 1);
        }
    }
    return info;
}

ConnInfo ConnInfo::with(std::string key, std::string value) const {
    ConnInfo copy = *this;
    copy.m_values[std::move(key)] = std::move(value);
    return copy;
}

ConnInfo ConnInfo::with_default(std::string key, std::string value, const char* env_name) const {
    if (m_values.count(key) != 0) {
        return *this;
    }
    if (const char* env = std::getenv(env_name); env != nullptr && *env != '\0') {
        return *this;
    }
    return with(std::move(key), std::move(value));
}

ConnInfo ConnInfo::with_server_setting(std::string_view name, std::string_view value) const {
    std::string options;
    if (auto it = m_values.find("options"); it != m_values.end()) {
        options = it->second + " ";
    } else if (const char* env = std::getenv("PGOPTIONS"); env != nullptr) {
        options = std::string(env) + " ";
    }
    // inside `options`, spaces and backslashes in a value must be escaped with a backslash
    std::string escaped;
    for (char c : value) {
        if (c == ' ' || c == '\\') {
            escaped += '\\';
        }
        escaped += c;
    }
    options += fmt::format("-c {}={}", name, escaped);
    return with("options", options);
}

std::string ConnInfo::to_string() const {
    std::string out;
    for (const auto& [key, value] : m_values) {
        if (!out.empty()) {
            out += ' ';
        }
        out += key + "=" + quote_value(value);
    }
    return out;
}

std::string ConnInfo::describe() const {
    std::string user = value_or_env(m_values, "user", "PGUSER", "");
    if (user.empty()) {
        if (const char* login = std::getenv("USER"); login != nullptr) {
            user = login;
        }
    }
    std::string host = value_or_env(m_values, "host", "PGHOST", "");
    if (host.empty()) {
        host = value_or_env(m_values, "hostaddr", "PGHOSTADDR", "localhost");
    }
    std::string port = value_or_env(m_values, "port", "PGPORT", "5432");
    std::string dbname = value_or_env(m_values, "dbname", "PGDATABASE", user.c_str());
    return fmt::format("{}@{}:{}/{}", user, host, port, dbname);
}

std::string ConnInfo::password() const {
    auto it = m_values.find("password");
    return it == m_values.end() ? std::string() : it->second;
}

}  // namespace eye::db
