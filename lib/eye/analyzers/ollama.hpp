#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "eye/analyzers/analyzer.hpp"
#include "eye/analyzers/image/image.hpp"
#include "eye/config/config.hpp"
#include "eye/core/units.hpp"
#include "eye/http/client.hpp"

// The ollama analyzer: a vision model served by Ollama describes and tags the image (POST
// /api/generate with the image and a JSON schema as "format"), and, when an embedding model is
// set, embeds that description (POST /api/embed). Design section 6.
namespace eye::analyzers {

inline constexpr const char* k_ollama_name = "ollama";

struct OllamaOptions {
    std::string ollama_url;    // EYE_OLLAMA_URL
    std::string vision_model;  // EYE_OLLAMA_VISION_MODEL, e.g. "llava:13b-v1.6"
    std::string embed_model;   // EYE_OLLAMA_EMBED_MODEL; "": no embedding
    // The length of media_files.embedding; 0 when unknown, then any length is taken.
    int expected_embedding_length = 0;
    int max_side = 720;     // the image is sent scaled down to at most this many pixels a side
    int jpeg_quality = 85;  // and re-encoded as JPEG at this quality
    DecodeLimits limits;
    // One attempt may take timeouts.total (a vision model on a CPU is slow, and the first call
    // loads it). retry.deadline bounds the whole analysis, both calls and every retry; keep it
    // below the worker's per-job timeout.
    http::Timeouts timeouts{Milliseconds(3'000), Milliseconds(240'000)};
    http::RetryPolicy retry{3, Milliseconds(1'000), Milliseconds(8'000), Milliseconds(300'000)};
    // Consulted during every request (e.g. eye::stop::requested); true stops the analysis.
    std::function<bool()> should_abort;
};

// The options a configuration asks for: EYE_OLLAMA_URL, EYE_OLLAMA_VISION_MODEL (resolved to the
// first of EYE_OLLAMA_MODELS), EYE_OLLAMA_EMBED_MODEL, a connect timeout of
// min(http_timeout, 3 s), an attempt timeout of max(http_timeout, 240 s), the default retry.
OllamaOptions ollama_options(const Config& config, int expected_embedding_length);

// The JSON schema sent as /api/generate's "format", as compact JSON text: an object with
// "description" (string), "detailed_description" (string) and "tags" (array of strings), all
// required.
std::string ollama_description_schema();

// The vision model's normalised name ("llava" -> "llava:latest"), plus "+<embed model>" when
// one is set ("llava:13b-v1.6+nomic-embed-text:latest").
std::string ollama_model_version(const OllamaOptions& options);

class OllamaAnalyzer : public Analyzer {
public:
    // Throws ConfigError when ollama_url or vision_model is empty.
    explicit OllamaAnalyzer(OllamaOptions options);
    // Throws ConfigError when EYE_OLLAMA_URL or the vision model is not set.
    OllamaAnalyzer(const Config& config, int expected_embedding_length);

    std::string name() const override { return k_ollama_name; }
    std::string model_version() const override { return m_model_version; }
    bool gives_embeddings() const override { return !m_options.embed_model.empty(); }
    bool reads_media_files() const override { return true; }

    // Reads item.absolute_path, decodes it (decode_image), sends it scaled down to max_side as a
    // base64 JPEG with the schema as "format" and temperature 0, and parses the model's answer
    // against the schema. Fills description, detailed_description, meta_tags (the tags trimmed,
    // lowercased, without empty ones and repeats), embedding (only with an embed model), and the
    // facts of the file: width, height (as displayed), mime_type, file_size, file_hash (SHA-256).
    // Throws AnalysisError:
    // permanent, asking again gets the same answer:
    // - a file that is missing, unreadable or not a regular file, or that decode_image refuses
    //   (corrupt, truncated, too large, not JPEG or PNG);
    // - an answer of the model that is not the JSON the schema asks for (not JSON, no non-empty
    //   "description", a field of another type): at temperature 0 the model answers this image
    //   the same way again;
    // - a 4xx from Ollama other than 404, 401, 403, 407, 408 and 429;
    // - an embedding whose length is not expected_embedding_length: "embedding has 768 values
    //   but media_files.embedding is vector(512)";
    // temporary, after the client's own retries:
    // - read errors a retry may cure (EIO, ESTALE, EMFILE, ENOMEM, ...);
    // - connection failures, timeouts, 503 (busy), other 5xx, 404 (the model is not installed:
    //   eye-monitor --fix pulls EYE_OLLAMA_MODELS), 401/403/407/408/429;
    // - an answer that is not Ollama's JSON (an HTML page from a proxy) or is too large;
    // - a stop through should_abort.
    // Safe to call from several threads at once: each call uses a client of its own.
    AnalysisResult analyze(const MediaItem& item) override;

    void set_abort_check(std::function<bool()> should_abort) override {
        m_options.should_abort = std::move(should_abort);
    }

private:
    OllamaOptions m_options;
    std::string m_model_version;
};

}  // namespace eye::analyzers
