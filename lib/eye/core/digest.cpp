#include "eye/core/digest.hpp"

#include <openssl/evp.h>
#include <stdexcept>

namespace eye {

struct Sha256::Context {
    struct Free {
        void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
    };
    std::unique_ptr<EVP_MD_CTX, Free> handle{EVP_MD_CTX_new()};
};

Sha256::Sha256() : m_context(std::make_unique<Context>()) {
    // failing here means libcrypto itself is broken (out of memory, a FIPS provider refusing
    // SHA-256); nothing eye does can continue without hashes
    if (!m_context->handle ||
        EVP_DigestInit_ex(m_context->handle.get(), EVP_sha256(), nullptr) != 1) {
        throw std::runtime_error("libcrypto cannot start a SHA-256 digest");
    }
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::string_view bytes) {
    if (EVP_DigestUpdate(m_context->handle.get(), bytes.data(), bytes.size()) != 1) {
        throw std::runtime_error("libcrypto failed to update a SHA-256 digest");
    }
}

std::string Sha256::finish_hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(m_context->handle.get(), digest, &length) != 1) {
        throw std::runtime_error("libcrypto failed to finish a SHA-256 digest");
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) {
        hex += k_hex[digest[i] >> 4];
        hex += k_hex[digest[i] & 0x0f];
    }
    return hex;
}

std::string sha256_hex(std::string_view bytes) {
    Sha256 hasher;
    hasher.update(bytes);
    return hasher.finish_hex();
}

}  // namespace eye
