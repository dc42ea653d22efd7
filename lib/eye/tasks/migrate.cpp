#include "eye/tasks/migrate.hpp"

#include <ostream>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"

namespace eye::tasks {
namespace {

std::string_view embedding_kind_name(db::EmbeddingColumn::Kind kind) {
    switch (kind) {
        case db::EmbeddingColumn::Kind::missing:
            return "missing";
        case db::EmbeddingColumn::Kind::vector:
            return "vector";
        case db::EmbeddingColumn::Kind::real_array:
            return "real[]";
        case db::EmbeddingColumn::Kind::other:
            return "other";
    }
    return "other";
}

std::string report_json(const db::MigrationReport& report, bool dry_run) {
    json::Writer w;
    w.begin_object();
    w.field("from_version", report.from_version);
    w.field("to_version", report.to_version);
    w.field("dry_run", dry_run);
    w.field("created_media_files", report.created_media_files);
    w.key("steps");
    w.begin_array();
    for (const auto& step : report.steps) {
        w.value(step);
    }
    w.end_array();
    if (!dry_run) {
        w.key("embedding");
        w.begin_object();
        w.field("kind", embedding_kind_name(report.embedding.kind));
        w.field("type", report.embedding.type_name);
        w.field("dimensions", report.embedding.dimensions);
        w.end_object();
    }
    w.end_object();
    return w.take();
}

}  // namespace

void add_migrate_options(CLI::App& app, Config&, MigrateOptions& options) {
    options::add_int(app, "--embedding-dimensions", options.embedding_dimensions,
                     "length of media_files.embedding when db:migrate creates the table "
                     "(upstream: 512)",
                     1, 16000);
    options::add_duration(app, "--lock-timeout", options.lock_timeout,
                          "give up (exit 75, run it again) when a step waits longer for a lock; "
                          "an index build it interrupts is redone by the next run",
                          Milliseconds(1));
    options::add_choice(app, "--format", options.format, "report as text or JSON",
                        {"text", "json"});
}

Outcome run_migrate(Context& context, const MigrateOptions& options) {
    db::MigrationOptions migration;
    migration.embedding_dimensions = static_cast<int>(options.embedding_dimensions);
    migration.dry_run = context.dry_run;
    migration.lock_timeout = options.lock_timeout;
    auto report = db::migrate(*context.db, migration);

    Outcome outcome;
    outcome.summary_json = report_json(report, context.dry_run);
    if (options.format == "json") {
        context.out << outcome.summary_json << "\n";
    } else {
        const char* verb = context.dry_run ? "would " : "";
        if (report.steps.empty()) {
            context.out << fmt::format("schema is current (version {})\n", report.to_version);
        }
        for (const auto& step : report.steps) {
            context.out << fmt::format("{}{}\n", verb, step);
        }
        if (!context.dry_run) {
            context.out << fmt::format("media_files.embedding: {}\n",
                                       report.embedding.type_name.empty()
                                           ? std::string("(no such column)")
                                           : report.embedding.type_name);
        }
    }
    outcome.note = report.steps.empty()
                       ? fmt::format("schema version {} is current", report.to_version)
                       : fmt::format("{}{} step(s), schema version {} -> {}",
                                     context.dry_run ? "would apply " : "", report.steps.size(),
                                     report.from_version, report.to_version);
    return outcome;
}

}  // namespace eye::tasks
