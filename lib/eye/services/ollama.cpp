#include "eye/services/ollama.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "eye/json/json.hpp"

namespace eye::services {
namespace {

std::string_view trim(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return text;
}

std::string model_body(std::string_view model, bool with_stream) {
    json::Writer writer;
    writer.begin_object();
    writer.field("model", model);
    if (with_stream) {
        writer.field("stream", true);
    }
    writer.end_object();
    return writer.take();
}

// Follows the progress lines of one pull and remembers how it ended.
class PullFollower {
public:
    PullFollower(std::string call, const PullProgress& on_progress)
        : m_call(std::move(call)), m_on_progress(on_progress) {}

    bool on_line(std::string_view line) {
        if (trim(line).empty()) {
            return true;
        }
        auto document = json::parse(line);
        if (!document || !document->IsObject()) {
            m_error = bad_response(
                m_call,
                fmt::format("progress line is not JSON (starts with '{}')", body_excerpt(line)));
            return false;
        }
        if (const auto* error = json::member(*document, "error")) {
            ServiceError failure;
            failure.kind = ServiceError::Kind::http_status;
            failure.http_status = 200;
            std::string detail = error_detail(line);
            failure.message =
                fmt::format("{}: {}", m_call, detail.empty() ? json::to_string(*error) : detail);
            m_error = std::move(failure);
            return false;
        }
        std::string status = json::get_string(*document, "status").value_or("");
        if (!status.empty()) {
            m_last_status = status;
        }
        if (m_on_progress) {
            m_on_progress(status, json::get_int(*document, "completed").value_or(0),
                          json::get_int(*document, "total").value_or(0));
        }
        if (status == "success") {
            m_succeeded = true;
        }
        return true;
    }

