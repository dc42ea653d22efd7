#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "eye/core/units.hpp"

// The settings that several commands share (design §3). Each command registers the groups it
// uses, so its --help lists exactly what it reads.
namespace eye {

struct Config {
    // every command
    std::string database_url;  // resolved by resolve_config(): flag > EYE_DATABASE_URL > ...
    std::string log_level = "info";
    std::string log_format = "text";
    std::string db_timezone = "UTC";
    Milliseconds statement_timeout{60'000};
    Milliseconds connect_timeout{10'000};

    // the AI service (Avinash-EYE python-ai)
    std::string ai_url;
    std::string ai_token;
    std::string ai_shared_prefix = "/app/shared/";
    std::string ai_captioning_model = "florence";
    std::string ai_embedding_model = "clip";
    bool ai_use_ollama = false;
    Milliseconds http_timeout{10'000};

    // Ollama
    std::string ollama_url;
    std::vector<std::string> ollama_models;
    std::string ollama_vision_model;
    std::string ollama_embed_model;

    // analysis
    std::string analyzer;  // resolved: builtin | avinash | ollama
    std::filesystem::path media_root;
    int embedding_dimensions = 512;

    // files and reporting
    std::filesystem::path state_dir = "/var/lib/eye";
    std::string metrics_dir;
    std::string ping_url;

    // the schedule
    std::string schedule_file;  // EYE_SCHEDULE: a table to use instead of the built-in one
    std::string time_zone;      // EYE_TIMEZONE: the zone schedules are read on (else TZ)

    // training
    std::string trainer = "builtin";
    std::string train_url = "/train";
    std::string train_command;
};

enum class SettingGroup { ai, ollama, analysis, storage, schedule, training };

// --database-url, --log-level, --log-format, --db-timezone, --statement-timeout; --config is
// registered by the runner because CLI11 owns it.
void add_common_settings(CLI::App& app, Config& config);
void add_settings(CLI::App& app, Config& config, SettingGroup group);

// Fills what the flags left open: the database URL from EYE_DATABASE_URL, EYE_DATABASE_URL_FILE
// or DATABASE_URL (else libpq's PG* defaults), the AI token from EYE_AI_TOKEN_FILE, the analyzer
// from EYE_AI_URL, the media root from the working directory. Throws ConfigError for a value it
// cannot use.
void resolve_config(Config& config);

}  // namespace eye
