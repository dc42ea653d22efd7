#include "eye/analyzers/ollama.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/image/encode.hpp"
#include "eye/analyzers/image/format.hpp"
#include "eye/analyzers/media_file.hpp"
#include "eye/analyzers/metadata.hpp"
#include "eye/core/base64.hpp"
#include "eye/core/digest.hpp"
#include "eye/core/error.hpp"
#include "eye/json/json.hpp"
#include "eye/services/ollama.hpp"
#include "eye/services/service_error.hpp"

namespace eye::analyzers {
namespace {

using services::ServiceError;
using Clock = std::chrono::steady_clock;

constexpr Milliseconds k_max_connect_timeout{3'000};
constexpr Milliseconds k_min_attempt_timeout{240'000};
// Less than this left of the deadline after the description: the embedding could not finish.
constexpr Milliseconds k_min_embed_time{1'000};

constexpr const char* k_prompt =
    "Describe this image for a searchable photo library. Answer in JSON: \"description\" is one "
    "sentence saying what the image shows; \"detailed_description\" is a few sentences about the "
    "subjects, the setting, the colors, the mood and any readable text; \"tags\" are 5 to 15 "
    "short lowercase keywords a person would search for.";

[[noreturn]] void temporary(std::string message) {
    throw AnalysisError(AnalysisError::Kind::temporary, std::move(message));
}

[[noreturn]] void permanent(std::string message) {
    throw AnalysisError(AnalysisError::Kind::permanent, std::move(message));
}

[[noreturn]] void throw_analysis_error(const ServiceError& error, std::string_view model) {
    switch (error.kind) {
        case ServiceError::Kind::unreachable:
            throw AnalysisError(AnalysisError::Kind::unavailable,
                                fmt::format("ollama is unreachable: {}", error.message));
        case ServiceError::Kind::timeout:
            temporary(fmt::format("ollama did not answer: {}", error.message));
        case ServiceError::Kind::too_large:
            temporary(fmt::format("ollama's answer is too large: {}", error.message));
        case ServiceError::Kind::aborted:
            temporary(fmt::format("analysis stopped: {}", error.message));
        case ServiceError::Kind::bad_response:
            // Ollama's own envelope is fixed by its API; one that does not fit came from
            // something else (a proxy, another server on that port)
            temporary(
                fmt::format("ollama did not answer as Ollama does: {} (is EYE_OLLAMA_URL "
                            "an Ollama server?)",
                            error.message));
        case ServiceError::Kind::http_status:
            break;
    }
    long status = error.http_status;
    if (status == 503) {
        temporary(fmt::format("ollama is busy: {}", error.message));
    }
    if (status >= 500) {
        temporary(fmt::format("ollama failed: {}", error.message));
    }
    if (status == 404) {
        temporary(
            fmt::format("ollama has no model '{}': {} (eye-monitor --fix pulls the models "
                        "in EYE_OLLAMA_MODELS)",
                        model, error.message));
    }
    if (status == 401 || status == 403 || status == 407) {
        throw AnalysisError(
            AnalysisError::Kind::unavailable,
            fmt::format("ollama (or a proxy before it) refused eye's request: {}", error.message));
    }
    if (status == 408 || status == 429) {
        temporary(fmt::format("ollama refused the request: {}", error.message));
    }
    permanent(fmt::format("ollama refused the image: {}", error.message));
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
        text.remove_prefix(1);
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
        text.remove_suffix(1);
    }
    return text;
}

std::string lowercase_trimmed(std::string_view text) {
    std::string out(trimmed(text));
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
        return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    });
    return out;
}

struct Description {
    std::string description;
    std::optional<std::string> detailed_description;
    std::vector<std::string> tags;
};

// The model's answer read against ollama_description_schema(); the reason it does not fit, or
// nullopt.
std::optional<std::string> read_description(std::string_view answer, Description& out) {
    auto document = json::parse(answer);
    if (!document) {
        return fmt::format("not JSON (starts with '{}')", services::body_excerpt(answer));
    }
    if (!document->IsObject()) {
        return fmt::format("not a JSON object (starts with '{}')", services::body_excerpt(answer));
    }
    const auto* description = json::member(*document, "description");
    if (description == nullptr || !description->IsString()) {
        return std::string("no string 'description'");
    }
    out.description =
        trimmed(std::string_view(description->GetString(), description->GetStringLength()));
    if (out.description.empty()) {
        return std::string("'description' is empty");
    }
    if (const auto* detailed = json::member(*document, "detailed_description");
        detailed != nullptr && !detailed->IsNull()) {
        if (!detailed->IsString()) {
            return std::string("'detailed_description' is not a string");
        }
        out.detailed_description = std::string(detailed->GetString(), detailed->GetStringLength());
    }
    if (const auto* tags = json::member(*document, "tags"); tags != nullptr && !tags->IsNull()) {
        if (!tags->IsArray()) {
            return std::string("'tags' is not an array");
        }
        for (rapidjson::SizeType i = 0; i < tags->Size(); ++i) {
            if (!(*tags)[i].IsString()) {
                return fmt::format("'tags'[{}] is not a string", i);
            }
            std::string tag = lowercase_trimmed((*tags)[i].GetString());
            if (!tag.empty() &&
                std::find(out.tags.begin(), out.tags.end(), tag) == out.tags.end()) {
                out.tags.push_back(std::move(tag));
            }
        }
    }
    return std::nullopt;
}

}  // namespace

OllamaOptions ollama_options(const Config& config, int expected_embedding_length) {
    OllamaOptions options;
    options.ollama_url = config.ollama_url;
    options.vision_model = config.ollama_vision_model;
    if (options.vision_model.empty() && !config.ollama_models.empty()) {
        options.vision_model = config.ollama_models.front();
    }
    options.embed_model = config.ollama_embed_model;
    options.expected_embedding_length = expected_embedding_length;
    options.timeouts.connect = std::min(config.http_timeout, k_max_connect_timeout);
    options.timeouts.total = std::max(config.http_timeout, k_min_attempt_timeout);
    return options;
}

std::string ollama_description_schema() {
    json::Writer schema;
    schema.begin_object();
    schema.field("type", "object");
    schema.key("properties");
    schema.begin_object();
    for (const char* text : {"description", "detailed_description"}) {
        schema.key(text);
        schema.begin_object();
        schema.field("type", "string");
        schema.end_object();
    }
    schema.key("tags");
    schema.begin_object();
    schema.field("type", "array");
    schema.key("items");
    schema.begin_object();
    schema.field("type", "string");
    schema.end_object();
    schema.end_object();
    schema.end_object();
    schema.key("required");
    schema.begin_array();
    for (const char* name : {"description", "detailed_description", "tags"}) {
        schema.value(name);
    }
    schema.end_array();
    schema.end_object();
    return schema.take();
}

std::string ollama_model_version(const OllamaOptions& options) {
    std::string version = services::normalize_model_name(options.vision_model);
    if (!options.embed_model.empty()) {
        version += "+" + services::normalize_model_name(options.embed_model);
    }
    return version;
}

OllamaAnalyzer::OllamaAnalyzer(OllamaOptions options)
    : m_options(std::move(options)), m_model_version(ollama_model_version(m_options)) {
    if (m_options.ollama_url.empty() || m_options.vision_model.empty()) {
        throw ConfigError("the ollama analyzer needs Ollama's URL and a vision model",
                          "set EYE_OLLAMA_URL and EYE_OLLAMA_VISION_MODEL (or EYE_OLLAMA_MODELS)");
    }
}

OllamaAnalyzer::OllamaAnalyzer(const Config& config, int expected_embedding_length)
    : OllamaAnalyzer([&config, expected_embedding_length] {
          auto options = ollama_options(config, expected_embedding_length);
          if (options.ollama_url.empty()) {
              throw ConfigError("the ollama analyzer needs Ollama's URL",
                                "set EYE_OLLAMA_URL (e.g. http://ollama:11434) or choose another "
                                "EYE_ANALYZER");
          }
          if (options.vision_model.empty()) {
              throw ConfigError("the ollama analyzer needs a vision model",
                                "set EYE_OLLAMA_VISION_MODEL or EYE_OLLAMA_MODELS (e.g. "
                                "llava:13b-v1.6)");
          }
          return options;
      }()) {}

AnalysisResult OllamaAnalyzer::analyze(const MediaItem& item) {
    auto start = Clock::now();
    std::string bytes =
        read_media_file(item, static_cast<std::uint64_t>(m_options.limits.max_file_bytes));
    const DecodedImage decoded = decode_image(bytes, m_options.max_side, m_options.limits);
    std::string jpeg;
    try {
        jpeg = encode_jpeg(decoded.image, m_options.max_side, m_options.jpeg_quality);
    } catch (const std::exception& error) {
        permanent(fmt::format("cannot re-encode '{}' as JPEG for ollama: {}",
                              item.absolute_path.string(), error.what()));
    }

    services::OllamaClient client(m_options.ollama_url, m_options.timeouts, m_options.retry);
    if (m_options.should_abort) {
        client.set_abort_check(m_options.should_abort);
    }
    services::GenerateRequest generate;
    generate.model = m_options.vision_model;
    generate.prompt = k_prompt;
    generate.images.push_back(base64_encode(jpeg));
    generate.format_json = ollama_description_schema();
    // the same image gets the same answer, so a re-analysis changes only with the model
    generate.temperature = 0.0;
    auto generated = client.generate(generate);
    if (!generated) {
        throw_analysis_error(generated.error(), m_options.vision_model);
    }
    Description described;
    if (auto reason = read_description(generated->response, described)) {
        permanent(fmt::format(
            "ollama's answer for '{}' is not the JSON asked for: {}{}", item.absolute_path.string(),
            *reason,
            generated->done_reason == "length" ? " (the model stopped at its token limit)" : ""));
    }

    AnalysisResult result;
    result.analyzer = k_ollama_name;
    result.model_version = m_model_version;
    if (!m_options.embed_model.empty()) {
        auto used = std::chrono::duration_cast<Milliseconds>(Clock::now() - start);
        http::RetryPolicy embed_retry = m_options.retry;
        embed_retry.deadline = m_options.retry.deadline - used;
        if (embed_retry.deadline < k_min_embed_time) {
            temporary(fmt::format("no time left to embed the description of '{}' after {}",
                                  item.absolute_path.string(), format_duration(used)));
        }
        services::OllamaClient embedder(m_options.ollama_url, m_options.timeouts, embed_retry);
        if (m_options.should_abort) {
            embedder.set_abort_check(m_options.should_abort);
        }
        auto embedding = embedder.embed(m_options.embed_model, described.description);
        if (!embedding) {
            throw_analysis_error(embedding.error(), m_options.embed_model);
        }
        int expected = m_options.expected_embedding_length;
        if (expected > 0 && embedding->size() != static_cast<std::size_t>(expected)) {
            permanent(fmt::format(
                "embedding has {} values but media_files.embedding is vector({}) (embed model "
                "'{}')",
                embedding->size(), expected, m_options.embed_model));
        }
        result.embedding = std::move(*embedding);
    }
    result.description = std::move(described.description);
    result.detailed_description = std::move(described.detailed_description);
    result.meta_tags = std::move(described.tags);
    record_file_facts(result, bytes, decoded);
    return result;
}

}  // namespace eye::analyzers
