#pragma once

#include "eye/runner/command.hpp"

// db:migrate: creates or upgrades the schema; idempotent.
namespace eye::tasks {

struct MigrateOptions {
    long long embedding_dimensions = 512;
    Milliseconds lock_timeout{60'000};
    std::string format = "text";
};

void add_migrate_options(CLI::App& app, Config& config, MigrateOptions& options);
Outcome run_migrate(Context& context, const MigrateOptions& options);

}  // namespace eye::tasks
