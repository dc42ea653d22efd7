#include "eye/tasks/import.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>

#include <fmt/format.h>

#include "eye/analyzers/image/format.hpp"
#include "eye/analyzers/media_path.hpp"
#include "eye/config/options.hpp"
#include "eye/core/digest.hpp"
#include "eye/core/error.hpp"
#include "eye/core/file.hpp"
#include "eye/core/stop.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/queue/queue.hpp"

namespace eye::tasks {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Columns an import fills; any other NOT NULL column without a default makes the import
// impossible on that table, and is named before anything is written.
const std::set<std::string> k_filled = {
    "media_type",        "file_path",  "original_filename", "mime_type", "file_size", "file_hash",
    "processing_status", "created_at", "updated_at",        "user_id",   "id"};

const db::Statement k_required_columns{
    "import.required_columns",
    "SELECT a.attname FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass('media_files') AND a.attnum > 0 AND NOT a.attisdropped "
    "  AND a.attnotnull AND NOT a.atthasdef AND a.attidentity = ''"};

const db::Statement k_has_user_id{
    "import.has_user_id",
    "SELECT count(*) > 0 FROM pg_attribute WHERE attrelid = to_regclass('media_files') "
    "AND attname = 'user_id' AND NOT attisdropped"};

// one lookup per hash: eye_media_files_file_hash is a hash index, which = ANY cannot use
const db::Statement k_known_hashes{
    "import.known_hashes",
    "SELECT DISTINCT ON (h.hash) h.hash, m.id, m.file_path "
    "FROM unnest($1::text[]) AS h(hash) "
    "JOIN media_files m ON m.file_hash = h.hash AND m.deleted_at IS NULL "
    "ORDER BY h.hash, m.id"};

// live rows at these paths: a file changed since it was registered is not registered twice
const db::Statement k_known_paths{
    "import.known_paths",
    "SELECT DISTINCT ON (p.path) p.path, m.id "
    "FROM unnest($1::text[]) AS p(path) "
    "JOIN media_files m ON m.file_path = p.path AND m.deleted_at IS NULL "
    "ORDER BY p.path, m.id"};

const db::Statement k_insert{"import.insert",
                             R"sql(
INSERT INTO media_files (media_type, file_path, original_filename, mime_type, file_size,
                         file_hash, processing_status, created_at, updated_at)
SELECT 'image', f.path, f.name, f.mime, f.size, f.hash, 'pending',
       $6::timestamptz::timestamp, $6::timestamptz::timestamp
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
     WITH ORDINALITY AS f(path, name, mime, size, hash, n)
ORDER BY f.n
RETURNING id
)sql"};

const db::Statement k_insert_with_user{"import.insert_with_user",
                                       R"sql(
INSERT INTO media_files (user_id, media_type, file_path, original_filename, mime_type,
                         file_size, file_hash, processing_status, created_at, updated_at)
SELECT $7::bigint, 'image', f.path, f.name, f.mime, f.size, f.hash, 'pending',
       $6::timestamptz::timestamp, $6::timestamptz::timestamp
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
     WITH ORDINALITY AS f(path, name, mime, size, hash, n)
ORDER BY f.n
RETURNING id
)sql"};

struct Candidate {
    fs::path path;
    std::string relative;
    bool named = false;  // given as an argument, not found in a directory
};

struct Registered {
    std::string relative;
    std::string name;
    std::string mime;
    std::int64_t size = 0;
    std::string hash;
};

struct Totals {
    std::int64_t found = 0;
    std::int64_t imported = 0;
    std::int64_t already_registered = 0;
    std::int64_t duplicates = 0;  // the same content twice in this import
    std::int64_t not_images = 0;
    std::int64_t unreadable = 0;
    std::int64_t outside = 0;
    std::int64_t queued = 0;
    std::vector<std::int64_t> ids;
};

// The analyzers refuse images larger than this; reading one whole to hash it would be wasted.
constexpr std::uint64_t k_max_file_bytes = 100ull * 1024 * 1024;

// Every image file named by the arguments, in a stable order. Arguments that cannot be used are
// refused before anything is written.
std::vector<Candidate> collect(const fs::path& root, const std::vector<std::string>& paths,
                               Totals& totals) {
    std::vector<fs::path> files;
    std::set<fs::path> named;
    for (const auto& argument : paths) {
        std::error_code error;
        fs::path path = fs::absolute(argument, error);
        auto status = fs::status(path, error);
        if (error || !fs::exists(status)) {
            throw IoError(fmt::format("cannot read '{}': {}", argument,
                                      error ? error.message() : "No such file or directory"),
                          "check the path");
        }
        if (!analyzers::relative_to_root(root, path) && fs::weakly_canonical(path, error) != root) {
            throw UsageError(
                fmt::format("'{}' is outside EYE_MEDIA_ROOT '{}'", argument, root.string()),
                "import files below the media root, or set EYE_MEDIA_ROOT");
        }
        if (fs::is_directory(status)) {
            for (fs::recursive_directory_iterator
                     it(path, fs::directory_options::skip_permission_denied, error),
                 end;
                 it != end; it.increment(error)) {
                if (error) {
                    log::warning("cannot read a directory under '{}': {}", argument,
                                 error.message());
                    break;
                }
                // every file: what it holds decides, not its name
                if (it->is_regular_file(error)) {
                    files.push_back(it->path());
                }
            }
        } else {
            files.push_back(path);
            named.insert(files.back().lexically_normal());
        }
    }
    std::sort(files.begin(), files.end());
    files.erase(std::unique(files.begin(), files.end()), files.end());

    std::vector<Candidate> candidates;
    for (const auto& file : files) {
        auto relative = analyzers::relative_to_root(root, file);
        if (!relative) {
            // a symbolic link that leads out of the media root
            log::warning("refused '{}': it leads outside EYE_MEDIA_ROOT", file.string());
            ++totals.outside;
            continue;
        }
        candidates.push_back({file, *relative, named.count(file.lexically_normal()) > 0});
    }
    totals.found = static_cast<std::int64_t>(candidates.size());
    return candidates;
}

std::string totals_json(const Totals& totals, bool dry_run) {
    json::Writer w;
    w.begin_object();
    w.field("dry_run", dry_run);
    w.field("found", totals.found);
    // a dry run wrote nothing: its counts are what it would do
    w.field(dry_run ? "would_import" : "imported", totals.imported);
    w.field(dry_run ? "would_queue" : "queued", totals.queued);
    w.field("already_registered", totals.already_registered);
    w.field("duplicates_in_import", totals.duplicates);
    w.field("not_images", totals.not_images);
    w.field("unreadable", totals.unreadable);
    w.field("outside_media_root", totals.outside);
    w.end_object();
    return w.take();
}

class Importer {
public:
    Importer(Context& context, const ImportOptions& options)
        : m_context(context), m_options(options) {}

