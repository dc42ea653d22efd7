#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace eye::testing {

// The test's own decoder, written independently of the encoder under test. Throws on text that
// is not padded standard base64.
inline std::string base64_decode(const std::string& text) {
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    auto require = [&text](bool condition) {
        if (!condition) {
            throw std::runtime_error("not padded standard base64: " + text.substr(0, 80));
        }
    };
    require(text.size() % 4 == 0);
    std::string out;
    for (std::size_t i = 0; i < text.size(); i += 4) {
        std::uint32_t group = 0;
        int padding = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            char c = text[i + j];
            std::uint32_t value = 0;
            if (c == '=') {
                require(i + 4 == text.size());
                ++padding;
            } else {
                require(padding == 0);
                auto at = alphabet.find(c);
                require(at != std::string::npos);
                value = static_cast<std::uint32_t>(at);
            }
            group = group * 64 + value;
        }
        out += static_cast<char>(group >> 16);
        if (padding < 2) {
            out += static_cast<char>((group >> 8) & 0xff);
        }
        if (padding < 1) {
            out += static_cast<char>(group & 0xff);
        }
    }
    return out;
}

}  // namespace eye::testing
