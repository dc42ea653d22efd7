#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "eye/analyzers/analyzer.hpp"
#include "eye/config/config.hpp"
#include "eye/core/units.hpp"
#include "eye/http/client.hpp"

// The avinash analyzer: asks the Avinash-EYE python-ai service (POST /analyze-image, design
// section 6) to analyze an image that it reads from its own view of the shared media directory.
namespace eye::analyzers {

// The model upstream's job names in every /analyze-image request unless configured otherwise.
inline constexpr const char* k_upstream_ollama_model = "llava:13b-v1.6";

inline constexpr const char* k_avinash_name = "avinash";

struct AvinashOptions {
    std::string ai_url;                          // EYE_AI_URL
    std::string ai_token;                        // EYE_AI_TOKEN
    std::string shared_prefix = "/app/shared/";  // EYE_AI_SHARED_PREFIX
    std::string captioning_model = "florence";   // "" lets the service choose
    std::string embedding_model = "clip";        // "" lets the service choose
    bool use_ollama = false;
    // sent with every request, as upstream's job sends it; its default is upstream's
    std::string ollama_model = k_upstream_ollama_model;
    // The length of media_files.embedding (vector(512): 512); 0 when unknown, then any length
    // is taken.
    int expected_embedding_length = 0;
    // One attempt may take timeouts.total: an analysis on a CPU takes a while. The retry policy
    // bounds all attempts and the waits between them by its deadline; keep that below the
    // worker's per-job timeout.
    http::Timeouts timeouts{Milliseconds(3'000), Milliseconds(120'000)};
    http::RetryPolicy retry{3, Milliseconds(1'000), Milliseconds(8'000), Milliseconds(300'000)};
    // Consulted during every request (e.g. eye::stop::requested); true stops the analysis.
    std::function<bool()> should_abort;
};

// The options a configuration asks for: EYE_AI_* settings, EYE_OLLAMA_VISION_MODEL as the
// Ollama model the service is asked to use, a connect timeout of min(http_timeout, 3 s), an
// attempt timeout of max(http_timeout, 120 s) (--http-timeout is sized for quick calls such as
// health checks), and the default retry policy.
AvinashOptions avinash_options(const Config& config, int expected_embedding_length);

// The path under which the AI service sees a media file: shared_prefix joined with exactly one
// slash to file_path, less a leading "storage/app/public/" or "public/" (upstream stores paths
// relative to Laravel's root but mounts its public disk), and less leading "/" and "./":
//   ("/app/shared/", "storage/app/public/media/2026/a.jpg") -> "/app/shared/media/2026/a.jpg"
//   ("/app/shared", "media/a.jpg") -> "/app/shared/media/a.jpg"
// An empty shared_prefix gives the relative path. Throws std::invalid_argument when nothing is
// left of file_path or it has a ".." segment (it would leave the shared directory).
std::string ai_image_path(std::string_view shared_prefix, std::string_view file_path);

// "<captioning>+<embedding>", plus "+ollama:<model>" when the service is asked to use Ollama
// ("florence+clip", "florence+clip+ollama:llava:13b"). An empty model name is "default"; the
// Ollama model name is normalised ("llava" -> "llava:latest").
std::string avinash_model_version(const AvinashOptions& options);

class AvinashAnalyzer : public Analyzer {
public:
    explicit AvinashAnalyzer(AvinashOptions options);
    // Throws ConfigError when config.ai_url is empty.
    AvinashAnalyzer(const Config& config, int expected_embedding_length);

    std::string name() const override { return k_avinash_name; }
    std::string model_version() const override { return m_model_version; }

    // Sends the image's path (ai_image_path of item.file_path; the file is read by the service,
    // not here) and maps the answer: every field of the contract that AnalysisResult holds,
    // faces_detected -> face_count, face_encodings -> face_encodings_json and face_locations ->
    // face_locations_json (both "[]" when no face was found). thumbnail_path is not kept.
    // Throws AnalysisError:
    // permanent, asking again gets the same answer:
    // - a file_path that ai_image_path refuses;
    // - 404 with the service's own detail: "the AI service cannot find '/app/shared/a.jpg':
    //   Image not found: /app/shared/a.jpg";
    // - another 4xx than 401, 403, 407, 408 and 429 (the request itself is refused);
    // - a 2xx whose JSON breaks the contract (services::is_malformed_answer: a wrong type, a
    //   non-finite number, JSON that does not parse): the service answers this image the same way
    //   until someone changes it, and then queue:retry or --priority=failed brings it back;
    // - an empty embedding, or one whose length is not expected_embedding_length:
    //   "embedding has 768 values but media_files.embedding is vector(512)";
    // temporary, after the client's own retries:
    // - connection failures, timeouts, 5xx (503: models loading), 401/403/407/408/429, a 404
    //   without the service's detail or with FastAPI's "Not Found" (a wrong EYE_AI_URL or a
    //   proxy, not a missing file);
    // - a 2xx whose body is not JSON (an HTML page), or an answer larger than 16 MiB: something
    //   other than the service answered, which an operator can fix;
    // - a stop through should_abort.
    // Safe to call from several threads at once: each call uses a client of its own.
    AnalysisResult analyze(const MediaItem& item) override;

    void set_abort_check(std::function<bool()> should_abort) override {
        m_options.should_abort = std::move(should_abort);
    }

private:
    AvinashOptions m_options;
    std::string m_model_version;
};

}  // namespace eye::analyzers
