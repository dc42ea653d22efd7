#include "eye/analyzers/avinash.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/media_file.hpp"
#include "eye/analyzers/metadata.hpp"
#include "eye/core/error.hpp"
#include "eye/log/log.hpp"
#include "eye/services/ai_service.hpp"
#include "eye/services/ollama.hpp"

namespace eye::analyzers {
namespace {

using services::ServiceError;

constexpr Milliseconds k_max_connect_timeout{3'000};
constexpr Milliseconds k_min_attempt_timeout{120'000};

bool starts_with(std::string_view text, std::string_view prefix) {
    return text.substr(0, prefix.size()) == prefix;
}

std::string_view without_leading_slashes(std::string_view path) {
    for (;;) {
        if (starts_with(path, "/")) {
            path.remove_prefix(1);
        } else if (starts_with(path, "./")) {
            path.remove_prefix(2);
        } else {
            return path;
        }
    }
}

bool has_parent_segment(std::string_view path) {
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t slash = path.find('/', start);
        std::size_t end = slash == std::string_view::npos ? path.size() : slash;
        if (path.substr(start, end - start) == "..") {
            return true;
        }
        if (slash == std::string_view::npos) {
            break;
        }
        start = slash + 1;
    }
    return false;
}

// Shortest text that reads back as the same float, so an embedding is not padded with the
// digits of its double widening.
std::string floats_json(const std::vector<float>& values) {
    std::string text = "[";
    for (std::size_t i = 0; i < values.size(); ++i) {
        if (i > 0) {
            text += ',';
        }
        text += fmt::format("{}", values[i]);
    }
    return text + "]";
}

std::string encodings_json(const std::vector<std::vector<float>>& encodings) {
    std::string text = "[";
    for (std::size_t i = 0; i < encodings.size(); ++i) {
        if (i > 0) {
            text += ',';
        }
        text += floats_json(encodings[i]);
    }
    return text + "]";
}

std::string locations_json(const std::vector<std::array<int, 4>>& locations) {
    std::string text = "[";
    for (std::size_t i = 0; i < locations.size(); ++i) {
        if (i > 0) {
            text += ',';
        }
        text += fmt::format("[{},{},{},{}]", locations[i][0], locations[i][1], locations[i][2],
                            locations[i][3]);
    }
    return text + "]";
}

// What the service said after "HTTP 404: " (status_error's format), "" when it said nothing.
std::string status_detail(const ServiceError& error) {
    std::string marker = fmt::format(": HTTP {}: ", error.http_status);
    std::size_t at = error.message.find(marker);
    return at == std::string::npos ? std::string() : error.message.substr(at + marker.size());
}

[[noreturn]] void temporary(std::string message) {
    throw AnalysisError(AnalysisError::Kind::temporary, std::move(message));
}

[[noreturn]] void permanent(std::string message) {
    throw AnalysisError(AnalysisError::Kind::permanent, std::move(message));
}

[[noreturn]] void throw_analysis_error(const ServiceError& error, const std::string& image_path) {
    switch (error.kind) {
        case ServiceError::Kind::unreachable:
            throw AnalysisError(AnalysisError::Kind::unavailable,
                                fmt::format("the AI service is unreachable: {}", error.message));
        case ServiceError::Kind::timeout:
            temporary(fmt::format("the AI service did not answer: {}", error.message));
        case ServiceError::Kind::too_large:
            temporary(fmt::format("the AI service's answer is too large: {}", error.message));
        case ServiceError::Kind::aborted:
            temporary(fmt::format("analysis of '{}' stopped: {}", image_path, error.message));
        case ServiceError::Kind::bad_response:
            if (services::is_malformed_answer(error)) {
                permanent(fmt::format("the AI service's answer for '{}' breaks the contract: {}",
                                      image_path, error.message));
            }
            temporary(fmt::format(
                "the AI service did not answer with JSON: {} (is EYE_AI_URL the AI service?)",
                error.message));
        case ServiceError::Kind::http_status:
            break;
    }
    long status = error.http_status;
    if (status == 404) {
        std::string detail = status_detail(error);
        // FastAPI answers "Not Found" for a path it has no route for: the URL is wrong, the
        // file may well be there
        if (detail.empty() || detail == "Not Found") {
            temporary(
                fmt::format("the AI service has no POST /analyze-image: {} (is EYE_AI_URL "
                            "the AI service?)",
                            error.message));
        }
        permanent(fmt::format("the AI service cannot find '{}': {}", image_path, detail));
    }
    if (status == 503) {
        temporary(
            fmt::format("the AI service is busy or still loading its models: {}", error.message));
    }
    if (status >= 500) {
        temporary(fmt::format("the AI service failed: {}", error.message));
    }
    // a wrong token or a proxy that wants credentials fails every image alike: the service is
    // unavailable to eye until someone fixes the configuration
    if (status == 401 || status == 403 || status == 407) {
        throw AnalysisError(AnalysisError::Kind::unavailable,
                            fmt::format("the AI service refused eye's credentials: {} (check "
                                        "EYE_AI_TOKEN)",
                                        error.message));
    }
    // a timeout at a proxy or a rate limit says nothing about the image
    if (status == 408 || status == 429) {
        temporary(fmt::format("the AI service refused the request: {}", error.message));
    }
    permanent(fmt::format("the AI service refused '{}': {}", image_path, error.message));
}

std::string model_or_default(const std::string& name) {
    return name.empty() ? std::string("default") : name;
}

}  // namespace

AvinashOptions avinash_options(const Config& config, int expected_embedding_length) {
    AvinashOptions options;
    options.ai_url = config.ai_url;
    options.ai_token = config.ai_token;
    options.shared_prefix = config.ai_shared_prefix;
    options.captioning_model = config.ai_captioning_model;
    options.embedding_model = config.ai_embedding_model;
    options.use_ollama = config.ai_use_ollama;
    if (!config.ollama_vision_model.empty()) {
        options.ollama_model = config.ollama_vision_model;
    }
    options.expected_embedding_length = expected_embedding_length;
    options.timeouts.connect = std::min(config.http_timeout, k_max_connect_timeout);
    options.timeouts.total = std::max(config.http_timeout, k_min_attempt_timeout);
    return options;
}

std::string ai_image_path(std::string_view shared_prefix, std::string_view file_path) {
    std::string_view relative = without_leading_slashes(file_path);
    for (std::string_view stripped : {"storage/app/public/", "public/"}) {
        if (starts_with(relative, stripped)) {
            relative = without_leading_slashes(relative.substr(stripped.size()));
            break;
        }
    }
    if (relative.empty()) {
        throw std::invalid_argument(fmt::format(
            "file path '{}' does not name a file under the shared directory", file_path));
    }
    if (has_parent_segment(relative)) {
        throw std::invalid_argument(
            fmt::format("file path '{}' leaves the shared directory with '..'", file_path));
    }
    if (shared_prefix.empty()) {
        return std::string(relative);
    }
    while (shared_prefix.size() > 1 && shared_prefix.back() == '/') {
        shared_prefix.remove_suffix(1);
    }
    if (shared_prefix == "/") {
        return "/" + std::string(relative);
    }
    return fmt::format("{}/{}", shared_prefix, relative);
}

std::string avinash_model_version(const AvinashOptions& options) {
    std::string version = fmt::format("{}+{}", model_or_default(options.captioning_model),
                                      model_or_default(options.embedding_model));
    if (options.use_ollama) {
        version += options.ollama_model.empty()
                       ? std::string("+ollama")
                       : "+ollama:" + services::normalize_model_name(options.ollama_model);
    }
    return version;
}

namespace {

// The AI service reads the image itself; the file's own facts (size, hash, type, dimensions,
// EXIF) are read here when eye sees the same files beneath EYE_MEDIA_ROOT. When it does not, or
// cannot make sense of the file, the service's analysis stands without them.
void record_local_file_facts(AnalysisResult& result, const MediaItem& item) {
    const DecodeLimits limits;
    try {
        const std::string bytes =
            read_media_file(item, static_cast<std::uint64_t>(limits.max_file_bytes));
        record_file_facts(result, bytes, read_image_header(bytes, limits));
    } catch (const AnalysisError& error) {
        log::debug("no file metadata for '{}': {}", item.file_path, error.what());
    }
}

}  // namespace

AvinashAnalyzer::AvinashAnalyzer(AvinashOptions options)
    : m_options(std::move(options)), m_model_version(avinash_model_version(m_options)) {}

AvinashAnalyzer::AvinashAnalyzer(const Config& config, int expected_embedding_length)
    : AvinashAnalyzer(avinash_options(config, expected_embedding_length)) {
    if (m_options.ai_url.empty()) {
        throw ConfigError("the avinash analyzer needs the AI service's URL",
                          "set EYE_AI_URL (e.g. http://python-ai:8000) or choose another "
                          "EYE_ANALYZER");
    }
}

AnalysisResult AvinashAnalyzer::analyze(const MediaItem& item) {
    services::AnalyzeImageRequest request;
    try {
        request.image_path = ai_image_path(m_options.shared_prefix, item.file_path);
    } catch (const std::invalid_argument& error) {
        permanent(error.what());
    }
    request.detect_faces = true;
    request.use_ollama = m_options.use_ollama;
    request.captioning_model = m_options.captioning_model;
    request.embedding_model = m_options.embedding_model;
    // sent whenever it is configured, as upstream's body has it; the service uses it only with
    // use_ollama
    request.ollama_model = m_options.ollama_model;

    services::AiServiceClient client(m_options.ai_url, m_options.ai_token, m_options.timeouts,
                                     m_options.retry);
    if (m_options.should_abort) {
        client.set_abort_check(m_options.should_abort);
    }
    auto answer = client.analyze_image(request);
    if (!answer) {
        throw_analysis_error(answer.error(), request.image_path);
    }

    AnalysisResult result;
    result.analyzer = k_avinash_name;
    result.model_version = m_model_version;
    record_local_file_facts(result, item);
    if (answer->embedding) {
        std::size_t length = answer->embedding->size();
        int expected = m_options.expected_embedding_length;
        if (length == 0) {
            permanent(fmt::format("the AI service returned an empty embedding for '{}'",
                                  request.image_path));
        }
        if (expected > 0 && length != static_cast<std::size_t>(expected)) {
            permanent(fmt::format(
                "embedding has {} values but media_files.embedding is vector({}) (from '{}' by "
                "embedding model '{}')",
                length, expected, request.image_path, model_or_default(request.embedding_model)));
        }
        result.embedding = std::move(answer->embedding);
    }
    result.description = std::move(answer->description);
    result.detailed_description = std::move(answer->detailed_description);
    result.meta_tags = std::move(answer->meta_tags);
    result.face_count = answer->faces_detected;
    result.face_encodings_json = encodings_json(answer->face_encodings);
    result.face_locations_json = locations_json(answer->face_locations);
    result.dominant_colors_json = std::move(answer->dominant_colors_json);
    result.image_quality_json = std::move(answer->image_quality_json);
    result.quality_tier = std::move(answer->quality_tier);
    result.phash = std::move(answer->phash);
    result.dhash = std::move(answer->dhash);
    result.objects_detected_json = std::move(answer->objects_detected_json);
    result.scene_classification_json = std::move(answer->scene_classification_json);
    result.extracted_text = std::move(answer->extracted_text);
    return result;
}

}  // namespace eye::analyzers
