#pragma once

#include <string>
#include <string_view>

namespace eye {

// Standard base64 (RFC 4648 section 4: "+/" and "=" padding, no line breaks), through
// libcrypto, as Ollama's "images" take it.
std::string base64_encode(std::string_view bytes);

}  // namespace eye
