#include "eye/tasks/schedule/export.hpp"

#include <filesystem>
#include <ostream>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/core/file.hpp"
#include "eye/log/log.hpp"
#include "eye/schedule/export.hpp"
#include "eye/tasks/schedule/table.hpp"

namespace eye::tasks {

void add_schedule_export_options(CLI::App& app, Config& config, ScheduleExportOptions& options) {
    add_settings(app, config, SettingGroup::schedule);
    options::add_choice(app, "--format", options.format,
                        "crontab (/etc/cron.d), kubernetes (CronJobs and a Deployment), systemd "
                        "(services and timers), compose (beside an Avinash-EYE stack), or the "
                        "schedule table itself",
                        {"crontab", "kubernetes", "systemd", "compose", "table"});
    options::add_string(app, "--output", options.output,
                        "write the files into this folder instead of printing them")
        ->type_name("DIR");
    options::add_string(app, "--bindir", options.bindir,
                        "where the programs are installed (crontab, systemd)")
        ->type_name("DIR");
    options::add_string(app, "--user", options.user, "the user cron runs the tasks as");
    options::add_string(app, "--image", options.image, "the container image (kubernetes, compose)");
}

void validate_schedule_export_options(const Config&, const ScheduleExportOptions& options) {
    // cron and systemd run what they are given from wherever they are; a relative path would be
    // read from their working directory
    if (options.bindir.empty() || options.bindir.front() != '/') {
        throw UsageError(fmt::format("--bindir '{}' is not an absolute path", options.bindir),
                         "give the folder the programs are installed in, e.g. /usr/local/bin");
    }
}

Outcome run_schedule_export(Context& context, const ScheduleExportOptions& options) {
    auto tasks = active_schedule(context.config);
    schedule::ExportOptions exporting;
    exporting.bindir = options.bindir;
    exporting.user = options.user;
    exporting.image = options.image;
    if (!context.config.time_zone.empty()) {
        exporting.time_zone = context.config.time_zone;
    }
    std::vector<schedule::ExportedFile> files;
    if (options.format == "crontab") {
        files = schedule::export_crontab(tasks, exporting);
    } else if (options.format == "kubernetes") {
        files = schedule::export_kubernetes(tasks, exporting);
    } else if (options.format == "systemd") {
        files = schedule::export_systemd(tasks, exporting);
    } else if (options.format == "compose") {
        files = schedule::export_compose(tasks, exporting);
    } else {
        files = {{"schedule", schedule::schedule_table(tasks)}};
    }

    if (options.output.empty()) {
        // several files on stdout: Kubernetes reads them as one stream of documents; the others
        // are told apart by a comment naming each
        for (std::size_t i = 0; i < files.size(); ++i) {
            if (files.size() > 1) {
                context.out << (options.format == "kubernetes" ? "---\n" : "")
                            << fmt::format("# ==> {} <==\n", files[i].name);
            }
            context.out << files[i].content;
        }
    } else {
        std::error_code error;
        std::filesystem::create_directories(options.output, error);
        if (error) {
            throw IoError(
                fmt::format("cannot create the folder '{}': {}", options.output, error.message()),
                "give --output a folder that can be written");
        }
        for (const auto& file : files) {
            auto path = std::filesystem::path(options.output) / file.name;
            if (auto written = write_file_atomically(path, file.content); !written) {
                throw IoError(fmt::format("cannot write '{}': {}", path.string(), written.error()),
                              "give --output a folder that can be written");
            }
            log::info("wrote {}", path.string());
        }
    }
    Outcome outcome;
    outcome.note = fmt::format("{} file(s) of format {}", files.size(), options.format);
    return outcome;
}

}  // namespace eye::tasks
