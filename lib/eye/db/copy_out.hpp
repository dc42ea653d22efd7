#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/stream_from>

#include "eye/db/session.hpp"

// Rows streamed out of PostgreSQL with COPY (...) TO STDOUT, as psql's \copy reads them: the
// server sends rows while the client works on the ones before, with no round trip per batch.
// For results too large to hold at once (an export of a million rows).
namespace eye::db {

class CopyOut {
public:
    // COPY (query) TO STDOUT inside tx. COPY takes no parameters: `query` must be eye's own
    // text, with any value in it formatted by eye (a validated number), never outside input.
    CopyOut(Transaction& tx, std::string what, const std::string& query);
    // Cancels the COPY when it ends before the last row.
    ~CopyOut();
    CopyOut(const CopyOut&) = delete;
    CopyOut& operator=(const CopyOut&) = delete;

    // The next row's fields (nullopt for NULL), valid until the next call; false after the
    // last row.
    bool next(std::vector<std::optional<std::string_view>>& fields);
    // Asks the server to stop sending (the rest of the rows are dropped): for a stop request.
    void cancel();

private:
    Transaction& m_tx;
    std::string m_what;
    pqxx::stream_from m_stream;
    std::string m_line;
    std::vector<std::string> m_unescaped;  // per field, when it held an escape
    bool m_done = false;                   // the last row was read
};

// Splits one line of COPY's text format into fields: tab-separated, \N for NULL, backslash
// escapes (\\ \t \n \r \b \f \v and octal \NNN) undone. `unescaped` holds the fields that
// needed it.
void split_copy_line(std::string_view line, std::vector<std::optional<std::string_view>>& fields,
                     std::vector<std::string>& unescaped);

}  // namespace eye::db
