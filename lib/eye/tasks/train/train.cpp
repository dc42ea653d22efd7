#include "eye/tasks/train/train.hpp"

#include <ostream>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/core/file.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/learning/current_model.hpp"
#include "eye/log/log.hpp"
#include "eye/tasks/export/export.hpp"
#include "eye/tasks/train/trainers.hpp"

namespace eye::tasks {
namespace {

// The clock of the threshold: the start of the last successful training.
const db::Statement k_last_success{
    "train.last_success",
    "SELECT started_at, version FROM eye.models WHERE status = 'succeeded' "
    "ORDER BY started_at DESC LIMIT 1"};

// Completed images added since a time (all of them without one). created_at is written in the
// session's time zone (EYE_DB_TIMEZONE), so the bound is turned into that zone's wall clock,
// which keeps the comparison on eye_media_files_newest.
const db::Statement k_new_images{
    "train.new_images",
    "SELECT count(*) FROM media_files "
    "WHERE media_type = 'image' AND deleted_at IS NULL AND processing_status = 'completed' "
    "  AND created_at > $1::timestamptz::timestamp"};

const db::Statement k_all_images{
    "train.all_images",
    "SELECT count(*) FROM media_files "
    "WHERE media_type = 'image' AND deleted_at IS NULL AND processing_status = 'completed'"};

const db::Statement k_enough_images{
    "train.enough_images",
    "SELECT count(*) FROM (SELECT 1 FROM media_files "
    "  WHERE media_type = 'image' AND deleted_at IS NULL AND processing_status = 'completed' "
    "  LIMIT $1) enough"};

const db::Statement k_begin{
    "train.begin",
    "WITH next AS (SELECT nextval(pg_get_serial_sequence('eye.models', 'id')) AS id) "
    "INSERT INTO eye.models (id, version, trainer, status, new_image_count, started_at) "
    "SELECT id, $1 || '-' || id, $2, 'running', $3, now() FROM next RETURNING id, version"};

const db::Statement k_succeeded{
    "train.succeeded",
    "UPDATE eye.models SET status = 'succeeded', finished_at = now(), image_count = $2, "
    "       metrics = $3::jsonb, export_path = $4, model = decode($5, 'hex') "
    "WHERE id = $1"};

const db::Statement k_unset_current{
    "train.unset_current",
    "UPDATE eye.models SET is_current = false WHERE is_current AND id <> $1"};

const db::Statement k_set_current{"train.set_current",
                                  "UPDATE eye.models SET is_current = true WHERE id = $1"};

const db::Statement k_failed{
    "train.failed",
    "UPDATE eye.models SET status = 'failed', finished_at = now(), error = $2, "
    "       export_path = coalesce($3, export_path) "
    "WHERE id = $1"};

std::string hex(const std::string& bytes) {
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += k_digits[c >> 4];
        out += k_digits[c & 15];
    }
    return out;
}

struct Gate {
    std::string last_version;
    std::int64_t new_images = 0;
    std::int64_t total = 0;  // at most min_total: enough to decide
};

Gate read_gate(db::Session& session, const TrainOptions& options) {
    db::Transaction tx(session);
    Gate gate;
    std::optional<std::string> since_param;  // the last successful training's start
    if (auto row = tx.at_most_one(k_last_success)) {
        since_param = (*row)[0].as<std::string>();
        gate.last_version = (*row)[1].as<std::string>();
    }
    gate.new_images = since_param ? tx.one(k_new_images, *since_param)[0].as<std::int64_t>()
                                  : tx.one(k_all_images)[0].as<std::int64_t>();
    gate.total =
        tx.one(k_enough_images, std::max<long long>(options.min_total, 1))[0].as<std::int64_t>();
    tx.commit();
    return gate;
}

void write_last_training(const Config& config, TimePoint now) {
    const auto path = config.state_dir / "training" / "last_training.txt";
    std::error_code error;
    std::filesystem::create_directories(path.parent_path(), error);
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    if (auto written = write_file_atomically(path, fmt::format("{}\n", seconds.count()));
        !written) {
        log::warning("cannot write '{}': {}", path.string(), written.error());
    }
}

}  // namespace

