#include "eye/core/base64.hpp"

#include <algorithm>
#include <openssl/evp.h>

namespace eye {

std::string base64_encode(std::string_view bytes) {
    // EVP_EncodeBlock takes an int length and writes a NUL after its output: encode in pieces
    // of whole 3-byte groups (only the last one can need padding, so they simply concatenate)
    // into a buffer with room for the last NUL
    constexpr std::size_t k_piece = 3 * 1024 * 1024;
    std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
    std::size_t written = 0;
    for (std::size_t at = 0; at < bytes.size(); at += k_piece) {
        const std::size_t size = std::min(k_piece, bytes.size() - at);
        written += static_cast<std::size_t>(EVP_EncodeBlock(
            reinterpret_cast<unsigned char*>(out.data() + written),
            reinterpret_cast<const unsigned char*>(bytes.data() + at), static_cast<int>(size)));
    }
    out.resize(written);
    return out;
}

}  // namespace eye
