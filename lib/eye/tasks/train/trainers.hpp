#pragma once

#include <memory>
#include <optional>
#include <string>

#include "eye/config/config.hpp"
#include "eye/core/units.hpp"
#include "eye/learning/current_model.hpp"
#include "eye/tasks/export/export.hpp"

// The trainers eye-train runs on an export (design section 6): builtin (eye's own tag model),
// http (POST {"training_data_path", "format"} to EYE_TRAIN_URL) and command (EYE_TRAIN_COMMAND,
// for example upstream's `python /app/train_model.py`, with the export's paths in
// EYE_TRAINING_DATA and EYE_TRAINING_MANIFEST).
namespace eye::tasks {

struct TrainingInput {
    ExportFiles files;
    Milliseconds timeout{0};
    // the version in use, for the builtin trainer to compare with; null when there is none
    std::shared_ptr<const learning::CurrentModel> current;
    bool promote_always = false;
};

struct TrainingOutput {
    std::string metrics_json = "{}";   // eye.models.metrics
    std::optional<std::string> model;  // eye.models.model (builtin only)
    bool make_current = false;
    std::string summary;  // one line for the report
};

class Trainer {
public:
    virtual ~Trainer() = default;
    virtual std::string name() const = 0;
    // the export format the trainer reads: "jsonl" or "avinash"
    virtual std::string export_format() const = 0;
    // Trains on the export. Throws TaskFailedError (1) when the training failed or took longer
    // than the timeout, UnavailableError (69) when the trainer cannot be reached, TempFailError
    // (75) when stopped by a signal.
    virtual TrainingOutput train(const TrainingInput& input) = 0;
};

// The trainer the configuration names; ConfigError (78) when it lacks what it needs (a URL, a
// command).
std::unique_ptr<Trainer> make_trainer(const Config& config);

}  // namespace eye::tasks
