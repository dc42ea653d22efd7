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

// Removes the chosen failed jobs and returns their images that still exist; $1 = failed job
// ids, $2 = image ids, both NULL for all.
const db::Statement k_take_failed{"queue_retry.take",
                                  R"sql(
WITH taken AS (
    DELETE FROM eye.failed_jobs
    WHERE ($1::bigint[] IS NULL AND $2::bigint[] IS NULL) OR id = ANY($1::bigint[])
       OR media_id = ANY($2::bigint[])
    RETURNING id, media_id
)
SELECT t.id, t.media_id, m.id IS NOT NULL
FROM taken t LEFT JOIN media_files m ON m.id = t.media_id AND m.deleted_at IS NULL
ORDER BY t.id
)sql"};

// The live images among $1, for --media ids that have no failed job.
const db::Statement k_live_images{
    "queue_retry.live_images",
    "SELECT id FROM media_files WHERE id = ANY($1::bigint[]) AND deleted_at IS NULL ORDER BY id"};

// What else a number that is no failed job's id could be, for the hint: the job that failed (as
// the worker logged it), a job still in the queue, an image with failed jobs, an image.
const db::Statement k_what_is{"queue_retry.what_is", R"sql(
SELECT (SELECT string_agg(id::text, ', ' ORDER BY id) FROM eye.failed_jobs WHERE job_id = $1),
       (SELECT status FROM eye.jobs WHERE id = $1),
       (SELECT string_agg(id::text, ', ' ORDER BY id) FROM eye.failed_jobs WHERE media_id = $1),
       (SELECT processing_status FROM media_files WHERE id = $1 AND deleted_at IS NULL)
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
                             "pass FAILED IDs from 'eye queue:failed', 'all', or --media IMAGE_ID");
        }
        ids.push_back(id);
    }
    return ids;
}

// "no failed job with id 17" and what 17 is instead, if anything.
void report_unknown(db::Transaction& tx, std::int64_t id) {
    auto row = tx.one(k_what_is, id);
    std::string hint;
    if (!row[0].is_null()) {
        hint = fmt::format("job {} failed for good as failed job {}: run 'eye queue:retry {}'", id,
                           row[0].as<std::string>(), row[0].as<std::string>());
    } else if (!row[2].is_null()) {
        hint = fmt::format(
            "{} is an image id, and image {} has failed job(s) {}: run 'eye queue:retry --media "
            "{}'",
            id, id, row[2].as<std::string>(), id);
    } else if (!row[1].is_null()) {
        hint = fmt::format("{} is the id of a job that is {}, not failed", id,
                           row[1].as<std::string>());
    } else if (!row[3].is_null()) {
        hint = fmt::format(
            "{} is the id of an image ({}) with no failed job; 'eye queue:retry "
            "--media {}' queues its analysis",
            id, row[3].as<std::string>(), id);
    } else {
        hint = "see 'eye queue:failed' for the FAILED IDs";
    }
    log::error("no failed job with id {}; hint: {}", id, hint);
}

}  // namespace

void add_queue_retry_options(CLI::App& app, Config&, QueueRetryOptions& options) {
    app.add_option("ids", options.ids,
                   "FAILED IDs as 'eye queue:failed' lists them (not job or image ids), or 'all'")
        ->type_name("ID|all");
    app.add_option("--media", options.media,
                   "retry these images by image id (media_files.id): their failed jobs, or a "
                   "new analysis when they have none")
        ->type_name("IMAGE_ID")
        ->check(CLI::PositiveNumber)
        ->delimiter(',');
    options::add_choice(app, "--format", options.format, "report as text or JSON",
                        {"text", "json"});
}

void validate_queue_retry(const Config&, const QueueRetryOptions& options) {
    if (options.ids.empty() == options.media.empty()) {
        throw UsageError(options.ids.empty() ? "say what to retry"
                                             : "give either FAILED IDs (or 'all') or --media, "
                                               "not both",
                         "'eye queue:retry 2 5' (FAILED IDs from 'eye queue:failed'), 'eye "
                         "queue:retry all' or 'eye queue:retry --media 16' (image ids)");
    }
}

Outcome run_queue_retry(Context& context, const QueueRetryOptions& options) {
    bool all = false;
    auto ids = parse_ids(options.ids, all);
    const bool by_media = !options.media.empty();
    db::Transaction tx(*context.db);
    std::vector<std::int64_t> media;
    std::vector<std::int64_t> found;
    std::int64_t gone = 0;
    auto rows = all        ? tx.many(k_take_failed, nullptr, nullptr)
                : by_media ? tx.many(k_take_failed, nullptr, options.media)
                           : tx.many(k_take_failed, ids, nullptr);
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
            report_unknown(tx, id);
        }
    }
    // --media: an image with no failed job (pruned, or it failed under upstream) is analyzed
    // again all the same; an id that is no live image is an error
    std::int64_t fresh = 0;
    if (by_media) {
        std::vector<std::int64_t> without_failed;
        for (auto id : options.media) {
            if (std::find(media.begin(), media.end(), id) == media.end()) {
                without_failed.push_back(id);
            }
        }
        std::vector<std::int64_t> live;
        for (const auto& row : tx.many(k_live_images, without_failed)) {
            live.push_back(row[0].as<std::int64_t>());
        }
        for (auto id : without_failed) {
            if (std::find(live.begin(), live.end(), id) == live.end()) {
                unknown.push_back(id);
                log::error(
                    "no image with id {}; hint: image ids are media_files.id, as "
                    "'eye media:list' and 'eye queue:failed' (IMAGE) show them",
                    id);
            }
        }
        fresh = static_cast<std::int64_t>(live.size());
        media.insert(media.end(), live.begin(), live.end());
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
    // a dry run put nothing back: its counts are what it would do
    w.field("dry_run", context.dry_run);
    w.field(context.dry_run ? "would_retry" : "retried",
            static_cast<std::int64_t>(found.size()) - gone);
    w.field(context.dry_run ? "would_queue" : "queued", queued.queued);
    w.field("already_queued", queued.already_queued);
    w.field("images_gone", gone);
    w.field("images_without_failed_job", fresh);
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
        if (fresh > 0) {
            context.out << fmt::format("{} {} image(s) without a failed job for a new analysis\n",
                                       context.dry_run ? "would queue" : "queued", fresh);
        }
    }
    outcome.note = fmt::format("{} retried", found.size() - static_cast<std::size_t>(gone));
    if (!unknown.empty()) {
        outcome.exit = ExitCode::failed;
        outcome.status = RunStatus::failed;
    }
    return outcome;
}

}  // namespace eye::tasks
