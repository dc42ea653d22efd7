#pragma once

#include <chrono>
#include <string>

#include "eye/runner/command.hpp"

// One Ollama model pull at a time across monitor runs and hosts. A pull can take half an hour;
// it holds a lock of its own ("ollama-pull"), apart from the monitor's, so the runs that start
// meanwhile still check and repair, and tell of the pull instead of starting another. The pulling
// run publishes its progress in its eye.runs summary, where those runs read it.
namespace eye::tasks::monitor {

class PullGate {
public:
    // Without a database (context.db null) there is nothing to coordinate through: every run
    // may pull.
    explicit PullGate(Context& context);
    ~PullGate();
    PullGate(const PullGate&) = delete;
    PullGate& operator=(const PullGate&) = delete;

    // Takes the pull lock; false when another run holds it (busy() then names it).
    bool acquire();
    // "a pull is in progress: llava:latest 50 % (host a, pid 7, since 2026-12-03T03:00:00Z)"
    const std::string& busy() const { return m_busy; }
    // Publishes how far the pull of `model` is, at most every two seconds.
    void publish(const std::string& model, double percent);

private:
    Context& m_context;
    bool m_locked = false;
    std::string m_busy;
    std::chrono::steady_clock::time_point m_published{};
};

}  // namespace eye::tasks::monitor
