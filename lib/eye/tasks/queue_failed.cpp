#include "eye/tasks/queue_failed.hpp"

#include <ostream>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/time.hpp"
#include "eye/json/json.hpp"

namespace eye::tasks {
namespace {

const db::Statement k_failed{
    "queue_failed.list",
    "SELECT f.id, f.media_id, coalesce(m.file_path, ''), f.attempts, "
    "       extract(epoch from f.failed_at), f.error, coalesce(f.reason, ''), f.job_id "
    "FROM eye.failed_jobs f LEFT JOIN media_files m ON m.id = f.media_id "
    "ORDER BY f.failed_at DESC, f.id DESC LIMIT $1"};

const db::Statement k_count{"queue_failed.count", "SELECT count(*) FROM eye.failed_jobs"};

std::string iso(double epoch) {
    return format_iso8601(from_epoch(epoch), TimeZone::utc);
}

}  // namespace

void add_queue_failed_options(CLI::App& app, Config&, QueueFailedOptions& options) {
    options::add_int(app, "--limit", options.limit, "show at most this many, newest first", 1,
                     1'000'000);
    options::add_choice(app, "--format", options.format, "text table or JSON", {"text", "json"});
}

Outcome run_queue_failed(Context& context, const QueueFailedOptions& options) {
    db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
    auto total = tx.one(k_count)[0].as<std::int64_t>();
    auto rows = tx.many(k_failed, options.limit);
    if (options.format == "json") {
        json::Writer w;
        w.begin_object();
        w.field("total", total);
        w.key("failed_jobs");
        w.begin_array();
        for (const auto& row : rows) {
            w.begin_object();
            w.field("id", row[0].as<std::int64_t>());
            w.field("job_id", row[7].as<std::int64_t>());
            w.field("media_id", row[1].as<std::int64_t>());
            w.field("file_path", row[2].as<std::string>());
            w.field("attempts", row[3].as<int>());
            w.field("failed_at", iso(row[4].as<double>()));
            w.field("error", row[5].as<std::string>());
            w.field("reason", row[6].as<std::string>());
            w.end_object();
        }
        w.end_array();
        w.end_object();
        context.out << w.take() << "\n";
    } else if (rows.empty()) {
        context.out << "no failed jobs\n";
    } else {
        context.out << fmt::format("{:<10} {:<8} {:<8} {:<25} {:<8} {}\n", "FAILED ID", "JOB",
                                   "IMAGE", "FAILED AT", "ATTEMPTS", "ERROR");
        for (const auto& row : rows) {
            context.out << fmt::format(
                "{:<10} {:<8} {:<8} {:<25} {:<8} {} ({})\n", row[0].as<std::int64_t>(),
                row[7].as<std::int64_t>(), row[1].as<std::int64_t>(), iso(row[4].as<double>()),
                row[3].as<int>(), row[5].as<std::string>(), row[2].as<std::string>());
        }
        if (total > static_cast<std::int64_t>(rows.size())) {
            context.out << fmt::format("... {} more; see --limit\n",
                                       total - static_cast<std::int64_t>(rows.size()));
        }
        context.out << "retry with 'eye queue:retry FAILED_ID...' (or 'all'), or by image: 'eye "
                       "queue:retry --media IMAGE'\n";
    }
    Outcome outcome;
    outcome.note = fmt::format("{} failed job(s)", total);
    return outcome;
}

}  // namespace eye::tasks
