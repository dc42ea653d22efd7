#pragma once

#include <string>

namespace eye {

// This machine's host name as gethostname() gives it, or "unknown".
std::string host_name();

}  // namespace eye
