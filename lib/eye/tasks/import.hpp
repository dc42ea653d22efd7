#pragma once

#include <string>
#include <vector>

#include "eye/runner/command.hpp"

// media:import PATH...: registers image files (by content: analyzers/image/format.hpp) under
// EYE_MEDIA_ROOT as media_files rows and
// queues their analysis. Files whose content (sha256) is registered already are skipped and
// reported. Each batch of rows and its jobs is one transaction.
namespace eye::tasks {

struct ImportOptions {
    std::vector<std::string> paths;
    long long user_id = 0;  // 0: none given
    long long batch_size = 500;
    std::string format = "text";
};

void add_import_options(CLI::App& app, Config& config, ImportOptions& options);
Outcome run_import(Context& context, const ImportOptions& options);

}  // namespace eye::tasks
