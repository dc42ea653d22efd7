#pragma once

#include <chrono>
#include <string>

#include "eye/runner/command.hpp"

// What a run tells the outside world besides its log: a node_exporter textfile and
// healthchecks.io-style pings. Neither ever fails the task; problems are logged as warnings.
namespace eye::reporting {

struct RunTimes {
    TimePoint started;
    std::chrono::milliseconds duration{0};
};

// Writes <dir>/eye_<task>.prom atomically (temporary file, fsync, rename): last run and last
// success timestamps, duration, exit code and the task's own counts. The last success survives
// failed runs: it is carried over from the previous file.
void write_metrics(const std::string& dir, const std::string& task, const RunTimes& times,
                   const Outcome& outcome);

// Pings <base>/<slug>/start and then <base>/<slug>/<exit code>, paired by a run id.
class Pinger {
public:
    Pinger(std::string base_url, std::string slug);
    void start();
    void finish(ExitCode code);

private:
    void ping(const std::string& suffix);
    std::string m_base;
    std::string m_slug;
    std::string m_run_id;
};

}  // namespace eye::reporting
