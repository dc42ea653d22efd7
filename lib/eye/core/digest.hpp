#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

// SHA-256 through libcrypto (OpenSSL 3's EVP interface): file_hash, export checksums.
namespace eye {

// An incremental SHA-256, for data that arrives in pieces (a file streamed to disk).
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;

    void update(std::string_view bytes);
    // The digest as 64 lowercase hex digits. The object cannot be updated afterwards.
    std::string finish_hex();

private:
    struct Context;
    std::unique_ptr<Context> m_context;
};

// SHA-256 of `bytes` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace eye
