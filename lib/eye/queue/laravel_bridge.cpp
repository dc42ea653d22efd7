#include "eye/queue/laravel_bridge.hpp"

#include <algorithm>
#include <chrono>
#include <map>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/log/log.hpp"
#include "eye/queue/laravel_payload.hpp"
#include "eye/queue/queue.hpp"

namespace eye::queue {
namespace {

// The batch is written into the statement, not passed: a LIMIT parameter makes PostgreSQL cost
// the generic plan for a tenth of the table and plan the claim again at every poll.
constexpr const char* k_claim_template =
    "SELECT id, payload FROM jobs "
    "WHERE queue = ANY($1::text[]) AND reserved_at IS NULL AND available_at <= $2::bigint "
    "  AND id > $3::bigint AND strpos(payload, $4) > 0 "
    "ORDER BY id LIMIT {} "
    "FOR UPDATE SKIP LOCKED";

const db::Statement k_live_images{
    "laravel.live_images",
    "SELECT id FROM media_files "
    "WHERE id = ANY($1::bigint[]) AND media_type = 'image' AND deleted_at IS NULL"};

const db::Statement k_delete_laravel{"laravel.delete",
                                     "DELETE FROM jobs WHERE id = ANY($1::bigint[])"};

const db::Statement k_has_jobs{"laravel.has_jobs",
                               "SELECT to_regclass('jobs') IS NOT NULL AND "
                               "to_regclass('jobs') <> to_regclass('eye.jobs')"};

std::int64_t unix_seconds(TimePoint now) {
    return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
}

}  // namespace

LaravelBridge::LaravelBridge(std::vector<std::string> queues, int attempts, int batch)
    : m_queues(std::move(queues)),
      m_attempts(attempts),
      m_batch(batch),
      m_claim_name(fmt::format("laravel.claim.{}", batch)),
      m_claim_sql(fmt::format(fmt::runtime(k_claim_template), batch)) {}

BridgePoll LaravelBridge::poll(db::Transaction& tx, TimePoint now) {
    BridgePoll result;
    const db::Statement claim{m_claim_name.c_str(), m_claim_sql.c_str()};
    const auto rows =
        tx.many(claim, m_queues, unix_seconds(now), m_after, std::string(k_image_job_marker));
    result.full = static_cast<int>(rows.size()) == m_batch;
    if (!rows.empty()) {
        m_after = rows[rows.size() - 1][0].as<std::int64_t>();
    }
    // Laravel's ids only grow, so new uploads lie beyond the last row seen; rows passed by (held
    // by another worker then, or delayed) are looked at again when the walk starts over, once a
    // minute, not at every idle poll (with many rows left behind, that would read them all)
    if (!result.full && now - m_started_over > std::chrono::minutes(1)) {
        m_after = 0;
        m_started_over = now;
    }

    std::map<std::int64_t, std::int64_t> laravel_of_media;          // image id -> Laravel row
    std::vector<std::pair<std::int64_t, std::int64_t>> duplicates;  // (image, Laravel row)
    std::vector<std::int64_t> media_ids;
    auto leave = [&](std::int64_t laravel_id, const std::string& why) {
        ++result.left;
        if (m_reported.size() < 100'000 && m_reported.insert(laravel_id).second) {
            log::warning("Laravel job {} stays in its queue: {}", laravel_id, why);
        }
    };
    for (const auto& row : rows) {
        const auto laravel_id = row[0].as<std::int64_t>();
        auto media_id = image_analysis_id(std::string_view(row[1].c_str(), row[1].size()));
        if (!media_id) {
            leave(laravel_id, media_id.error());
            continue;
        }
        if (!laravel_of_media.emplace(*media_id, laravel_id).second) {
            duplicates.emplace_back(*media_id, laravel_id);  // goes the way of the first
            continue;
        }
        media_ids.push_back(*media_id);
    }
    std::vector<std::int64_t> images;
    if (!media_ids.empty()) {
        for (const auto& row : tx.many(k_live_images, media_ids)) {
            images.push_back(row[0].as<std::int64_t>());
        }
    }
    std::sort(images.begin(), images.end());
    std::vector<std::int64_t> taken;
    for (const auto& [media_id, laravel_id] : laravel_of_media) {
        if (std::binary_search(images.begin(), images.end(), media_id)) {
            taken.push_back(laravel_id);
        } else {
            leave(laravel_id, fmt::format("image {} is not a live image row (missing, deleted, or "
                                          "another media type, which upstream's worker handles)",
                                          media_id));
        }
    }
    // a second row for an image goes the way of the first: one analysis serves both
    for (const auto& [media_id, laravel_id] : duplicates) {
        if (std::binary_search(images.begin(), images.end(), media_id)) {
            taken.push_back(laravel_id);
        } else {
            leave(laravel_id, fmt::format("image {} is not a live image row", media_id));
        }
    }
    if (!taken.empty()) {
        EnqueueOptions options;
        options.reason = "upload";
        options.max_attempts = m_attempts;
        result.queued = enqueue(tx, images, options, now).queued;
        tx.none(k_delete_laravel, taken);
    }
    result.taken = static_cast<std::int64_t>(taken.size());
    return result;
}

BridgePoll LaravelBridge::take_uploads(db::Session& session, TimePoint now) {
    db::Transaction tx(session);
    const BridgePoll polled = poll(tx, now);
    tx.commit();
    if (polled.taken > 0) {
        log::info("took {} upload(s) from Laravel's queue: {} new job(s)", polled.taken,
                  polled.queued);
    }
    return polled;
}

void require_laravel_queue(db::Transaction& tx) {
    if (!tx.one(k_has_jobs)[0].as<bool>()) {
        throw ConfigError("--laravel-queue: this database has no Laravel jobs table",
                          "point EYE_DATABASE_URL at Avinash-EYE's database, or leave "
                          "--laravel-queue (EYE_LARAVEL_QUEUE) unset");
    }
}

}  // namespace eye::queue