    Outcome run();

private:
    void check_table();
    void import_batch(std::vector<Registered>& batch);

    Context& m_context;
    const ImportOptions& m_options;
    Totals m_totals;
    std::set<std::string> m_seen;  // hashes this import registered or chose, across batches
    bool m_with_user = false;
};

void Importer::check_table() {
    db::Transaction tx(*m_context.db, db::Transaction::Mode::autocommit);
    bool has_user = tx.one(k_has_user_id)[0].as<bool>();
    std::vector<std::string> missing;
    for (const auto& row : tx.many(k_required_columns)) {
        auto column = row[0].as<std::string>();
        if (column == "user_id" && m_options.user_id == 0) {
            throw UsageError("media_files.user_id is required on this database",
                             "pass --user-id with the id of the user who owns the images");
        }
        if (k_filled.count(column) == 0) {
            missing.push_back(column);
        }
    }
    if (!missing.empty()) {
        throw ConfigError(fmt::format("media_files has required columns eye cannot fill: {}",
                                      fmt::join(missing, ", ")),
                          "import through the application, or give those columns defaults");
    }
    if (m_options.user_id != 0 && !has_user) {
        throw UsageError("--user-id was given but media_files has no user_id column",
                         "leave out --user-id");
    }
    m_with_user = m_options.user_id != 0;
}

void Importer::import_batch(std::vector<Registered>& batch) {
    if (batch.empty()) {
        return;
    }
    std::vector<std::string> hashes;
    std::vector<std::string> relatives;
    for (const auto& file : batch) {
        hashes.push_back(file.hash);
        relatives.push_back(file.relative);
    }
    db::Transaction tx(*m_context.db);
    std::map<std::string, std::pair<std::int64_t, std::string>> known;
    for (const auto& row : tx.many(k_known_hashes, hashes)) {
        known[row[0].as<std::string>()] = {row[1].as<std::int64_t>(), row[2].as<std::string>()};
    }
    std::map<std::string, std::int64_t> known_paths;
    for (const auto& row : tx.many(k_known_paths, relatives)) {
        known_paths[row[0].as<std::string>()] = row[1].as<std::int64_t>();
    }
    std::vector<std::string> paths, names, mimes, digests;
    std::vector<std::int64_t> sizes;
    for (const auto& file : batch) {
        if (auto it = known.find(file.hash); it != known.end()) {
            log::info("skipped '{}': same content as media {} ('{}')", file.relative,
                      it->second.first, it->second.second);
            ++m_totals.already_registered;
            continue;
        }
        if (auto it = known_paths.find(file.relative); it != known_paths.end()) {
            log::warning(
                "skipped '{}': registered already as media {} with other content; hint: "
                "eye-reanalyze --priority=oldest analyzes it again in time",
                file.relative, it->second);
            ++m_totals.already_registered;
            continue;
        }
        if (!m_seen.insert(file.hash).second) {
            log::info("skipped '{}': same content as another file of this import", file.relative);
            ++m_totals.duplicates;
            continue;
        }
        paths.push_back(file.relative);
        names.push_back(file.name);
        mimes.push_back(file.mime);
        sizes.push_back(file.size);
        digests.push_back(file.hash);
    }
    if (!paths.empty() && !m_context.dry_run) {
        pqxx::result rows =
            m_with_user ? tx.many(k_insert_with_user, paths, names, mimes, sizes, digests,
                                  m_context.now, m_options.user_id)
                        : tx.many(k_insert, paths, names, mimes, sizes, digests, m_context.now);
        std::vector<std::int64_t> ids;
        for (const auto& row : rows) {
            ids.push_back(row[0].as<std::int64_t>());
        }
        queue::EnqueueOptions enqueue;
        enqueue.reason = "import";
        auto queued = queue::enqueue(tx, ids, enqueue, m_context.now);
        m_totals.queued += queued.queued;
        m_totals.ids.insert(m_totals.ids.end(), ids.begin(), ids.end());
    }
    tx.commit();
    m_totals.imported += static_cast<std::int64_t>(paths.size());
    batch.clear();
}

Outcome Importer::run() {
    std::error_code root_error;
    fs::path root = fs::weakly_canonical(m_context.config.media_root, root_error);
    if (root_error || !fs::is_directory(root, root_error)) {
        throw ConfigError(fmt::format("EYE_MEDIA_ROOT '{}' is not a directory", root.string()),
                          "set EYE_MEDIA_ROOT to the directory media_files.file_path is "
                          "relative to");
    }
    check_table();
    auto candidates = collect(root, m_options.paths, m_totals);
    log::info("found {} file(s) under '{}'", candidates.size(), root.string());

    std::vector<Registered> batch;
    auto started = Clock::now();
    auto last_progress = started;
    std::size_t done = 0;
    bool interrupted = false;
    for (const auto& candidate : candidates) {
        if (stop::requested()) {
            interrupted = true;
            break;
        }
        // read as the worker will: beneath the root, so what is registered is what it finds
        auto bytes = read_file_beneath(root, candidate.relative, k_max_file_bytes);
        ++done;
        if (!bytes) {
            const ReadError& error = bytes.error();
            log::warning("skipped '{}': {}", candidate.relative,
                         error.kind == ReadError::Kind::too_large
                             ? fmt::format("it is larger than {}", format_size(k_max_file_bytes))
                             : "cannot read it: " + error.reason(k_max_file_bytes));
            ++m_totals.unreadable;
            continue;
        }
        std::string mime = analyzers::sniff_mime(*bytes);
        if (mime.empty()) {
            // a folder's sidecar files and videos are expected; a file named on purpose is not
            const auto level = candidate.named ? log::Level::warning : log::Level::debug;
            if (log::enabled(level)) {
                log::write(level,
                           fmt::format("skipped '{}': not an image eye analyzes ({})",
                                       candidate.relative, analyzers::describe_format(*bytes)));
            }
            ++m_totals.not_images;
            continue;
        }
        batch.push_back({candidate.relative, candidate.path.filename().string(), mime,
                         static_cast<std::int64_t>(bytes->size()), sha256_hex(*bytes)});
        if (static_cast<long long>(batch.size()) >= m_options.batch_size) {
            import_batch(batch);
        }
        if (Clock::now() - last_progress > std::chrono::seconds(2)) {
            last_progress = Clock::now();
            double seconds = std::chrono::duration<double>(Clock::now() - started).count();
            log::info("{} of {} files read, {} imported ({:.0f} files/s)", done, candidates.size(),
                      m_totals.imported, static_cast<double>(done) / seconds);
        }
    }
    if (!interrupted) {
        import_batch(batch);
    }

    Outcome outcome;
    if (m_context.dry_run) {
        // every image it would register gets its analysis job
        m_totals.queued = m_totals.imported;
    }
    outcome.summary_json = totals_json(m_totals, m_context.dry_run);
    const char* would = m_context.dry_run ? "would import" : "imported";
    if (m_options.format == "json") {
        m_context.out << outcome.summary_json << "\n";
    } else {
        m_context.out << fmt::format(
            "{} {} of {} file(s) found; {} already registered, {} duplicate(s) within this "
            "import, {} not images, {} unreadable, {} outside EYE_MEDIA_ROOT; {} {} analysis "
            "job(s)\n",
            would, m_totals.imported, m_totals.found, m_totals.already_registered,
            m_totals.duplicates, m_totals.not_images, m_totals.unreadable, m_totals.outside,
            m_context.dry_run ? "would queue" : "queued", m_totals.queued);
    }
    outcome.note = fmt::format("{} {}, skipped {}", would, m_totals.imported,
                               m_totals.already_registered + m_totals.duplicates);
    outcome.metrics = {
        {"imported", static_cast<double>(m_totals.imported), "Files the last run registered."},
        {"skipped", static_cast<double>(m_totals.already_registered + m_totals.duplicates),
         "Files the last run skipped: registered already, or duplicates."}};
    if (interrupted) {
        outcome.exit = ExitCode::temp_fail;
        outcome.status = RunStatus::failed;
        outcome.note +=
            fmt::format("; stopped by {} (run it again to import the rest)", stop::signal_name());
    }
    return outcome;
}

}  // namespace

void add_import_options(CLI::App& app, Config& config, ImportOptions& options) {
    add_settings(app, config, SettingGroup::storage);
    app.add_option("paths", options.paths, "image files or directories (searched recursively)")
        ->required()
        ->type_name("PATH");
    options::add_int(app, "--user-id", options.user_id,
                     "owner of the imported images, where media_files.user_id is required", 0,
                     std::numeric_limits<long long>::max());
    options::add_int(app, "--batch-size", options.batch_size, "files registered per transaction", 1,
                     100'000);
    options::add_choice(app, "--format", options.format, "report as text or JSON",
                        {"text", "json"});
}

Outcome run_import(Context& context, const ImportOptions& options) {
    Importer importer(context, options);
    return importer.run();
}

}  // namespace eye::tasks