void add_train_options(CLI::App& app, Config& config, TrainOptions& options) {
    add_settings(app, config, SettingGroup::storage);
    add_settings(app, config, SettingGroup::ai);
    add_settings(app, config, SettingGroup::training);
    options::add_int(app, "--min-images", options.min_images,
                     "train only when at least this many completed images were added since the "
                     "last successful training (all count on the first run)",
                     0, 1'000'000'000);
    options::add_int(app, "--min-total", options.min_total,
                     "train only when at least this many completed images exist", 1, 1'000'000'000);
    options::add_switch(app, "--force", options.force, "train now, however many images are new");
    options::add_int(app, "--limit", options.limit,
                     "train on at most this many images, the newest (the export's --limit)", 1,
                     100'000'000);
    options::add_int(app, "--keep", options.keep, "exports kept in history", 1, 10'000);
    options::add_string(app, "--output-dir", options.output_dir,
                        "folder for the training's export (default: "
                        "$EYE_STATE_DIR/training/exports; upstream's train_model.py reads "
                        "/app/training_data/images_metadata.json)")
        ->type_name("DIR");
    options::add_duration(app, "--timeout", options.timeout,
                          "give up on a training that takes longer (e.g. 30m, 2h)",
                          Milliseconds(1'000));
    options::add_choice(app, "--promote", options.promote,
                        "better: a builtin model becomes current only when it does at least as "
                        "well as the current one on the same held-out images; always: it "
                        "becomes current regardless",
                        {"better", "always"});
}

Outcome run_train(Context& context, const TrainOptions& options) {
    std::unique_ptr<Trainer> trainer = make_trainer(context.config);
    Outcome outcome;
    const Gate gate = read_gate(*context.db, options);
    const std::string since =
        gate.last_version.empty()
            ? "(all count: there is no successful training yet)"
            : fmt::format("since the last successful training ({})", gate.last_version);
    if (gate.total == 0) {
        context.out << "nothing to train on: no completed image\n";
        outcome.note = "nothing to train on";
        return outcome;
    }
    const bool enough_new = gate.new_images >= options.min_images;
    const bool enough_total = gate.total >= options.min_total;
    if (!options.force && (!enough_new || !enough_total)) {
        const std::string why = !enough_total
                                    ? fmt::format("fewer than --min-total {} completed images ({})",
                                                  options.min_total, gate.total)
                                    : fmt::format("{} new image(s) {}, --min-images is {}",
                                                  gate.new_images, since, options.min_images);
        context.out << fmt::format("not training: {}; --force trains now\n", why);
        outcome.note = "not training: " + why;
        outcome.metrics.push_back({"new_images", static_cast<double>(gate.new_images),
                                   "Completed images added since the last successful training."});
        return outcome;
    }
    if (context.dry_run) {
        context.out << fmt::format("would train with the {} trainer: {} new image(s) {}\n",
                                   trainer->name(), gate.new_images, since);
        outcome.note = "dry run";
        return outcome;
    }

    std::int64_t id = 0;
    std::string version;
    {
        db::Transaction tx(*context.db);
        auto row = tx.one(k_begin, trainer->name() == "builtin" ? "tags" : trainer->name(),
                          trainer->name(), gate.new_images);
        id = row[0].as<std::int64_t>();
        version = row[1].as<std::string>();
        tx.commit();
    }
    log::info("training {} with the {} trainer: {} new image(s) {}", version, trainer->name(),
              gate.new_images, since);

    std::optional<ExportFiles> files;
    try {
        ExportRequest request;
        request.limit = options.limit;
        request.format = trainer->export_format();
        request.dir = options.output_dir.empty() ? default_export_dir(context.config)
                                                 : std::filesystem::path(options.output_dir);
        request.keep = options.keep;
        files = write_export(*context.db, request, context.now);
        if (!files) {
            throw TaskFailedError("nothing to train on: the export found no completed image");
        }
        TrainingInput input;
        input.files = *files;
        input.timeout = options.timeout;
        input.promote_always = options.promote == "always";
        {
            db::Transaction tx(*context.db);
            input.current = learning::load_current_model(tx);
            tx.commit();
        }
        TrainingOutput output = trainer->train(input);

        db::Transaction tx(*context.db);
        tx.none(k_succeeded, id, files->count, output.metrics_json, files->data.string(),
                output.model ? std::optional<std::string>(hex(*output.model)) : std::nullopt);
        if (output.make_current) {
            tx.none(k_unset_current, id);
            tx.none(k_set_current, id);
        }
        tx.commit();
        write_last_training(context.config, context.now);

        context.out << fmt::format("trained {} on {} image(s) from {}\n", version, files->count,
                                   files->data.string());
        context.out << output.summary << "\n";
        if (output.model) {
            context.out << (output.make_current
                                ? fmt::format("{} is now the current version\n", version)
                                : fmt::format("{} is recorded but not made current: it does "
                                              "worse than the current version on the same "
                                              "held-out images (--promote=always overrides)\n",
                                              version));
        }
        json::Writer summary;
        summary.begin_object();
        summary.field("version", version);
        summary.field("images", static_cast<long long>(files->count));
        summary.field("current", output.make_current);
        summary.end_object();
        outcome.summary_json = summary.take();
        outcome.note = fmt::format("trained {} on {} image(s)", version, files->count);
        outcome.metrics.push_back({"images", static_cast<double>(files->count),
                                   "Images the last training learned from."});
        return outcome;
    } catch (const Error& e) {
        try {
            db::Transaction tx(*context.db);
            tx.none(k_failed, id, std::string(e.what()),
                    files ? std::optional<std::string>(files->data.string()) : std::nullopt);
            tx.commit();
        } catch (const std::exception& again) {
            log::error("cannot record {} as failed: {}", version, again.what());
        }
        throw;
    }
}

}  // namespace eye::tasks
