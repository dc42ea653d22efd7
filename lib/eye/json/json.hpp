#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <tl/expected.hpp>

// Small helpers over RapidJSON: a writer for building output and a checked parser for input.
namespace eye::json {

class Writer {
public:
    Writer() : m_writer(m_buffer) {}

    void begin_object() { m_writer.StartObject(); }
    void end_object() { m_writer.EndObject(); }
    void begin_array() { m_writer.StartArray(); }
    void end_array() { m_writer.EndArray(); }
    void key(std::string_view name) {
        m_writer.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    }

    void value(std::string_view text) {
        m_writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    }
    void value(const char* text) { value(std::string_view(text)); }
    void value(const std::string& text) { value(std::string_view(text)); }
    void value(bool flag) { m_writer.Bool(flag); }
    void value(int number) { m_writer.Int(number); }
    void value(long number) { m_writer.Int64(number); }
    void value(long long number) { m_writer.Int64(number); }
    void value(unsigned number) { m_writer.Uint(number); }
    void value(unsigned long number) { m_writer.Uint64(number); }
    void value(unsigned long long number) { m_writer.Uint64(number); }
    void value(double number);
    void null() { m_writer.Null(); }
    // Inserts text that is already valid JSON.
    void raw(std::string_view json_text) {
        m_writer.RawValue(json_text.data(), json_text.size(), rapidjson::kObjectType);
    }

    template <typename T>
    void field(std::string_view name, const T& v) {
        key(name);
        value(v);
    }
    template <typename T>
    void field(std::string_view name, const std::optional<T>& v) {
        key(name);
        if (v) {
            value(*v);
        } else {
            null();
        }
    }
    void null_field(std::string_view name) {
        key(name);
        null();
    }
    void raw_field(std::string_view name, std::string_view json_text) {
        key(name);
        raw(json_text);
    }

    std::string take() { return std::string(m_buffer.GetString(), m_buffer.GetSize()); }
    // What has been written so far, valid until the next write or clear().
    std::string_view view() const { return {m_buffer.GetString(), m_buffer.GetSize()}; }
    // Starts a new document, keeping the buffer's memory (one writer for a million rows).
    void clear() {
        m_buffer.Clear();
        m_writer.Reset(m_buffer);
    }

private:
    rapidjson::StringBuffer m_buffer;
    rapidjson::Writer<rapidjson::StringBuffer> m_writer;
};

// How deep parse() lets arrays and objects nest. What eye reads from services is a few levels
// deep; a document nested deeper is refused rather than followed.
constexpr int k_max_depth = 64;

// Parses a whole document without recursion (RapidJSON's iterative parser), refusing one nested
// deeper than k_max_depth, so a hostile body such as 8 MB of "[[[[" is an error, not a stack
// overflow. The error says where and why ("at offset 12: invalid value", "at offset 64: nested
// deeper than 64 levels").
tl::expected<rapidjson::Document, std::string> parse(std::string_view text);

// Whether a parse() error is the depth limit rather than text that is not JSON.
bool is_too_deep(std::string_view error);

// Typed member access that treats a missing member and one of the wrong type alike.
const rapidjson::Value* member(const rapidjson::Value& object, const char* name);
std::optional<std::string> get_string(const rapidjson::Value& object, const char* name);
std::optional<bool> get_bool(const rapidjson::Value& object, const char* name);
std::optional<double> get_number(const rapidjson::Value& object, const char* name);
std::optional<std::int64_t> get_int(const rapidjson::Value& object, const char* name);

// Serialises a value (or a whole document) back to compact text.
std::string to_string(const rapidjson::Value& value);

// A JSON string literal with quotes: "a\"b".
std::string quote(std::string_view text);

}  // namespace eye::json
