#pragma once

#include "eye/core/units.hpp"
#include "eye/runner/command.hpp"

// eye-train (ai:auto-train): trains when enough new images arrived (design section 7). It
// exports, runs the trainer (builtin, http or command), records the run in eye.models and, for
// compatibility, writes Unix seconds to $EYE_STATE_DIR/training/last_training.txt. A failed
// training exits 1, is recorded as failed, and leaves the threshold clock where it was.
namespace eye::tasks {

struct TrainOptions {
    long long min_images = 50;  // completed images added since the last successful training
    long long min_total = 10;   // completed images in all
    bool force = false;
    long long limit = 5000;  // the export's
    long long keep = 7;      // exports kept
    std::string output_dir;  // the export's folder; default $EYE_STATE_DIR/training/exports
    Milliseconds timeout{3'600'000};
    std::string promote = "better";  // better | always
};

void add_train_options(CLI::App& app, Config& config, TrainOptions& options);
Outcome run_train(Context& context, const TrainOptions& options);

}  // namespace eye::tasks
