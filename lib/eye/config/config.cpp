#include "eye/config/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <tuple>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"

namespace eye {
namespace {

std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
}

// A secret kept in a file (a Kubernetes secret mounted as a file), named by `variable`.
std::string read_secret_file(const char* variable, const std::string& path, const char* what) {
    std::ifstream file(path);
    if (!file) {
        throw ConfigError(
            fmt::format("cannot read {} '{}': {}", variable, path, std::strerror(errno)),
            fmt::format("point {} at a readable file holding {}", variable, what));
    }
    std::stringstream buffer;
    buffer << file.rdbuf();
    std::string text = buffer.str();
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.pop_back();
    }
    if (text.empty()) {
        throw ConfigError(fmt::format("{} '{}' is empty", variable, path),
                          fmt::format("write {} into that file", what));
    }
    return text;
}

}  // namespace

void add_common_settings(CLI::App& app, Config& config) {
    const char* group = "Common options";
    app.add_option_function<std::string>(
           "--database-url", [&config](const std::string& value) { config.database_url = value; },
           "PostgreSQL URL or key=value string (env EYE_DATABASE_URL, EYE_DATABASE_URL_FILE, "
           "DATABASE_URL, then libpq's PG* variables)")
        ->type_name("URL")
        ->group(group);
    options::add_choice(app, "--log-level", config.log_level, "error, warning, info or debug",
                        {"error", "warning", "info", "debug"})
        ->group(group);
    options::add_choice(app, "--log-format", config.log_format, "log lines as text or JSON",
                        {"text", "json"})
        ->group(group);
    options::add_string(app, "--db-timezone", config.db_timezone,
                        "session time zone: the zone upstream writes its timestamps in")
        ->group(group);
    options::add_string(app, "--metrics-dir", config.metrics_dir,
                        "write node_exporter textfile metrics (eye_<task>.prom) here")
        ->group(group);
    options::add_string(app, "--ping-url", config.ping_url,
                        "healthchecks.io-style base URL to ping /eye-<task>/start and "
                        "/eye-<task>/<exit code>")
        ->group(group);
    options::add_duration(app, "--statement-timeout", config.statement_timeout,
                          "cancel any single SQL statement that runs longer", Milliseconds(1000))
        ->group(group);
}

