#include "eye/tasks/queue_retry.hpp"

#include <ostream>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/queue/queue.hpp"

namespace eye::tasks {
namespace {

// Removes the chosen failed jobs and returns their images that still exist; $1 = ids, or NULL
// for all.
const db::Statement k_take_failed{"queue_retry.take",
                                  R"sql(
WITH taken AS (
    DELETE FROM eye.failed_jobs
    WHERE $1::bigint[] IS NULL OR id = ANY($1::bigint[])
    RETURNING id, media_id
)
SELECT t.id, t.media_id, m.id IS NOT NULL
FROM taken t LEFT JOIN media_files m ON m.id = t.media_id AND m.deleted_at IS NULL
ORDER BY t.id
)sql"};

std::vector<std::int64_t> parse_ids(const std::vector<std::string>& words, bool& all) {
    all = words.size() == 1 && words[0] == "all";
    std::vector<std::int64_t> ids;
    if (all) {
        return ids;
    }
    for (const auto& word : words) {
        char* end = nullptr;
        long long id = std::strtoll(word.c_str(), &end, 10);
        if (word.empty() || *end != '\0' || id <= 0) {
            throw UsageError(fmt::format("'{}' is not a failed job id", word),
                             "pass ids from 'eye queue:failed', or 'all'");
        }
        ids.push_back(id);
    }
    return ids;
}

}  // namespace

void add_queue_retry_options(CLI::App& app, Config&, QueueRetryOptions& options) {
    app.add_option("ids", options.ids, "failed job ids (see 'eye queue:failed'), or 'all'")
        ->required()
        ->type_name("ID|all");
    options::add_choice(app, "--format", options.format, "report as text or JSON",
                        {"text", "json"});
}

Outcome run_queue_retry(Context& context, const QueueRetryOptions& options) {
    bool all = false;
    auto ids = parse_ids(options.ids, all);
    db::Transaction tx(*context.db);
    std::vector<std::int64_t> media;
    std::vector<std::int64_t> found;
    std::int64_t gone = 0;
    auto rows = all ? tx.many(k_take_failed, nullptr) : tx.many(k_take_failed, ids);
    for (const auto& row : rows) {
        found.push_back(row[0].as<std::int64_t>());
        if (row[2].as<bool>()) {
            media.push_back(row[1].as<std::int64_t>());
        } else {
            ++gone;
            log::info("failed job {}: its image {} no longer exists; dropped",
                      row[0].as<std::int64_t>(), row[1].as<std::int64_t>());
        }
    }
    std::vector<std::int64_t> unknown;
    for (auto id : ids) {
        if (std::find(found.begin(), found.end(), id) == found.end()) {
            unknown.push_back(id);
        }
    }
    queue::EnqueueOptions enqueue;
    enqueue.reason = "retry";
    auto queued = queue::enqueue(tx, media, enqueue, context.now);
    if (!context.dry_run) {
        tx.commit();
    }

    Outcome outcome;
    json::Writer w;
    w.begin_object();
    w.field("dry_run", context.dry_run);
    w.field("retried", static_cast<std::int64_t>(found.size()) - gone);
    w.field("queued", queued.queued);
    w.field("already_queued", queued.already_queued);
    w.field("images_gone", gone);
    w.key("not_found");
    w.begin_array();
    for (auto id : unknown) {
        w.value(id);
    }
    w.end_array();
    w.end_object();
    outcome.summary_json = w.take();
    if (options.format == "json") {
        context.out << outcome.summary_json << "\n";
    } else {
        context.out << fmt::format(
            "{}{} failed job(s) back in the queue ({} already queued); {} "
            "dropped because their image is gone\n",
            context.dry_run ? "would put " : "", found.size() - static_cast<std::size_t>(gone),
            queued.already_queued, gone);
    }
    outcome.note = fmt::format("{} retried", found.size() - static_cast<std::size_t>(gone));
    if (!unknown.empty()) {
        log::error("no failed job with id {}", fmt::join(unknown, ", "));
        outcome.exit = ExitCode::failed;
        outcome.status = RunStatus::failed;
    }
    return outcome;
}

}  // namespace eye::tasks
