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
// fixes), skipped without EYE_OLLAMA_URL. A pull gives the monitor's lock back and holds the
// pull's own (PullGate); while another run pulls, this one reports its progress instead.
// Called after the database repairs, since a pull can take long.
Check check_ollama(Context& context, const MonitorOptions& options, Report& report);

}  // namespace eye::tasks::monitor