void add_settings(CLI::App& app, Config& config, SettingGroup group) {
    switch (group) {
        case SettingGroup::ai: {
            const char* name = "AI service";
            options::add_string(app, "--ai-url", config.ai_url,
                                "base URL of the Avinash-EYE AI service, e.g. "
                                "http://python-ai:8000 (unset: none)")
                ->group(name);
            options::add_string(app, "--ai-token", config.ai_token,
                                "bearer token sent to the AI service; prefer EYE_AI_TOKEN or "
                                "EYE_AI_TOKEN_FILE, since a command line is visible to every "
                                "user in ps")
                ->group(name);
            options::add_duration(app, "--http-timeout", config.http_timeout,
                                  "total timeout of one request to a service", Milliseconds(100))
                ->group(name);
            break;
        }
        case SettingGroup::ollama: {
            const char* name = "Ollama";
            options::add_string(app, "--ollama-url", config.ollama_url,
                                "Ollama base URL, e.g. http://ollama:11434 (unset: none)")
                ->group(name);
            options::add_list(app, "--ollama-models", config.ollama_models,
                              "comma list of models that must be present, e.g. llava:13b-v1.6")
                ->group(name);
            break;
        }
        case SettingGroup::analysis: {
            const char* name = "Analysis";
            options::add_choice(app, "--analyzer", config.analyzer,
                                "builtin, avinash or ollama (default: avinash when EYE_AI_URL "
                                "is set, else builtin)",
                                {"builtin", "avinash", "ollama"})
                ->group(name);
            options::add_string(app, "--ai-shared-prefix", config.ai_shared_prefix,
                                "EYE_MEDIA_ROOT as the AI service sees it")
                ->group(name);
            options::add_string(app, "--ai-captioning-model", config.ai_captioning_model,
                                "captioning model requested from the AI service")
                ->group(name);
            options::add_string(app, "--ai-embedding-model", config.ai_embedding_model,
                                "embedding model requested from the AI service")
                ->group(name);
            options::add_bool(app, "--ai-use-ollama", config.ai_use_ollama,
                              "ask the AI service to describe images with Ollama")
                ->group(name);
            options::add_string(app, "--ollama-vision-model", config.ollama_vision_model,
                                "model the ollama analyzer describes images with (default: "
                                "first of EYE_OLLAMA_MODELS)")
                ->group(name);
            options::add_string(app, "--ollama-embed-model", config.ollama_embed_model,
                                "model the ollama analyzer embeds descriptions with (unset: "
                                "no embedding)")
                ->group(name);
            break;
        }
        case SettingGroup::storage: {
            const char* name = "Storage";
            app.add_option_function<std::string>(
                   "--media-root",
                   [&config](const std::string& value) { config.media_root = value; },
                   "directory media_files.file_path is relative to (default: current directory)")
                ->envname("EYE_MEDIA_ROOT")
                ->type_name("DIR")
                ->group(name);
            app.add_option_function<std::string>(
                   "--state-dir", [&config](const std::string& value) { config.state_dir = value; },
                   "exports, training state and metrics live here")
                ->envname("EYE_STATE_DIR")
                ->default_str(config.state_dir.string())
                ->type_name("DIR")
                ->group(name);
            break;
        }
        case SettingGroup::schedule: {
            const char* name = "Schedule";
            options::add_string(app, "--schedule", config.schedule_file,
                                "read the schedule from this file instead of eye's own table "
                                "(format: eye schedule:export --format=table)")
                ->type_name("FILE")
                ->group(name);
            options::add_string(app, "--timezone", config.time_zone,
                                "time zone the schedule's times are read on, e.g. "
                                "Europe/Berlin (default: TZ, else the system's)")
                ->type_name("ZONE")
                ->group(name);
            break;
        }
        case SettingGroup::training: {
            const char* name = "Training";
            options::add_choice(app, "--trainer", config.trainer, "builtin, http or command",
                                {"builtin", "http", "command"})
                ->group(name);
            options::add_string(app, "--train-url", config.train_url,
                                "trainer URL: absolute, or a path under EYE_AI_URL")
                ->group(name);
            options::add_string(app, "--train-command", config.train_command,
                                "trainer command line (trainer 'command')")
                ->group(name);
            break;
        }
    }
}

void resolve_config(Config& config) {
    if (config.database_url.empty()) {
        if (auto url = env("EYE_DATABASE_URL"); !url.empty()) {
            config.database_url = url;
        } else if (auto path = env("EYE_DATABASE_URL_FILE"); !path.empty()) {
            config.database_url =
                read_secret_file("EYE_DATABASE_URL_FILE", path, "the database URL");
        } else {
            config.database_url = env("DATABASE_URL");
        }
    }
    if (config.ai_token.empty()) {
        if (auto path = env("EYE_AI_TOKEN_FILE"); !path.empty()) {
            config.ai_token = read_secret_file("EYE_AI_TOKEN_FILE", path, "the token");
        }
    }
    if (config.analyzer.empty()) {
        config.analyzer = config.ai_url.empty() ? "builtin" : "avinash";
    }
    if (config.media_root.empty()) {
        config.media_root = std::filesystem::current_path();
    }
    if (config.ollama_vision_model.empty() && !config.ollama_models.empty()) {
        config.ollama_vision_model = config.ollama_models.front();
    }
    for (const auto& [url, name, example] :
         {std::tuple{&config.ai_url, "EYE_AI_URL (--ai-url)", "http://python-ai:8000"},
          std::tuple{&config.ollama_url, "EYE_OLLAMA_URL (--ollama-url)", "http://ollama:11434"}}) {
        if (!url->empty() && url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
            throw ConfigError(fmt::format("{} '{}' is not an http:// or https:// URL", name, *url),
                              fmt::format("write it with its scheme, e.g. {}", example));
        }
    }
}

}  // namespace eye
