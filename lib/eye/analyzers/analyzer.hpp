#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "eye/core/analysis_result.hpp"

// What every analyzer (builtin, avinash, ollama) is given, what it produces (AnalysisResult, in
// core/ because the database layer writes it) and how it fails.
namespace eye::analyzers {

// One image to analyze, as the worker found it in media_files.
struct MediaItem {
    std::int64_t id = 0;
    std::string file_path;                // as stored, relative to EYE_MEDIA_ROOT
    std::filesystem::path media_root;     // EYE_MEDIA_ROOT; read the file with read_media_file
    std::filesystem::path absolute_path;  // media_root / file_path, for messages

    // Points the item at the file at `path`, its folder as the media root (tools and tests).
    void set_file(const std::filesystem::path& path) {
        media_root = path.parent_path();
        file_path = path.filename().string();
        absolute_path = path;
    }
    std::string mime_type;  // as stored; may be empty
};

// An analysis that did not succeed. A permanent failure (corrupt file, 404 from the service) is
// not retried; a temporary one (timeout, 503, 5xx) is, with backoff. `unavailable` means the
// service could not be reached at all: that says nothing about the image, so the job goes back
// to the queue untried and the worker stops (exit 69) rather than burn every job's attempts.
class AnalysisError : public std::runtime_error {
public:
    enum class Kind { permanent, temporary, unavailable };

    AnalysisError(Kind kind, std::string message)
        : std::runtime_error(std::move(message)), m_kind(kind) {}

    Kind kind() const { return m_kind; }
    bool permanent() const { return m_kind == Kind::permanent; }

private:
    Kind m_kind;
};

class Analyzer {
public:
    virtual ~Analyzer() = default;

    // "builtin", "avinash" or "ollama", as eye.media_state records it.
    virtual std::string name() const = 0;
    // The model version this analyzer currently produces, compared by --priority=outdated.
    virtual std::string model_version() const = 0;

    // Whether its analyses carry an embedding (an ollama analyzer without an embed model gives
    // none): an image it analyzed without one is not missing one.
    virtual bool gives_embeddings() const { return true; }

    // Whether it reads the images itself beneath EYE_MEDIA_ROOT (builtin, ollama), so that a
    // missing media root is its problem; the avinash analyzer's service reads them from its own
    // volume.
    virtual bool reads_media_files() const { return false; }

    // Analyzes one image. Throws AnalysisError; must be safe to call from several threads at once
    // on different items.
    virtual AnalysisResult analyze(const MediaItem& item) = 0;

    // Installs a check that, once it returns true, makes analyses in progress stop as soon as
    // they can (a service request is cut off). Call before the first analyze(). An analyzer
    // whose work is short and bounded (builtin) may ignore it.
    virtual void set_abort_check(std::function<bool()> should_abort) { (void)should_abort; }
};

}  // namespace eye::analyzers
