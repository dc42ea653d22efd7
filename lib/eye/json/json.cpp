#include "eye/json/json.hpp"

#include <cmath>

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

namespace eye::json {

void Writer::value(double number) {
    if (std::isfinite(number)) {
        m_writer.Double(number);
    } else {
        m_writer.Null();
    }
}

namespace {

constexpr std::string_view k_too_deep = "nested deeper than";

// Passes every SAX event on to the document being built, and stops the parse once arrays and
// objects nest deeper than k_max_depth.
class DepthLimit {
public:
    explicit DepthLimit(rapidjson::Document& document) : m_document(document) {}

    bool too_deep() const { return m_too_deep; }

    bool Null() { return m_document.Null(); }
    bool Bool(bool value) { return m_document.Bool(value); }
    bool Int(int value) { return m_document.Int(value); }
    bool Uint(unsigned value) { return m_document.Uint(value); }
    bool Int64(std::int64_t value) { return m_document.Int64(value); }
    bool Uint64(std::uint64_t value) { return m_document.Uint64(value); }
    bool Double(double value) { return m_document.Double(value); }
    bool RawNumber(const char* text, rapidjson::SizeType length, bool copy) {
        return m_document.RawNumber(text, length, copy);
    }
    bool String(const char* text, rapidjson::SizeType length, bool copy) {
        return m_document.String(text, length, copy);
    }
    bool Key(const char* text, rapidjson::SizeType length, bool copy) {
        return m_document.Key(text, length, copy);
    }
    bool StartObject() { return enter() && m_document.StartObject(); }
    bool EndObject(rapidjson::SizeType members) {
        --m_depth;
        return m_document.EndObject(members);
    }
    bool StartArray() { return enter() && m_document.StartArray(); }
    bool EndArray(rapidjson::SizeType elements) {
        --m_depth;
        return m_document.EndArray(elements);
    }

private:
    bool enter() {
        if (++m_depth > k_max_depth) {
            m_too_deep = true;
            return false;
        }
        return true;
    }

    rapidjson::Document& m_document;
    int m_depth = 0;
    bool m_too_deep = false;
};

}  // namespace

tl::expected<rapidjson::Document, std::string> parse(std::string_view text) {
    rapidjson::Document document;
    rapidjson::ParseResult result;
    bool too_deep = false;
    // Populate hands the document to the generator as the handler and, when the generator
    // succeeds, takes the parsed root as the document's value
    auto generate = [&](rapidjson::Document& handler) {
        DepthLimit limited(handler);
        rapidjson::MemoryStream bytes(text.data(), text.size());
        rapidjson::Reader reader;
        result = reader.Parse<rapidjson::kParseIterativeFlag>(bytes, limited);
        too_deep = limited.too_deep();
        return !result.IsError();
    };
    document.Populate(generate);
    if (too_deep) {
        return tl::make_unexpected(
            fmt::format("at offset {}: {} {} levels", result.Offset(), k_too_deep, k_max_depth));
    }
    if (result.IsError()) {
        return tl::make_unexpected(fmt::format("at offset {}: {}", result.Offset(),
                                               rapidjson::GetParseError_En(result.Code())));
    }
    return document;
}

bool is_too_deep(std::string_view error) {
    return error.find(k_too_deep) != std::string_view::npos;
}

const rapidjson::Value* member(const rapidjson::Value& object, const char* name) {
    if (!object.IsObject()) {
        return nullptr;
    }
    auto it = object.FindMember(name);
    if (it == object.MemberEnd()) {
        return nullptr;
    }
    return &it->value;
}

std::optional<std::string> get_string(const rapidjson::Value& object, const char* name) {
    const auto* v = member(object, name);
    if (v == nullptr || !v->IsString()) {
        return std::nullopt;
    }
    return std::string(v->GetString(), v->GetStringLength());
}

std::optional<bool> get_bool(const rapidjson::Value& object, const char* name) {
    const auto* v = member(object, name);
    if (v == nullptr || !v->IsBool()) {
        return std::nullopt;
    }
    return v->GetBool();
}

std::optional<double> get_number(const rapidjson::Value& object, const char* name) {
    const auto* v = member(object, name);
    if (v == nullptr || !v->IsNumber()) {
        return std::nullopt;
    }
    return v->GetDouble();
}

std::optional<std::int64_t> get_int(const rapidjson::Value& object, const char* name) {
    const auto* v = member(object, name);
    if (v == nullptr || !v->IsInt64()) {
        return std::nullopt;
    }
    return v->GetInt64();
}

std::string to_string(const rapidjson::Value& value) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
    value.Accept(writer);
    return std::string(buffer.GetString(), buffer.GetSize());
}

std::string quote(std::string_view text) {
    Writer w;
    w.value(text);
    return w.take();
}

}  // namespace eye::json
