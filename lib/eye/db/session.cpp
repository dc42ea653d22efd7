#include "eye/db/session.hpp"

#include <cstdlib>
#include <poll.h>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/db/conninfo.hpp"
#include "eye/log/log.hpp"

namespace eye::db {
namespace {

const char* const k_hint_migrate = "run 'eye db:migrate' against this database";

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

std::string first_line(std::string text) {
    if (auto at = text.find('\n'); at != std::string::npos) {
        text.resize(at);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) {
        text.pop_back();
    }
    if (text.rfind("FATAL:  ", 0) == 0 || text.rfind("ERROR:  ", 0) == 0) {
        text.erase(0, 8);
    }
    return text;
}

// libpq reports connection failures as text only; these are the ones that retrying will not fix
bool is_configuration_failure(std::string_view reason) {
    return contains(reason, "password authentication failed") ||
           contains(reason, "no pg_hba.conf entry") || contains(reason, "does not exist") ||
           contains(reason, "invalid value for parameter") ||
           contains(reason, "no password supplied") ||
           contains(reason, "invalid connection option") || contains(reason, "permission denied") ||
           contains(reason, "unrecognized configuration parameter") ||
           reason.rfind("invalid ", 0) == 0;  // libpq's checks of option values
}

// libpqxx 6.4 leaves sqlstate() empty on some of the exceptions it chooses by the SQLSTATE (a
// permission error among them); the exception's type still tells which condition it was.
std::string sqlstate_of(const pqxx::sql_error& e) {
    std::string state = e.sqlstate();
    if (!state.empty()) {
        return state;
    }
    if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) {
        return "42501";
    }
    if (dynamic_cast<const pqxx::undefined_table*>(&e) != nullptr) {
        return "42P01";
    }
    if (dynamic_cast<const pqxx::undefined_column*>(&e) != nullptr) {
        return "42703";
    }
    if (dynamic_cast<const pqxx::undefined_function*>(&e) != nullptr) {
        return "42883";
    }
    if (dynamic_cast<const pqxx::integrity_constraint_violation*>(&e) != nullptr) {
        return "23000";
    }
    if (dynamic_cast<const pqxx::data_exception*>(&e) != nullptr) {
        return "22000";
    }
    if (dynamic_cast<const pqxx::insufficient_resources*>(&e) != nullptr) {
        return "53000";
    }
    return state;
}

}  // namespace

Session Session::connect(const ConnectOptions& options) {
    auto parsed = ConnInfo::parse(options.url);
    if (!parsed) {
        throw ConfigError(fmt::format("invalid database URL: {}", log::redact(parsed.error())),
                          "set EYE_DATABASE_URL to a URL such as "
                          "postgresql://user@host:5432/dbname");
    }
    auto connect_seconds = std::max<long long>(
        1, std::chrono::duration_cast<std::chrono::seconds>(options.connect_timeout).count());
    ConnInfo info =
        parsed->with("application_name", options.application_name.substr(0, 63))
            .with_default("connect_timeout", std::to_string(connect_seconds), "PGCONNECT_TIMEOUT")
            .with_server_setting("TimeZone", options.time_zone)
            .with_server_setting("statement_timeout",
                                 std::to_string(options.statement_timeout.count()));
    log::add_secret(info.password());

    Session session;
    session.m_description = parsed->describe();

    try {
        session.m_connection = std::make_unique<pqxx::connection>(info.to_string());
    } catch (const std::exception& e) {
        std::string reason = first_line(e.what());
        std::string message =
            options.url.empty()
                // nothing named a database: say so, not "cannot connect to '@localhost:5432/'"
                ? fmt::format(
                      "no database URL is set (EYE_DATABASE_URL, EYE_DATABASE_URL_FILE "
                      "and DATABASE_URL are all empty), and libpq's defaults ('{}') do "
                      "not connect: {}",
                      session.m_description, reason)
                : fmt::format("cannot connect to the database '{}': {}", session.m_description,
                              reason);
        if (contains(reason, "TimeZone")) {
            throw ConfigError(fmt::format("the database rejected the time zone '{}': {}",
                                          options.time_zone, reason),
                              "set EYE_DB_TIMEZONE to a zone name such as UTC or Europe/Berlin");
        }
        if (options.url.empty() && std::getenv("PGHOST") == nullptr &&
            std::getenv("PGDATABASE") == nullptr && std::getenv("PGSERVICE") == nullptr) {
            throw ConfigError(message,
                              "set EYE_DATABASE_URL to a URL such as "
                              "postgresql://user@host:5432/dbname");
        }
        if (is_configuration_failure(reason)) {
            throw ConfigError(message,
                              "check the user, password, host and database name in "
                              "EYE_DATABASE_URL");
        }
        throw TempFailError(message, "is PostgreSQL running? check EYE_DATABASE_URL");
    }
    // a silent reconnect would drop our session-level advisory lock without telling anyone
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    session.m_connection->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    return session;
}

Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

