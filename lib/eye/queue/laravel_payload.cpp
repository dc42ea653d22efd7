#include "eye/queue/laravel_payload.hpp"

#include <charconv>

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::queue {
namespace {

constexpr int k_max_depth = 64;

// A cursor over PHP's serialize() format. Each read_* consumes exactly one token or fails.
class PhpReader {
public:
    explicit PhpReader(std::string_view text) : m_text(text) {}

    bool at_end() const { return m_at == m_text.size(); }
    std::size_t position() const { return m_at; }
    char peek() const { return m_at < m_text.size() ? m_text[m_at] : '\0'; }

    bool expect(char c) {
        if (peek() != c) {
            return false;
        }
        ++m_at;
        return true;
    }

    // Digits (with an optional '-') up to `end`, which is consumed.
    bool read_integer(char end, std::int64_t& value) {
        const char* first = m_text.data() + m_at;
        const char* last = m_text.data() + m_text.size();
        auto [ptr, error] = std::from_chars(first, last, value);
        if (error != std::errc() || ptr == last || *ptr != end) {
            return false;
        }
        m_at = static_cast<std::size_t>(ptr - m_text.data()) + 1;
        return true;
    }

    // LEN:"bytes" (LEN counts bytes); the caller consumed the type letter and its colon.
    bool read_counted_string(std::string_view& value) {
        std::int64_t length = 0;
        if (!read_integer(':', length) || length < 0 || !expect('"') ||
            static_cast<std::uint64_t>(length) > m_text.size() - m_at) {
            return false;
        }
        value = m_text.substr(m_at, static_cast<std::size_t>(length));
        m_at += static_cast<std::size_t>(length);
        return expect('"');
    }

    // Skips one whole value of any type.
    bool skip_value(int depth) {
        if (depth > k_max_depth || m_at + 2 > m_text.size()) {
            return false;
        }
        const char type = m_text[m_at];
        if (type == 'N') {
            ++m_at;
            return expect(';');
        }
        m_at += 1;
        if (!expect(':')) {
            return false;
        }
        std::int64_t number = 0;
        std::string_view text;
        switch (type) {
            case 'b':
            case 'i':
            case 'r':
            case 'R':
                return read_integer(';', number);
            case 'd': {  // 1.5, -0.25, INF, NAN, 1.0E+25
                const auto end = m_text.find(';', m_at);
                if (end == std::string_view::npos) {
                    return false;
                }
                m_at = end + 1;
                return true;
            }
            case 's':
            case 'E':
                return read_counted_string(text) && expect(';');
            case 'a':
                return read_integer(':', number) && skip_members(number, depth);
            case 'O':
                return read_counted_string(text) && expect(':') && read_integer(':', number) &&
                       skip_members(number, depth);
            case 'C':  // Serializable: LEN:"class":LEN:{data}
                if (!read_counted_string(text) || !expect(':') || !read_integer(':', number) ||
                    !expect('{') || number < 0 ||
                    static_cast<std::uint64_t>(number) > m_text.size() - m_at) {
                    return false;
                }
                m_at += static_cast<std::size_t>(number);
                return expect('}');
            default:
                return false;
        }
    }

    // {key value ...} with `count` pairs.
    bool skip_members(std::int64_t count, int depth) {
        if (count < 0 || !expect('{')) {
            return false;
        }
        for (std::int64_t i = 0; i < count; ++i) {
            if (!skip_value(depth + 1) || !skip_value(depth + 1)) {
                return false;
            }
        }
        return expect('}');
    }

private:
    std::string_view m_text;
    std::size_t m_at = 0;
};

}  // namespace

tl::expected<std::int64_t, std::string> php_object_int(std::string_view serialized,
                                                       std::string_view name) {
    PhpReader reader(serialized);
    std::string_view class_name;
    std::int64_t count = 0;
    if (!reader.expect('O') || !reader.expect(':') || !reader.read_counted_string(class_name) ||
        !reader.expect(':') || !reader.read_integer(':', count) || count < 0 ||
        !reader.expect('{')) {
        return tl::make_unexpected(std::string("the command is not a serialized PHP object"));
    }
    std::optional<std::int64_t> found;
    for (std::int64_t i = 0; i < count; ++i) {
        std::string_view key;
        if (!reader.expect('s') || !reader.expect(':') || !reader.read_counted_string(key) ||
            !reader.expect(';')) {
            return tl::make_unexpected(
                fmt::format("malformed property name at byte {}", reader.position()));
        }
        std::int64_t value = 0;
        if (key == name && reader.peek() == 'i') {
            reader.expect('i');
            if (!reader.expect(':') || !reader.read_integer(';', value)) {
                return tl::make_unexpected(
                    fmt::format("malformed integer '{}' at byte {}", key, reader.position()));
            }
            found = value;
        } else if (!reader.skip_value(1)) {
            return tl::make_unexpected(
                fmt::format("malformed value of '{}' at byte {}", key, reader.position()));
        }
    }
    if (!reader.expect('}') || !reader.at_end()) {
        return tl::make_unexpected(std::string("the serialized object does not end where it says"));
    }
    if (!found) {
        return tl::make_unexpected(fmt::format("the command has no integer '{}'", name));
    }
    return *found;
}

tl::expected<std::int64_t, std::string> image_analysis_id(std::string_view payload) {
    auto document = json::parse(payload);
    if (!document) {
        return tl::make_unexpected("the payload is not JSON: " + document.error());
    }
    const auto* display_name =
        document->IsObject() ? json::member(*document, "displayName") : nullptr;
    const auto* data = document->IsObject() ? json::member(*document, "data") : nullptr;
    if (display_name == nullptr || !display_name->IsString() || data == nullptr ||
        !data->IsObject()) {
        return tl::make_unexpected(std::string("not a Laravel job payload"));
    }
    const std::string_view job(display_name->GetString(), display_name->GetStringLength());
    if (job != k_image_analysis_job) {
        return tl::make_unexpected(fmt::format("a {} job", job));
    }
    const auto* command = json::member(*data, "command");
    if (command == nullptr || !command->IsString()) {
        return tl::make_unexpected(std::string("the payload has no data.command"));
    }
    const std::string_view text(command->GetString(), command->GetStringLength());
    if (text.rfind("O:", 0) != 0) {
        // ShouldBeEncrypted jobs carry the command encrypted with the application's key
        return tl::make_unexpected(std::string("the command is encrypted or not serialized PHP"));
    }
    auto id = php_object_int(text, "imageFileId");
    if (id && *id <= 0) {
        return tl::make_unexpected(fmt::format("imageFileId {} is not an id", *id));
    }
    return id;
}

}  // namespace eye::queue
