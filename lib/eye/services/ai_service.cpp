#include "eye/services/ai_service.hpp"

#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::services {
namespace {

constexpr std::string_view k_malformed = ": malformed answer: ";

const char* type_name(const rapidjson::Value& value) {
    switch (value.GetType()) {
        case rapidjson::kNullType:
            return "null";
        case rapidjson::kFalseType:
        case rapidjson::kTrueType:
            return "a boolean";
        case rapidjson::kObjectType:
            return "an object";
        case rapidjson::kArrayType:
            return "an array";
        case rapidjson::kStringType:
            return "a string";
        case rapidjson::kNumberType:
            return "a number";
    }
    return "a value";
}

// Thrown inside the reader only; analyze_image turns it into a bad_response.
struct Malformed {
    std::string reason;
};

[[noreturn]] void wrong_type(std::string_view field, const rapidjson::Value& value,
                             std::string_view expected) {
    throw Malformed{fmt::format("'{}' is {}, expected {}", field, type_name(value), expected)};
}

// The member, or nullptr when it is missing or null: the contract lets the service leave out or
// null any field it did not compute.
const rapidjson::Value* present(const rapidjson::Value& answer, const char* field) {
    const auto* value = json::member(answer, field);
    return value == nullptr || value->IsNull() ? nullptr : value;
}

std::optional<std::string> read_string(const rapidjson::Value& answer, const char* field) {
    const auto* value = present(answer, field);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (!value->IsString()) {
        wrong_type(field, *value, "a string");
    }
    return std::string(value->GetString(), value->GetStringLength());
}

// A float that a vector column can hold: a double such as 1e39 is finite but not as a float.
float read_float(const rapidjson::Value& value, std::string_view where) {
    if (!value.IsNumber()) {
        wrong_type(where, value, "a number");
    }
    double number = value.GetDouble();
    auto narrowed = static_cast<float>(number);
    if (!std::isfinite(narrowed)) {
        throw Malformed{fmt::format("'{}' is {}, not a finite 32-bit float", where, number)};
    }
    return narrowed;
}

// Python writes an int as 12 but a float that holds one as 12.0; both are a whole number.
int read_int(const rapidjson::Value& value, std::string_view where) {
    if (value.IsInt()) {
        return value.GetInt();
    }
    if (value.IsDouble()) {
        double number = value.GetDouble();
        if (std::isfinite(number) && number == std::floor(number) && std::abs(number) < 2e9) {
            return static_cast<int>(number);
        }
    }
    wrong_type(where, value, "an integer");
}

std::vector<float> read_floats(const rapidjson::Value& value, std::string_view where) {
    if (!value.IsArray()) {
        wrong_type(where, value, "an array of numbers");
    }
    std::vector<float> numbers;
    numbers.reserve(value.Size());
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
        numbers.push_back(read_float(value[i], fmt::format("{}[{}]", where, i)));
    }
    return numbers;
}

std::optional<std::string> read_json(const rapidjson::Value& answer, const char* field,
                                     bool (rapidjson::Value::*is_expected)() const,
                                     std::string_view expected) {
    const auto* value = present(answer, field);
    if (value == nullptr) {
        return std::nullopt;
    }
    if (is_expected != nullptr && !(value->*is_expected)()) {
        wrong_type(field, *value, expected);
    }
    return json::to_string(*value);
}

AnalyzeImageResponse read_answer(const rapidjson::Value& answer) {
    AnalyzeImageResponse response;
    response.description = read_string(answer, "description");
    response.detailed_description = read_string(answer, "detailed_description");
    if (const auto* tags = present(answer, "meta_tags")) {
        if (!tags->IsArray()) {
            wrong_type("meta_tags", *tags, "an array of strings");
        }
        for (rapidjson::SizeType i = 0; i < tags->Size(); ++i) {
            const auto& tag = (*tags)[i];
            if (!tag.IsString()) {
                wrong_type(fmt::format("meta_tags[{}]", i), tag, "a string");
            }
            response.meta_tags.emplace_back(tag.GetString(), tag.GetStringLength());
        }
    }
    if (const auto* embedding = present(answer, "embedding")) {
        response.embedding = read_floats(*embedding, "embedding");
    }
    if (const auto* faces = present(answer, "faces_detected")) {
        response.faces_detected = read_int(*faces, "faces_detected");
        if (response.faces_detected < 0) {
            throw Malformed{
                fmt::format("'faces_detected' is {}, expected 0 or more", response.faces_detected)};
        }
    }
    if (const auto* locations = present(answer, "face_locations")) {
        if (!locations->IsArray()) {
            wrong_type("face_locations", *locations, "an array of [top, right, bottom, left]");
        }
        for (rapidjson::SizeType i = 0; i < locations->Size(); ++i) {
            const auto& box = (*locations)[i];
            std::string where = fmt::format("face_locations[{}]", i);
            if (!box.IsArray() || box.Size() != 4) {
                throw Malformed{fmt::format("'{}' is not [top, right, bottom, left]", where)};
            }
            std::array<int, 4> sides{};
            for (rapidjson::SizeType side = 0; side < 4; ++side) {
                sides[side] = read_int(box[side], fmt::format("{}[{}]", where, side));
            }
            response.face_locations.push_back(sides);
        }
    }
    if (const auto* encodings = present(answer, "face_encodings")) {
        if (!encodings->IsArray()) {
            wrong_type("face_encodings", *encodings, "an array of arrays of numbers");
        }
        for (rapidjson::SizeType i = 0; i < encodings->Size(); ++i) {
            response.face_encodings.push_back(
                read_floats((*encodings)[i], fmt::format("face_encodings[{}]", i)));
        }
    }
    response.dominant_colors_json =
        read_json(answer, "dominant_colors", &rapidjson::Value::IsArray, "an array");
    response.image_quality_json =
        read_json(answer, "image_quality", &rapidjson::Value::IsObject, "an object");
    response.quality_tier = read_string(answer, "quality_tier");
    response.phash = read_string(answer, "phash");
    response.dhash = read_string(answer, "dhash");
    response.objects_detected_json = read_json(answer, "objects_detected", nullptr, {});
    response.scene_classification_json = read_json(answer, "scene_classification", nullptr, {});
    response.thumbnail_path = read_string(answer, "thumbnail_path");
    response.extracted_text = read_string(answer, "extracted_text");
    return response;
}

