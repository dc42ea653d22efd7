#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "eye/db/session.hpp"
#include "eye/runner/command.hpp"

// eye-export (export:training-data): the newest completed images with their real embeddings,
// tags, descriptions and faces, as training data (design section 7). A data file and a manifest
// beside it, each written under a temporary name, fsynced and renamed, so that a reader never
// finds half an export under an export's name; the rows are streamed (COPY), so memory stays
// flat however many there are. The newest --keep exports are kept.
namespace eye::tasks {

struct ExportOptions {
    long long limit = 5000;
    std::string format = "jsonl";  // jsonl | avinash
    std::string output_dir;        // default: $EYE_STATE_DIR/training/exports
    long long keep = 7;
};

// What one export wrote.
struct ExportFiles {
    std::filesystem::path data;      // eye-export-20261202T010000Z.jsonl (avinash: .json)
    std::filesystem::path manifest;  // eye-export-20261202T010000Z.manifest.json
    std::filesystem::path upstream;  // avinash: images_metadata.json beside them; else empty
    std::int64_t count = 0;
    std::uint64_t bytes = 0;
    std::string sha256;
    std::string created_at;
    // the analysis version most images have ("builtin-1+tags-3"; empty: analyzed before eye),
    // every version with its count, and the tag model current when it was written (empty: none)
    std::string model_version;
    std::vector<std::pair<std::string, std::int64_t>> model_versions;
    std::string tag_model;
};

struct ExportRequest {
    long long limit = 5000;
    std::string format = "jsonl";
    std::filesystem::path dir;
    long long keep = 7;
};

// Writes one export of the newest completed images into request.dir; nullopt when there is no
// completed image to export (nothing is written then). Throws IoError (74) when a file cannot be
// written, leaving no file under an export's name; TempFailError (75) when stopped by a signal.
std::optional<ExportFiles> write_export(db::Session& session, const ExportRequest& request,
                                        TimePoint now);

// $EYE_STATE_DIR/training/exports, where exports go unless told otherwise.
std::filesystem::path default_export_dir(const Config& config);

void add_export_options(CLI::App& app, Config& config, ExportOptions& options);
Outcome run_export(Context& context, const ExportOptions& options);

}  // namespace eye::tasks
