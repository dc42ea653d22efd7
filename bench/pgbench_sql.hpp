#pragma once

#include <cctype>
#include <map>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

// Turning the SQL eye prepares into a pgbench script: the same statement, its parameters
// replaced by pgbench variables.
namespace eye::bench {

// $n in `sql` replaced by what `values` says for n (a pgbench :variable or a literal).
inline std::string substitute(const std::string& sql, const std::map<int, std::string>& values) {
    std::string out;
    for (std::size_t i = 0; i < sql.size(); ++i) {
        if (sql[i] == '$' && i + 1 < sql.size() &&
            std::isdigit(static_cast<unsigned char>(sql[i + 1]))) {
            std::size_t end = i + 1;
            while (end < sql.size() && std::isdigit(static_cast<unsigned char>(sql[end]))) {
                ++end;
            }
            int n = std::stoi(sql.substr(i + 1, end - i - 1));
            auto it = values.find(n);
            if (it == values.end()) {
                throw std::runtime_error(fmt::format("no value for ${} in: {}", n, sql));
            }
            out += it->second;
            i = end - 1;
            continue;
        }
        out += sql[i];
    }
    return out;
}

}  // namespace eye::bench