int Session::backend_pid() const {
    return m_connection ? m_connection->backendpid() : 0;
}

void Session::prepare(const Statement& statement) {
    if (m_prepared.insert(statement.name).second) {
        m_connection->prepare(statement.name, statement.sql);
    }
}

int Session::wait_for_notification(Milliseconds timeout) {
    int received = m_connection->get_notifs();
    if (received > 0 || stop::requested()) {
        return received;
    }
    pollfd fds[2] = {{m_connection->sock(), POLLIN, 0}, {stop::wake_fd(), POLLIN, 0}};
    int ready = poll(fds, 2, static_cast<int>(timeout.count()));
    if (ready > 0 && (fds[0].revents & POLLIN) != 0) {
        try {
            return m_connection->get_notifs();
        } catch (...) {
            rethrow_database_error("waiting for notifications");
        }
    }
    return 0;
}

std::string to_param_text(TimePoint value) {
    return format_utc_micros(value);
}

Param to_param(double value) {
    return fmt::format("{}", value);
}

Param to_param(Milliseconds value) {
    return fmt::format("{} milliseconds", value.count());
}

Param to_param(const std::vector<std::int64_t>& values) {
    return fmt::format("{{{}}}", fmt::join(values, ","));
}

Param to_param(const std::vector<std::string>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            out += ',';
        }
        out += '"';
        for (char c : values[i]) {
            if (c == '"' || c == '\\') {
                out += '\\';
            }
            out += c;
        }
        out += '"';
    }
    out += '}';
    return out;
}

Transaction::Transaction(Session& session, Mode mode) : m_session(session) {
    try {
        if (mode == Mode::transaction) {
            m_transaction = std::make_unique<pqxx::work>(session.connection());
        } else {
            m_transaction = std::make_unique<pqxx::nontransaction>(session.connection());
        }
    } catch (...) {
        rethrow_database_error("starting a transaction");
    }
}

Transaction::~Transaction() {
    if (!m_done && m_transaction) {
        try {
            m_transaction->abort();
        } catch (...) {  // NOLINT(bugprone-empty-catch): the connection may already be gone
        }
    }
}

pqxx::result Transaction::execute_prepared(const Statement& statement,
                                           const std::vector<Param>& params) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& param : params) {
        values.push_back(param ? param->c_str() : nullptr);
    }
    try {
        m_session.prepare(statement);
        return m_transaction->exec_prepared(statement.name,
                                            pqxx::prepare::make_dynamic_params(values));
    } catch (...) {
        rethrow_database_error(fmt::format("statement '{}'", statement.name));
    }
}

pqxx::row Transaction::one_impl(const Statement& statement, const std::vector<Param>& params) {
    auto result = execute_prepared(statement, params);
    if (result.size() != 1) {
        throw Error(ExitCode::software,
                    fmt::format("statement '{}' returned {} rows where exactly one was expected",
                                statement.name, result.size()));
    }
    return result[0];
}

