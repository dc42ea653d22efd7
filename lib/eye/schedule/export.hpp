#pragma once

#include <string>
#include <vector>

#include "eye/schedule/cron.hpp"
#include "eye/schedule/schedule.hpp"

// Deployment files written from the schedule table: a crontab, Kubernetes manifests, systemd
// units and a compose file. The committed ones under crontab/ are this output with the default
// options, and a test fails when they drift apart.
namespace eye::schedule {

struct ExportOptions {
    std::string bindir = "/usr/local/bin";  // where the programs are (crontab, systemd)
    std::string user = "eye";               // the crontab's user column
    std::string image = "eye:0.1.0";        // the container image (Kubernetes, compose)
    std::string time_zone = "Etc/UTC";      // the CronJobs' timeZone
};

struct ExportedFile {
    std::string name;  // "eye.crontab", "eye-monitor.yaml", "eye-monitor.timer"
    std::string content;
};

// crontab/eye.crontab: a /etc/cron.d file, one line per scheduled task.
std::vector<ExportedFile> export_crontab(const std::vector<ScheduledTask>& tasks,
                                         const ExportOptions& options);

// crontab/kubernetes/: a ConfigMap, a PersistentVolumeClaim for EYE_STATE_DIR, a CronJob per
// scheduled task and a Deployment per task kept running.
std::vector<ExportedFile> export_kubernetes(const std::vector<ScheduledTask>& tasks,
                                            const ExportOptions& options);

// crontab/systemd/: eye-<name>.service and .timer per scheduled task, eye-<name>.service with
// Restart=always per task kept running.
std::vector<ExportedFile> export_systemd(const std::vector<ScheduledTask>& tasks,
                                         const ExportOptions& options);

// crontab/compose.yaml: eye's scheduler and worker beside an Avinash-EYE compose stack.
std::vector<ExportedFile> export_compose(const std::vector<ScheduledTask>& tasks,
                                         const ExportOptions& options);

// systemd OnCalendar= values that together match what `cron` matches: one, or two when both
// day fields are restricted (cron takes a day matching either, systemd one matching both).
std::vector<std::string> systemd_calendar(const CronExpression& cron);

}  // namespace eye::schedule
