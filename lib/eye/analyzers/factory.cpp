#include "eye/analyzers/factory.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "eye/analyzers/avinash.hpp"
#include "eye/analyzers/builtin/builtin.hpp"
#include "eye/analyzers/ollama.hpp"
#include "eye/core/error.hpp"
#include "eye/log/log.hpp"
#include "eye/services/ai_service.hpp"
#include "eye/services/ollama.hpp"

namespace eye::analyzers {

std::unique_ptr<Analyzer> make_analyzer(const Config& config, int embedding_dimensions,
                                        Milliseconds per_job_timeout) {
    // a service analyzer, retries included, must give up before the worker's per-job timeout
    auto fit = [&](http::Timeouts& timeouts, http::RetryPolicy& retry) {
        if (per_job_timeout.count() > 0) {
            retry.deadline = std::min(retry.deadline, per_job_timeout * 9 / 10);
            timeouts.total = std::min(timeouts.total, retry.deadline);
        }
    };
    if (config.analyzer == "avinash") {
        if (config.ai_url.empty()) {
            throw ConfigError("the avinash analyzer needs the AI service's URL",
                              "set EYE_AI_URL (e.g. http://python-ai:8000) or choose another "
                              "EYE_ANALYZER");
        }
        auto options = avinash_options(config, embedding_dimensions);
        fit(options.timeouts, options.retry);
        return std::make_unique<AvinashAnalyzer>(std::move(options));
    }
    if (config.analyzer == "ollama") {
        auto options = ollama_options(config, embedding_dimensions);
        fit(options.timeouts, options.retry);
        return std::make_unique<OllamaAnalyzer>(std::move(options));
    }
    BuiltinOptions options;
    if (embedding_dimensions > 0) {
        options.embedding_dimension = embedding_dimensions;
    }
    return std::make_unique<BuiltinAnalyzer>(options);
}

void check_service(const Config& config) {
    http::Timeouts timeouts{std::min(config.http_timeout, Milliseconds(3'000)),
                            config.http_timeout};
    if (config.analyzer == "avinash") {
        services::AiServiceClient client(config.ai_url, config.ai_token, timeouts);
        auto health = client.health();
        if (!health && health.error().kind == services::ServiceError::Kind::http_status &&
            (health.error().http_status == 401 || health.error().http_status == 403)) {
            throw ConfigError(
                fmt::format("the AI service refused eye's credentials: {}", health.error().message),
                "check EYE_AI_TOKEN");
        }
        if (!health && health.error().kind != services::ServiceError::Kind::http_status) {
            throw UnavailableError(
                fmt::format("the AI service is unavailable: {}", health.error().message),
                "start it, or check EYE_AI_URL");
        }
        if (health && !health->ready()) {
            log::warning(
                "the AI service says '{}' (models loaded: {}); analyses will be "
                "retried until it is ready",
                health->status, health->models_loaded ? "yes" : "no");
        }
    } else if (config.analyzer == "ollama") {
        services::OllamaClient client(config.ollama_url, timeouts);
        auto installed = client.tags();
        if (!installed) {
            throw UnavailableError(
                fmt::format("ollama is unavailable: {}", installed.error().message),
                "start it, or check EYE_OLLAMA_URL");
        }
        for (const auto& model : {config.ollama_vision_model, config.ollama_embed_model}) {
            if (!model.empty() && !services::has_model(*installed, model)) {
                throw UnavailableError(
                    fmt::format("ollama has no model '{}'", services::normalize_model_name(model)),
                    "'eye-monitor --fix' pulls the models in EYE_OLLAMA_MODELS");
            }
        }
    }
}

}  // namespace eye::analyzers