std::optional<pqxx::row> Transaction::at_most_one_impl(const Statement& statement,
                                                       const std::vector<Param>& params) {
    auto result = execute_prepared(statement, params);
    if (result.size() > 1) {
        throw Error(ExitCode::software,
                    fmt::format("statement '{}' returned {} rows where at most one was expected",
                                statement.name, result.size()));
    }
    if (result.empty()) {
        return std::nullopt;
    }
    return result[0];
}

std::size_t Transaction::none_impl(const Statement& statement, const std::vector<Param>& params) {
    auto result = execute_prepared(statement, params);
    if (!result.empty()) {
        throw Error(ExitCode::software,
                    fmt::format("statement '{}' returned {} rows where none were expected",
                                statement.name, result.size()));
    }
    return result.affected_rows();
}

pqxx::result Transaction::run_sql(std::string_view what, const std::string& sql) {
    try {
        return m_transaction->exec(sql);
    } catch (...) {
        rethrow_database_error(what);
    }
}

std::optional<std::string> Transaction::try_sql(const std::string& sql) {
    auto* outer = dynamic_cast<pqxx::dbtransaction*>(m_transaction.get());
    if (outer == nullptr) {
        throw Error(ExitCode::software, "try_sql needs a transaction, not autocommit");
    }
    try {
        pqxx::subtransaction savepoint(*outer, "eye_try");
        savepoint.exec(sql);
        savepoint.commit();
        return std::nullopt;
    } catch (const pqxx::sql_error& e) {
        return first_line(e.what());
    } catch (...) {
        rethrow_database_error("a statement in a savepoint");
    }
}

void Transaction::commit() {
    try {
        m_transaction->commit();
        m_done = true;
    } catch (...) {
        m_done = true;
        rethrow_database_error("commit");
    }
}

void rethrow_database_error(std::string_view what) {
    try {
        throw;
    } catch (const pqxx::broken_connection& e) {
        throw TempFailError(
            fmt::format("lost the database connection during {}: {}", what, first_line(e.what())),
            "the database may be restarting; the run can be retried");
    } catch (const pqxx::in_doubt_error& e) {
        throw TempFailError(fmt::format("commit of {} is in doubt: {}", what, first_line(e.what())),
                            "the connection broke during commit; check the data and retry");
    } catch (const pqxx::transaction_rollback& e) {
        // a serialization failure or a deadlock (libpqxx does not count them as sql_error)
        throw TempFailError(fmt::format("{} was rolled back: {}", what, first_line(e.what())),
                            "a temporary database condition; retry later");
    } catch (const pqxx::sql_error& e) {
        const std::string state = sqlstate_of(e);
        std::string message = fmt::format("{} failed: {}", what, first_line(e.what()));
        auto has_class = [&](std::string_view prefix) { return state.rfind(prefix, 0) == 0; };
        if (state == "57014") {
            throw TempFailError(fmt::format("{} was cancelled: {}", what, first_line(e.what())),
                                "a statement timeout fired; the database may be overloaded");
        }
        if (has_class("22") || has_class("23")) {
            // the database refused the data (a value too long or out of range, a foreign key,
            // a check, a unique value)
            throw DataError(message, "the data does not fit the table's columns or constraints");
        }
        if (has_class("08") || has_class("53") || has_class("57P") || state == "40001" ||
            state == "40P01" || state == "55P03") {
            throw TempFailError(message, "a temporary database condition; retry later");
        }
        if (state == "42P01" || state == "42703" || state == "3F000" || state == "42883") {
            throw ConfigError(message, k_hint_migrate);
        }
        if (state == "42501") {
            throw ConfigError(message,
                              "grant the database user the privileges eye needs (scripts/grant "
                              "in eye's source does)");
        }
        throw Error(ExitCode::software, message);
    } catch (const pqxx::usage_error& e) {
        throw Error(ExitCode::software, fmt::format("{}: {}", what, first_line(e.what())));
    }
}

}  // namespace eye::db
