#include "eye/tasks/monitor/service_checks.hpp"

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "eye/core/stop.hpp"
#include "eye/log/log.hpp"
#include "eye/services/ai_service.hpp"
#include "eye/services/ollama.hpp"
#include "eye/tasks/monitor/pull_gate.hpp"

namespace eye::tasks::monitor {
namespace {

using Clock = std::chrono::steady_clock;

http::Timeouts service_timeouts(const Config& config) {
    return {std::min(config.http_timeout, Milliseconds(3'000)), config.http_timeout};
}

std::vector<std::string> missing_models(const std::vector<std::string>& wanted,
                                        const std::vector<std::string>& installed) {
    std::vector<std::string> missing;
    for (const auto& model : wanted) {
        if (!services::has_model(installed, model)) {
            missing.push_back(services::normalize_model_name(model));
        }
    }
    return missing;
}

// Pulls one model, logging progress at most every few seconds and publishing it through `gate`.
services::ServiceResult<void> pull_model(services::OllamaClient& client, const std::string& model,
                                         Milliseconds timeout, PullGate& gate) {
    log::info("pulling Ollama model '{}' (at most {})", model, format_duration(timeout));
    auto last_log = Clock::now() - std::chrono::hours(1);
    std::string last_status;
    auto progress = [&](std::string_view status, std::int64_t completed, std::int64_t total) {
        if (total > 0) {
            gate.publish(model,
                         100.0 * static_cast<double>(completed) / static_cast<double>(total));
        }
        bool changed = status != last_status;
        if (!changed && Clock::now() - last_log < std::chrono::seconds(5)) {
            return;
        }
        last_status = std::string(status);
        last_log = Clock::now();
        if (total > 0) {
            log::info("pulling '{}': {} {:.0f}% ({} of {})", model, status,
                      100.0 * static_cast<double>(completed) / static_cast<double>(total),
                      format_size(static_cast<std::uint64_t>(completed)),
                      format_size(static_cast<std::uint64_t>(total)));
        } else {
            log::info("pulling '{}': {}", model, status);
        }
    };
    return client.pull(model, progress, timeout);
}

}  // namespace

Check check_ai_service(const Config& config) {
    if (config.ai_url.empty()) {
        return make_check("ai_service", Status::skipped, "EYE_AI_URL is not set");
    }
    services::AiServiceClient client(config.ai_url, config.ai_token, service_timeouts(config));
    client.set_abort_check(stop::requested);
    auto health = client.health();
    if (!health) {
        Check check =
            make_check("ai_service", Status::critical,
                       health.error().message + "; hint: is the AI service running at EYE_AI_URL?");
        check.metrics.push_back(
            text("error", std::string(services::service_error_kind_name(health.error().kind))));
        return check;
    }
    Check check{"ai_service"};
    check.metrics.push_back(
        perf("latency_ms", health->latency.count(), std::nullopt, std::nullopt));
    check.metrics.push_back(text("service_status", health->status));
    check.metrics.emplace_back("models_loaded", health->models_loaded);
    check.metrics.push_back(text("device", health->device));
    if (health->ready()) {
        check.message = fmt::format("healthy, models loaded on {} ({} ms)",
                                    health->device.empty() ? "an unknown device" : health->device,
                                    health->latency.count());
    } else {
        check.status = Status::warning;
        check.message = fmt::format(
            "status '{}', models loaded: {}; the service is not ready "
            "to analyze yet",
            health->status, health->models_loaded ? "yes" : "no");
    }
    return check;
}

Check check_ollama(Context& context, const MonitorOptions& options, Report& report) {
    const Config& config = context.config;
    const bool dry_run = context.dry_run;
    if (config.ollama_url.empty()) {
        return make_check("ollama", Status::skipped, "EYE_OLLAMA_URL is not set");
    }
    const std::string hint = "; hint: is Ollama running at EYE_OLLAMA_URL?";
    services::OllamaClient client(config.ollama_url, service_timeouts(config));
    client.set_abort_check(stop::requested);
    auto version = client.version();
    if (!version) {
        return make_check("ollama", Status::critical, version.error().message + hint);
    }
    auto installed = client.tags();
    if (!installed) {
        return make_check("ollama", Status::critical, installed.error().message + hint);
    }
    Check check{"ollama"};
    check.metrics.push_back(text("version", *version));
    check.metrics.push_back(
        number("models_installed", static_cast<std::int64_t>(installed->size())));
    auto missing = missing_models(config.ollama_models, *installed);

    PullGate gate(context);
    if (!missing.empty() && options.fix && !dry_run && !gate.acquire()) {
        check.status = Status::warning;
        check.message = fmt::format("version {}; missing {}; {}", *version,
                                    fmt::join(missing, ", "), gate.busy());
        check.metrics.push_back(
            number("models_missing", static_cast<std::int64_t>(missing.size())));
        return check;
    }
    if (!missing.empty() && options.fix) {
        if (!dry_run && context.release_lock) {
            // the pull has a lock of its own: the next runs check and repair meanwhile
            context.release_lock();
        }
        Fix fix{"ollama_pull"};
        std::vector<std::string> pulled;
        std::vector<std::string> errors;
        for (const auto& model : missing) {
            if (stop::requested()) {
                errors.push_back(
                    fmt::format("{}: not pulled, stopping on {}", model, stop::signal_name()));
                continue;
            }
            if (dry_run) {
                log::info("would pull Ollama model '{}'", model);
                continue;
            }
            auto pulled_model = pull_model(client, model, options.pull_timeout, gate);
            if (pulled_model) {
                pulled.push_back(model);
            } else {
                errors.push_back(pulled_model.error().message);
                log::warning("could not pull '{}': {}", model, pulled_model.error().message);
            }
        }
        fix.count = static_cast<std::int64_t>(pulled.size());
        fix.details.push_back(text("models", fmt::format("{}", fmt::join(pulled, ","))));
        if (!errors.empty()) {
            fix.details.push_back(text("errors", fmt::format("{}", fmt::join(errors, "; "))));
        }
        if (dry_run) {
            fix.details.emplace_back("dry_run", true);
            fix.would = fmt::format("pull {}", fmt::join(missing, ", "));
        }
        report.fixes.push_back(fix);
        if (!pulled.empty()) {
            installed = client.tags();
            if (!installed) {
                return make_check("ollama", Status::critical, installed.error().message + hint);
            }
            missing = missing_models(config.ollama_models, *installed);
        }
        if (!errors.empty() && !missing.empty()) {
            check.status = Status::warning;
            check.message = fmt::format("missing {}; pull failed: {}", fmt::join(missing, ", "),
                                        fmt::join(errors, "; "));
            check.metrics.push_back(
                number("models_missing", static_cast<std::int64_t>(missing.size())));
            return check;
        }
    }
    check.metrics.push_back(number("models_missing", static_cast<std::int64_t>(missing.size())));
    if (!missing.empty()) {
        check.status = Status::warning;
        check.message = fmt::format(
            "version {}; missing {}; hint: run with --fix to pull, or "
            "'ollama pull' by hand",
            *version, fmt::join(missing, ", "));
    } else if (config.ollama_models.empty()) {
        check.message = fmt::format(
            "version {}, {} installed (EYE_OLLAMA_MODELS lists none "
            "to require)",
            *version, plural(static_cast<std::int64_t>(installed->size()), "model", "models"));
    } else {
        check.message = fmt::format("version {}; all {} present", *version,
                                    plural(static_cast<std::int64_t>(config.ollama_models.size()),
                                           "required model", "required models"));
        if (!report.fixes.empty() && report.fixes.back().name == "ollama_pull" &&
            report.fixes.back().count > 0) {
            check.status = Status::warning;
            check.message += fmt::format(" after pulling {}", report.fixes.back().count);
        }
    }
    return check;
}
}  // namespace eye::tasks::monitor
