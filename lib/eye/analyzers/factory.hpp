#pragma once

#include <memory>

#include "eye/analyzers/analyzer.hpp"
#include "eye/config/config.hpp"
#include "eye/core/units.hpp"

// Choosing the analyzer a configuration asks for, and checking its service before work starts.
namespace eye::analyzers {

// Builds the analyzer EYE_ANALYZER names (builtin, avinash or ollama). The embedding length is
// the media_files.embedding column's, 0 when unknown. With a per-job timeout, a service analyzer
// gives up (retries included) before it. Throws ConfigError when the configuration lacks what
// the analyzer needs (a URL, a model).
std::unique_ptr<Analyzer> make_analyzer(const Config& config, int embedding_dimensions,
                                        Milliseconds per_job_timeout = Milliseconds(0));

// Asks the analyzer's service whether it can work, before any job is claimed: a worker whose
// service is down would only give every job back. Throws UnavailableError when the service
// cannot be reached or lacks a model, ConfigError when it refuses eye's credentials; logs a
// warning when it answers but is not ready yet. Nothing to check for the builtin analyzer.
void check_service(const Config& config);

}  // namespace eye::analyzers
