#pragma once

#include <string>

#include "eye/runner/command.hpp"

// schedule:export: the deployment files written from the schedule (crontab, Kubernetes
// manifests, systemd units, a compose file, or the table itself), on stdout or into a folder.
// The files under crontab/ are its output with the defaults.
namespace eye::tasks {

struct ScheduleExportOptions {
    std::string format = "crontab";  // crontab | kubernetes | systemd | compose | table
    std::string output;              // a folder to write the files into; empty: stdout
    std::string bindir = "/usr/local/bin";
    std::string user = "eye";
    std::string image = "eye:" EYE_VERSION;
};

void add_schedule_export_options(CLI::App& app, Config& config, ScheduleExportOptions& options);
void validate_schedule_export_options(const Config& config, const ScheduleExportOptions& options);
Outcome run_schedule_export(Context& context, const ScheduleExportOptions& options);

}  // namespace eye::tasks
