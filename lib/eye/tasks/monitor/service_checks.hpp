#pragma once

#include "eye/config/config.hpp"
#include "eye/tasks/monitor/monitor.hpp"
#include "eye/tasks/monitor/report.hpp"

// The monitor's checks of the services eye talks to: the AI service and Ollama.
namespace eye::tasks::monitor {

// GET /health: critical when unreachable or failing, warning while it loads its models,
// skipped without EYE_AI_URL.
Check check_ai_service(const Config& config);

// /api/version and /api/tags: critical when unreachable, warning when a model of
// EYE_OLLAMA_MODELS is missing; with --fix pulls the missing models (recorded in `report`'s
// fixes), skipped without EYE_OLLAMA_URL.
Check check_ollama(const Config& config, const MonitorOptions& options, bool dry_run,
                   Report& report);

}  // namespace eye::tasks::monitor