    const std::optional<ServiceError>& error() const { return m_error; }
    bool succeeded() const { return m_succeeded; }
    const std::string& last_status() const { return m_last_status; }

private:
    std::string m_call;
    const PullProgress& m_on_progress;
    std::optional<ServiceError> m_error;
    std::string m_last_status;
    bool m_succeeded = false;
};

}  // namespace

OllamaClient::OllamaClient(std::string base_url, http::Timeouts timeouts, http::RetryPolicy retry)
    : m_base_url(std::move(base_url)), m_timeouts(timeouts), m_retry(retry) {}

void OllamaClient::set_abort_check(std::function<bool()> should_abort) {
    m_client.set_abort_check(std::move(should_abort));
}

http::Request OllamaClient::request(std::string method, std::string_view path,
                                    std::string body) const {
    http::Request request;
    request.method = std::move(method);
    request.url = http::join_url(m_base_url, path);
    request.timeouts = m_timeouts;
    if (!body.empty()) {
        request.headers.emplace_back("Content-Type", "application/json");
        request.body = std::move(body);
    }
    return request;
}

ServiceResult<std::string> OllamaClient::version() {
    auto version_request = request("GET", "/api/version");
    auto document = call_json(m_client, version_request, m_retry);
    if (!document) {
        return tl::make_unexpected(std::move(document.error()));
    }
    auto version = json::get_string(*document, "version");
    if (!version) {
        return tl::make_unexpected(
            bad_response(describe_call(version_request.method, version_request.url),
                         "no string 'version' in the answer"));
    }
    return std::move(*version);
}

ServiceResult<std::vector<std::string>> OllamaClient::tags() {
    auto tags_request = request("GET", "/api/tags");
    auto document = call_json(m_client, tags_request, m_retry);
    if (!document) {
        return tl::make_unexpected(std::move(document.error()));
    }
    const auto* models = json::member(*document, "models");
    if (models == nullptr || !models->IsArray()) {
        return tl::make_unexpected(
            bad_response(describe_call(tags_request.method, tags_request.url),
                         "no array 'models' in the answer"));
    }
    std::vector<std::string> names;
    for (const auto& model : models->GetArray()) {
        // "name" is the documented field; newer servers repeat it as "model"
        auto name = json::get_string(model, "name");
        if (!name) {
            name = json::get_string(model, "model");
        }
        if (name && !name->empty()) {
            names.push_back(std::move(*name));
        }
    }
    return names;
}

ServiceResult<void> OllamaClient::pull(std::string_view model, const PullProgress& on_progress,
                                       Milliseconds deadline) {
    std::string name = normalize_model_name(model);
    auto pull_request = request("POST", "/api/pull", model_body(name, true));
    // curl reads a zero timeout as "none"; an exhausted budget must still end the pull
    Milliseconds budget = std::max(deadline, Milliseconds(1));
    pull_request.timeouts.total = budget;
    pull_request.timeouts.connect = std::min(m_timeouts.connect, budget);
    std::string call =
        fmt::format("{} (model '{}')", describe_call(pull_request.method, pull_request.url), name);

    PullFollower follower(call, on_progress);
    auto result = m_client.stream_lines(
        pull_request, [&follower](std::string_view line) { return follower.on_line(line); });
    if (follower.error()) {
        return tl::make_unexpected(*follower.error());
    }
    if (!result) {
        return tl::make_unexpected(failure_error(call, result.error()));
    }
    if (!result->ok()) {
        return tl::make_unexpected(status_error(call, *result));
    }
    if (!follower.succeeded()) {
        return tl::make_unexpected(bad_response(
            call, follower.last_status().empty()
                      ? std::string("the progress stream ended without 'success'")
                      : fmt::format("the progress stream ended without 'success' (last: '{}')",
                                    follower.last_status())));
    }
    return {};
}

ServiceResult<std::vector<std::string>> OllamaClient::show(std::string_view model) {
    auto show_request =
        request("POST", "/api/show", model_body(normalize_model_name(model), false));
    auto document = call_json(m_client, show_request, m_retry);
    if (!document) {
        return tl::make_unexpected(std::move(document.error()));
    }
    std::vector<std::string> capabilities;
    const auto* listed = json::member(*document, "capabilities");
    if (listed == nullptr || listed->IsNull()) {
        return capabilities;
    }
    if (!listed->IsArray()) {
        return tl::make_unexpected(
            bad_response(describe_call(show_request.method, show_request.url),
                         "'capabilities' is not an array"));
    }
    for (const auto& capability : listed->GetArray()) {
        if (capability.IsString()) {
            capabilities.emplace_back(capability.GetString(), capability.GetStringLength());
        }
    }
    return capabilities;
}

ServiceResult<GenerateResponse> OllamaClient::generate(const GenerateRequest& generate) {
    json::Writer body;
    body.begin_object();
    body.field("model", generate.model);
    body.field("prompt", generate.prompt);
    body.key("images");
    body.begin_array();
    for (const auto& image : generate.images) {
        body.value(image);
    }
    body.end_array();
    body.field("stream", false);
    if (!generate.format_json.empty()) {
        body.raw_field("format", generate.format_json);
    }
    if (generate.temperature) {
        body.key("options");
        body.begin_object();
        body.field("temperature", *generate.temperature);
        body.end_object();
    }
    body.end_object();

    auto generate_request = request("POST", "/api/generate", body.take());
    std::string call = describe_call(generate_request.method, generate_request.url);
    auto document = call_json(m_client, generate_request, m_retry);
    if (!document) {
        return tl::make_unexpected(std::move(document.error()));
    }
    auto text = json::get_string(*document, "response");
    if (!text) {
        return tl::make_unexpected(bad_response(call, "no string 'response' in the answer"));
    }
    if (!json::get_bool(*document, "done").value_or(false)) {
        return tl::make_unexpected(bad_response(call, "the answer is not 'done'"));
    }
    GenerateResponse response;
    response.model = json::get_string(*document, "model").value_or(generate.model);
    response.response = std::move(*text);
    response.done_reason = json::get_string(*document, "done_reason").value_or("");
    response.total_duration_ns = json::get_int(*document, "total_duration").value_or(0);
    response.eval_count = json::get_int(*document, "eval_count").value_or(0);
    return response;
}

ServiceResult<std::vector<float>> OllamaClient::embed(std::string_view model,
                                                      std::string_view input) {
    json::Writer body;
    body.begin_object();
    body.field("model", model);
    body.field("input", input);
    body.end_object();

    auto embed_request = request("POST", "/api/embed", body.take());
    std::string call = describe_call(embed_request.method, embed_request.url);
    auto document = call_json(m_client, embed_request, m_retry);
    if (!document) {
        return tl::make_unexpected(std::move(document.error()));
    }
    const auto* embeddings = json::member(*document, "embeddings");
    if (embeddings == nullptr || !embeddings->IsArray() || embeddings->Empty() ||
        !(*embeddings)[0].IsArray() || (*embeddings)[0].Empty()) {
        return tl::make_unexpected(
            bad_response(call, "no non-empty array 'embeddings'[0] in the answer"));
    }
    const auto& first = (*embeddings)[0];
    std::vector<float> values;
    values.reserve(first.Size());
    for (rapidjson::SizeType i = 0; i < first.Size(); ++i) {
        if (!first[i].IsNumber()) {
            return tl::make_unexpected(
                bad_response(call, fmt::format("'embeddings'[0][{}] is not a number", i)));
        }
        // a double such as 1e39 is finite, but not as the float a vector column holds
        auto value = static_cast<float>(first[i].GetDouble());
        if (!std::isfinite(value)) {
            return tl::make_unexpected(bad_response(
                call, fmt::format("'embeddings'[0][{}] is not a finite 32-bit float", i)));
        }
        values.push_back(value);
    }
    return values;
}

std::string normalize_model_name(std::string_view name) {
    name = trim(name);
    if (name.empty()) {
        return {};
    }
    // a colon before the last slash belongs to a registry's port, not to the tag
    std::size_t last_slash = name.rfind('/');
    std::size_t tag_colon = name.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
    std::string normalized(name);
    if (tag_colon == std::string_view::npos) {
        normalized += ":latest";
    } else if (tag_colon + 1 == name.size()) {
        normalized += "latest";
    }
    return normalized;
}

bool has_model(const std::vector<std::string>& installed, std::string_view wanted) {
    std::string target = normalize_model_name(wanted);
    if (target.empty()) {
        return false;
    }
    return std::any_of(installed.begin(), installed.end(), [&target](const std::string& name) {
        return normalize_model_name(name) == target;
    });
}

}  // namespace eye::services
