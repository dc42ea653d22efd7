#pragma once

#include <string>
#include <string_view>

#include "eye/tasks/serve/snapshot.hpp"

// The status page: one server-rendered HTML document with inline CSS and SVG, nothing fetched
// from elsewhere, refreshing itself. Every value from the database or a service is escaped.
namespace eye::tasks::serve {

// "&lt;script&gt;": text safe inside an element or a quoted attribute.
std::string html_escape(std::string_view text);

// The page for `snapshot`, asking the browser to load it again after `refresh_seconds`.
std::string render_page(const Snapshot& snapshot, int refresh_seconds);

// The login form for a page behind a token; `failed` after a wrong one.
std::string render_login(bool failed);

}  // namespace eye::tasks::serve
