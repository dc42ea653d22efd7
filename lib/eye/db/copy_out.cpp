#include "eye/db/copy_out.hpp"

#include <algorithm>

#include <pqxx/pqxx>

namespace eye::db {
namespace {

std::string start_copy(const std::string& query) {
    return "(" + query + ")";
}

void unescape(std::string_view field, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < field.size(); ++i) {
        char c = field[i];
        if (c != '\\' || i + 1 == field.size()) {
            out += c;
            continue;
        }
        char e = field[++i];
        switch (e) {
            case 't':
                out += '\t';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'v':
                out += '\v';
                break;
            default:
                if (e >= '0' && e <= '7') {
                    int value = e - '0';
                    for (int digits = 1; digits < 3 && i + 1 < field.size() &&
                                         field[i + 1] >= '0' && field[i + 1] <= '7';
                         ++digits) {
                        value = value * 8 + (field[++i] - '0');
                    }
                    out += static_cast<char>(value);
                } else {
                    out += e;  // \\ and any other character stand for themselves
                }
        }
    }
}

}  // namespace

void split_copy_line(std::string_view line, std::vector<std::optional<std::string_view>>& fields,
                     std::vector<std::string>& unescaped) {
    fields.clear();
    // one buffer per field, made before any view into them is taken: growing the vector later
    // would move short strings' characters
    const auto count = static_cast<std::size_t>(std::count(line.begin(), line.end(), '\t')) + 1;
    if (unescaped.size() < count) {
        unescaped.resize(count);
    }
    std::size_t start = 0;
    while (true) {
        const std::size_t tab = line.find('\t', start);
        const std::string_view field = line.substr(
            start, tab == std::string_view::npos ? std::string_view::npos : tab - start);
        const std::size_t index = fields.size();
        if (field == "\\N") {
            fields.emplace_back(std::nullopt);
        } else if (field.find('\\') == std::string_view::npos) {
            fields.emplace_back(field);
        } else {
            unescape(field, unescaped[index]);
            fields.emplace_back(std::string_view(unescaped[index]));
        }
        if (tab == std::string_view::npos) {
            return;
        }
        start = tab + 1;
    }
}

CopyOut::CopyOut(Transaction& tx, std::string what, const std::string& query) try
    : m_tx(tx), m_what(std::move(what)), m_stream(tx.raw(), start_copy(query)) {
} catch (...) {
    rethrow_database_error(m_what);
}

CopyOut::~CopyOut() {
    if (!m_done) {
        // left before the last row (an error, a stop): without this, the stream would read
        // every remaining row before it let go
        cancel();
    }
}

bool CopyOut::next(std::vector<std::optional<std::string_view>>& fields) {
    try {
        if (!m_stream.get_raw_line(m_line)) {
            m_done = true;
            return false;
        }
    } catch (...) {
        rethrow_database_error(m_what);
    }
    std::string_view line = m_line;
    if (!line.empty() && line.back() == '\n') {
        line.remove_suffix(1);  // the row's end; a newline in a value comes escaped
    }
    split_copy_line(line, fields, m_unescaped);
    return true;
}

void CopyOut::cancel() {
    try {
        m_tx.raw().conn().cancel_query();
    } catch (const std::exception&) {
        // the stop goes on: the transaction is rolled back when it ends
    }
}

}  // namespace eye::db