std::string analyze_body(const AnalyzeImageRequest& analyze) {
    json::Writer body;
    body.begin_object();
    body.field("image_path", analyze.image_path);
    body.field("detect_faces", analyze.detect_faces);
    body.field("use_ollama", analyze.use_ollama);
    for (const auto& [name, value] : {std::pair{"captioning_model", &analyze.captioning_model},
                                      std::pair{"embedding_model", &analyze.embedding_model},
                                      std::pair{"ollama_model", &analyze.ollama_model}}) {
        if (!value->empty()) {
            body.field(name, *value);
        }
    }
    body.end_object();
    return body.take();
}

}  // namespace

AiServiceClient::AiServiceClient(std::string base_url, std::string bearer_token,
                                 http::Timeouts timeouts, http::RetryPolicy retry)
    : m_base_url(std::move(base_url)),
      m_bearer_token(std::move(bearer_token)),
      m_timeouts(timeouts),
      m_retry(retry) {}

void AiServiceClient::set_abort_check(std::function<bool()> should_abort) {
    m_client.set_abort_check(std::move(should_abort));
}

http::Request AiServiceClient::request(std::string method, std::string_view path,
                                       std::string body) const {
    http::Request request;
    request.method = std::move(method);
    request.url = http::join_url(m_base_url, path);
    request.timeouts = m_timeouts;
    request.bearer_token = m_bearer_token;
    request.headers.emplace_back("Accept", "application/json");
    if (!body.empty()) {
        request.headers.emplace_back("Content-Type", "application/json");
        request.body = std::move(body);
    }
    return request;
}

ServiceResult<AiHealth> AiServiceClient::health() {
    auto health_request = request("GET", "/health");
    AiHealth health;
    auto document = call_json(m_client, health_request, m_retry, &health.latency);
    if (!document) {
        return tl::make_unexpected(std::move(document.error()));
    }
    auto status = json::get_string(*document, "status");
    if (!status) {
        return tl::make_unexpected(
            bad_response(describe_call(health_request.method, health_request.url),
                         "no string 'status' in the answer"));
    }
    health.status = std::move(*status);
    health.models_loaded = json::get_bool(*document, "models_loaded").value_or(false);
    health.device = json::get_string(*document, "device").value_or("");
    return health;
}

ServiceResult<AnalyzeImageResponse> AiServiceClient::analyze_image(
    const AnalyzeImageRequest& analyze) {
    auto analyze_request = request("POST", "/analyze-image", analyze_body(analyze));
    std::string call = describe_call(analyze_request.method, analyze_request.url);
    auto result = m_client.send(analyze_request, m_retry);
    if (!result) {
        return tl::make_unexpected(failure_error(call, result.error()));
    }
    if (!result->ok()) {
        return tl::make_unexpected(status_error(call, *result));
    }
    std::string_view body = result->body;
    std::size_t start = body.find_first_not_of(" \t\r\n");
    // Only a body that begins as JSON does is taken for the service's own answer; anything else
    // (a proxy's page, a wrong URL) is reported as not JSON at all.
    if (start == std::string_view::npos || (body[start] != '{' && body[start] != '[')) {
        auto not_json = parse_object(call, body);
        return tl::make_unexpected(not_json ? bad_response(call, "expected a JSON object")
                                            : std::move(not_json.error()));
    }
    auto malformed = [&call](std::string_view reason) {
        return tl::make_unexpected(bad_response(call, fmt::format("malformed answer: {}", reason)));
    };
    auto document = json::parse(body);
    if (!document) {
        return malformed(fmt::format("invalid JSON {}", document.error()));
    }
    if (!document->IsObject()) {
        return malformed(fmt::format("expected a JSON object, got {}", type_name(*document)));
    }
    try {
        return read_answer(*document);
    } catch (const Malformed& error) {
        return malformed(error.reason);
    }
}

bool is_malformed_answer(const ServiceError& error) {
    if (error.kind != ServiceError::Kind::bad_response) {
        return false;
    }
    // The marker follows the call directly; the same words quoted from a body that is not JSON
    // come after the quote that opens the excerpt.
    std::size_t marker = error.message.find(k_malformed);
    return marker != std::string::npos && error.message.rfind('\'', marker) == std::string::npos;
}

}  // namespace eye::services
