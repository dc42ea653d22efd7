#include "eye/json/json.hpp"

#include <cmath>

#include <rapidjson/error/en.h>

namespace eye::json {

void Writer::value(double number) {
    if (std::isfinite(number)) {
        m_writer.Double(number);
    } else {
        m_writer.Null();
    }
}

tl::expected<rapidjson::Document, std::string> parse(std::string_view text) {
    rapidjson::Document document;
    document.Parse(text.data(), text.size());
    if (document.HasParseError()) {
        return tl::make_unexpected(std::string("at offset ") +
                                   std::to_string(document.GetErrorOffset()) + ": " +
                                   rapidjson::GetParseError_En(document.GetParseError()));
    }
    return document;
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
