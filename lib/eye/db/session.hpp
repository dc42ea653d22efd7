#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include <pqxx/pqxx>

#include "eye/core/time.hpp"
#include "eye/core/units.hpp"

// The one place SQL passes through. Statements are named and prepared once per session; callers
// say how many rows they expect, and a surprise is an error that names the statement. Database
// failures leave here as eye::Error with the exit code of design §4: a connection lost or a
// statement cancelled is temporary (75), a missing table or column or a missing privilege is
// configuration (78), data the table refuses (SQLSTATE classes 22 and 23) is a DataError, and
// anything else (a failing trigger, an internal error) is 70.
namespace eye::db {

struct Statement {
    const char* name;
    const char* sql;
};

struct ConnectOptions {
    std::string url;  // URL or key=value; empty = libpq's PG* defaults
    std::string application_name = "eye";
    std::string time_zone = "UTC";
    Milliseconds statement_timeout{60'000};
    Milliseconds connect_timeout{10'000};
};

class Session {
public:
    // Connects and applies the session settings (time zone, statement timeout, application
    // name) in the same handshake. Throws ConfigError for an unusable URL, a refused login or an
    // unknown time zone, TempFailError when the server cannot be reached.
    static Session connect(const ConnectOptions& options);

    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;
    ~Session();

    pqxx::connection& connection() { return *m_connection; }
    // "user@host:port/dbname", never the password.
    const std::string& description() const { return m_description; }
    int backend_pid() const;

    // Prepares the statement on this session unless it already is.
    void prepare(const Statement& statement);

    // Waits up to `timeout` for a NOTIFY on a channel this session LISTENs to, or for a stop
    // request. Returns the number of notifications received.
    int wait_for_notification(Milliseconds timeout);

private:
    Session() = default;
    std::unique_ptr<pqxx::connection> m_connection;
    std::string m_description;
    std::unordered_set<std::string> m_prepared;
};

// A query parameter as text, or NULL.
using Param = std::optional<std::string>;

std::string to_param_text(TimePoint value);
inline Param to_param(std::nullptr_t) {
    return std::nullopt;
}
inline Param to_param(const std::string& value) {
    return value;
}
inline Param to_param(std::string_view value) {
    return std::string(value);
}
inline Param to_param(const char* value) {
    return value ? Param(value) : std::nullopt;
}
inline Param to_param(bool value) {
    return value ? "true" : "false";
}
inline Param to_param(TimePoint value) {
    return to_param_text(value);
}
Param to_param(double value);
Param to_param(Milliseconds value);                       // as an interval
Param to_param(const std::vector<std::int64_t>& values);  // as a bigint[] literal
Param to_param(const std::vector<std::string>& values);   // as a text[] literal
template <typename T,
          typename = std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>>
Param to_param(T value) {
    return std::to_string(value);
}
template <typename T>
Param to_param(const std::optional<T>& value) {
    return value ? to_param(*value) : std::nullopt;
}

class Transaction {
public:
    enum class Mode { transaction, autocommit };

    explicit Transaction(Session& session, Mode mode = Mode::transaction);
    ~Transaction();  // rolls back unless committed
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;

    // Exactly one row, or an error naming the statement.
    template <typename... Args>
    pqxx::row one(const Statement& statement, const Args&... args) {
        return one_impl(statement, {to_param(args)...});
    }
    // Zero or one row.
    template <typename... Args>
    std::optional<pqxx::row> at_most_one(const Statement& statement, const Args&... args) {
        return at_most_one_impl(statement, {to_param(args)...});
    }
    // Any number of rows.
    template <typename... Args>
    pqxx::result many(const Statement& statement, const Args&... args) {
        return execute_prepared(statement, {to_param(args)...});
    }
    // A statement that returns no rows; gives the number of rows it affected.
    template <typename... Args>
    std::size_t none(const Statement& statement, const Args&... args) {
        return none_impl(statement, {to_param(args)...});
    }

    // Any number of rows, for statements whose parameter list is built at run time.
    pqxx::result many_with(const Statement& statement, const std::vector<Param>& params) {
        return execute_prepared(statement, params);
    }

    // Unprepared SQL without parameters, for schema changes and session settings.
    pqxx::result run_sql(std::string_view what, const std::string& sql);

    // Runs SQL inside a savepoint (Mode::transaction only). On an SQL error the savepoint is
    // rolled back, the transaction carries on, and the error's first line is returned.
    std::optional<std::string> try_sql(const std::string& sql);

    void commit();

    pqxx::transaction_base& raw() { return *m_transaction; }

private:
    pqxx::result execute_prepared(const Statement& statement, const std::vector<Param>& params);
    pqxx::row one_impl(const Statement& statement, const std::vector<Param>& params);
    std::optional<pqxx::row> at_most_one_impl(const Statement& statement,
                                              const std::vector<Param>& params);
    std::size_t none_impl(const Statement& statement, const std::vector<Param>& params);

    Session& m_session;
    std::unique_ptr<pqxx::transaction_base> m_transaction;
    bool m_done = false;
};

// Converts a database exception into eye::Error with the right exit code; `what` names the
// statement or action ("statement 'monitor.queue_counts'"). Rethrows anything else unchanged.
[[noreturn]] void rethrow_database_error(std::string_view what);

}  // namespace eye::db
