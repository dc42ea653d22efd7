#pragma once

#include <filesystem>

#include "eye/core/time.hpp"

// The files of the exports folder: their names, the folder itself, and the history kept.
namespace eye::tasks {

// The names of one export's files.
struct ExportNames {
    std::filesystem::path data;      // eye-export-20261202T010000Z.jsonl (avinash: .json)
    std::filesystem::path manifest;  // eye-export-20261202T010000Z.manifest.json
    std::filesystem::path upstream;  // images_metadata.json (what upstream's train_model.py reads)
};

// Names for an export made at `now`: eye-export-<UTC yyyymmddTHHMMSSZ>, with -2, -3, ... when an
// export of the same second is there already.
ExportNames export_names(const std::filesystem::path& dir, TimePoint now, bool avinash);

// Creates the folder (and its parents) and removes what exports killed outright left under
// temporary names more than a day ago. Throws IoError (74) when the folder cannot be made.
void prepare_export_dir(const std::filesystem::path& dir);

// Keeps the newest `keep` exports (an export is its manifest and its data file) and deletes the
// older ones, and data files without a manifest older than the oldest kept. What cannot be
// deleted is logged, not an error: the export itself succeeded.
void prune_exports(const std::filesystem::path& dir, long long keep);

}  // namespace eye::tasks
