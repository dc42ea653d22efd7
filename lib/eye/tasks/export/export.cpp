#include "eye/tasks/export/export.hpp"

#include <algorithm>
#include <chrono>
#include <ostream>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/digest.hpp"
#include "eye/core/error.hpp"
#include "eye/core/file.hpp"
#include "eye/core/stop.hpp"
#include "eye/db/media.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/tasks/export/export_files.hpp"

namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t k_fetch_rows = 2000;
constexpr auto k_progress_every = std::chrono::seconds(5);

const db::Statement k_current_model{"export.current_model",
                                    "SELECT version FROM eye.models WHERE is_current LIMIT 1"};

// The rows an export takes, newest first. Columns the table lacks read as NULL; timestamps are
// read on the session's time zone (EYE_DB_TIMEZONE), which upstream writes them in.
struct ExportQuery {
    std::string rows_sql;
    std::string count_sql;

    explicit ExportQuery(const db::MediaTable& table) {
        auto column = [&](const char* name, const char* cast = "") {
            return table.has(name) ? fmt::format("m.{}{}", name, cast) : std::string("NULL");
        };
        const std::string filter =
            "m.media_type = 'image' AND m.deleted_at IS NULL AND m.processing_status = "
            "'completed'";
        rows_sql = fmt::format(
            "SELECT m.id, m.file_path, {}, {}, {}, {}, {}, {}, "
            "       extract(epoch from m.created_at::timestamptz), "
            "       s.analyzer, s.model_version, s.predicted_tags::text "
            "FROM media_files m LEFT JOIN eye.media_state s ON s.media_id = m.id "
            "WHERE {} "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT $1",
            column("description"), column("detailed_description"), column("meta_tags", "::text"),
            column("embedding", "::text"), column("face_count"), column("face_encodings", "::text"),
            filter);
        count_sql = fmt::format(
            "SELECT count(*) FROM (SELECT 1 FROM media_files m WHERE {} LIMIT $1) picked", filter);
    }
};

// A JSON array as the database wrote it, or nullopt when it is something else. pgvector writes
// "[1,2.5,-3e-05]", which is JSON already; a real[] comes as "{1,2.5}"; NaN and Infinity, which
// JSON has no words for, make the whole value unusable.
std::optional<std::string_view> json_array_text(const pqxx::field& field, std::string& scratch) {
    if (field.is_null()) {
        return std::nullopt;
    }
    std::string_view text(field.c_str(), field.size());
    if (text.size() < 2) {
        return std::nullopt;
    }
    if (text.front() == '{' && text.back() == '}') {
        scratch.assign(text);
        scratch.front() = '[';
        scratch.back() = ']';
        text = scratch;
    }
    if (text.front() != '[' || text.back() != ']') {
        return std::nullopt;
    }
    return text;
}

bool is_plain_number_list(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= '0' && c <= '9') || c == '.' || c == ',' || c == '-' || c == '+' || c == 'e' ||
               c == 'E' || c == '[' || c == ']' || c == ' ';
    });
}

// A json/jsonb column as text: passed on when it is the JSON kind expected ('[' or '{').
std::optional<std::string_view> json_text(const pqxx::field& field, char opening) {
    if (field.is_null() || field.size() == 0 || field.c_str()[0] != opening) {
        return std::nullopt;
    }
    return std::string_view(field.c_str(), field.size());
}

std::string file_name_of(std::string_view path) {
    auto slash = path.rfind('/');
    return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// One row as a JSON object, in the export's format.
class RowWriter {
public:
    explicit RowWriter(bool avinash) : m_avinash(avinash) {}

    std::string_view write(const pqxx::row& row) {
        m_json.clear();
        m_json.begin_object();
        const std::string file_path = row[1].as<std::string>();
        if (!m_avinash) {
            m_json.field("id", row[0].as<long long>());
            m_json.field("file_path", file_path);
        }
        m_json.field("filename", file_name_of(file_path));
        text_field("description", row[2]);
        text_field("detailed_description", row[3]);
        m_json.key("meta_tags");
        if (auto tags = json_text(row[4], '[')) {
            m_json.raw(*tags);
        } else {
            m_json.raw("[]");
        }
        m_json.field("face_count", row[6].is_null() ? 0 : row[6].as<int>());
        m_json.key("embedding");
        auto embedding = json_array_text(row[5], m_scratch);
        if (embedding && is_plain_number_list(*embedding)) {
            m_json.raw(*embedding);
        } else {
            m_json.null();
        }
        if (!m_avinash) {
            m_json.key("face_encodings");
            if (auto faces = json_text(row[7], '[')) {
                m_json.raw(*faces);
            } else {
                m_json.null();
            }
        }
        m_json.field("created_at", row[8].is_null()
                                       ? std::string()
                                       : format_iso8601(from_epoch(row[8].as<double>())));
        if (!m_avinash) {
            text_field("analyzer", row[9]);
            text_field("model_version", row[10]);
            m_json.key("predicted_tags");
            if (auto predicted = json_text(row[11], '{')) {
                m_json.raw(*predicted);
            } else {
                m_json.null();
            }
        }
        m_json.end_object();
        return m_json.view();
    }

private:
    void text_field(const char* name, const pqxx::field& field) {
        m_json.key(name);
        if (field.is_null()) {
            m_json.null();
        } else {
            m_json.value(std::string_view(field.c_str(), field.size()));
        }
    }

    bool m_avinash;
    json::Writer m_json;
    std::string m_scratch;
};

// The data file, and for avinash the copy under upstream's own name, written together.
class ExportWriter {
public:
    ExportWriter(const ExportNames& names, bool avinash) : m_avinash(avinash) {
        m_files.push_back(create(names.data));
        if (avinash) {
            m_files.push_back(create(names.upstream));
        }
    }

    void write(std::string_view bytes) {
        m_digest.update(bytes);
        for (auto& file : m_files) {
            if (auto written = file.write(bytes); !written) {
                fail(file, written.error());
            }
        }
    }

    void begin() {
        if (m_avinash) {
            write("[\n");
        }
    }

    void row(std::string_view json) {
        if (m_avinash) {
            write(m_rows == 0 ? "  " : ",\n  ");
            write(json);
        } else {
            write(json);
            write("\n");
        }
        ++m_rows;
    }

    void end() {
        if (m_avinash) {
            write(m_rows == 0 ? "]\n" : "\n]\n");
        }
    }

    // Makes the files appear under their names; returns the data file's sha256 and size.
    std::pair<std::string, std::uint64_t> commit() {
        std::uint64_t size = m_files.front().size();
        for (auto& file : m_files) {
            if (auto committed = file.commit(); !committed) {
                fail(file, committed.error());
            }
        }
        return {m_digest.finish_hex(), size};
    }

private:
    static AtomicFile create(const std::filesystem::path& path) {
        auto file = AtomicFile::create(path);
        if (!file) {
            throw IoError(fmt::format("cannot create '{}': {}", path.string(), file.error()),
                          "give --output-dir a folder eye can write to, on a disk with room");
        }
        return std::move(*file);
    }

    [[noreturn]] static void fail(const AtomicFile& file, const std::string& why) {
        throw IoError(fmt::format("cannot write '{}': {}", file.path().string(), why),
                      "make room on the disk or give --output-dir another folder; nothing was "
                      "left under the export's name");
    }

    bool m_avinash;
    std::vector<AtomicFile> m_files;
    Sha256 m_digest;
    std::int64_t m_rows = 0;
};

std::string manifest_json(const ExportFiles& files, const ExportRequest& request) {
    json::Writer w;
    w.begin_object();
    w.field("format", request.format);
    w.field("file", files.data.filename().string());
    w.field("count", static_cast<long long>(files.count));
    w.field("bytes", static_cast<unsigned long long>(files.bytes));
    w.field("sha256", files.sha256);
    w.field("created_at", files.created_at);
    w.field("schema_version", db::k_schema_version);
    if (files.model_version.empty()) {
        w.null_field("model_version");
    } else {
        w.field("model_version", files.model_version);
    }
    w.field("limit", request.limit);
    w.field("order", "created_at desc, id desc");
    w.end_object();
    return w.take() + "\n";
}

}  // namespace

std::filesystem::path default_export_dir(const Config& config) {
    return config.state_dir / "training" / "exports";
}

std::optional<ExportFiles> write_export(db::Session& session, const ExportRequest& request,
                                        TimePoint now) {
    db::Transaction tx(session);
    const db::MediaTable table = db::MediaTable::read(tx);
    const ExportQuery query(table);
    const db::Statement count_statement{"export.count", query.count_sql.c_str()};
    const std::int64_t total = tx.one(count_statement, request.limit)[0].as<std::int64_t>();
    if (total == 0) {
        return std::nullopt;
    }

    prepare_export_dir(request.dir);
    ExportFiles files;
    if (auto model = tx.at_most_one(k_current_model)) {
        files.model_version = (*model)[0].as<std::string>();
    }
    files.created_at = format_iso8601(now);
    const bool avinash = request.format == "avinash";
    ExportNames names = export_names(request.dir, now, avinash);
    ExportWriter writer(names, avinash);
    RowWriter rows(avinash);

    const db::Statement rows_statement{"export.rows", query.rows_sql.c_str()};
    tx.declare_cursor("eye_export", rows_statement, request.limit);
    log::info("exporting {} image(s) to {}", total, names.data.string());
    auto last_progress = Clock::now();
    writer.begin();
    while (true) {
        pqxx::result batch = tx.fetch("eye_export", k_fetch_rows);
        for (const auto& row : batch) {
            writer.row(rows.write(row));
        }
        files.count += static_cast<std::int64_t>(batch.size());
        if (batch.size() < k_fetch_rows) {
            break;
        }
        if (stop::requested()) {
            throw TempFailError(fmt::format("stopped by {} after {} of {} rows; nothing was "
                                            "left under the export's name",
                                            stop::signal_name(), files.count, total),
                                "run the export again");
        }
        if (Clock::now() - last_progress >= k_progress_every) {
            last_progress = Clock::now();
            log::info("exported {} of {} rows", files.count, total);
        }
    }
    writer.end();
    std::tie(files.sha256, files.bytes) = writer.commit();
    files.data = names.data;
    if (avinash) {
        files.upstream = names.upstream;
    }
    // the manifest comes last: an export with a manifest is complete
    files.manifest = names.manifest;
    if (auto written = write_file_atomically(names.manifest, manifest_json(files, request));
        !written) {
        throw IoError(
            fmt::format("cannot write '{}': {}", names.manifest.string(), written.error()),
            "make room on the disk or give --output-dir another folder");
    }
    tx.commit();
    prune_exports(request.dir, request.keep);
    return files;
}

void add_export_options(CLI::App& app, Config& config, ExportOptions& options) {
    add_settings(app, config, SettingGroup::storage);
    options::add_int(app, "--limit", options.limit, "export at most this many images, newest first",
                     1, 100'000'000);
    options::add_choice(app, "--format", options.format,
                        "jsonl (one image per line) or avinash (upstream's images_metadata.json "
                        "array, also written under that name)",
                        {"jsonl", "avinash"});
    options::add_string(app, "--output-dir", options.output_dir,
                        "folder for the exports (default: $EYE_STATE_DIR/training/exports)")
        ->type_name("DIR");
    options::add_int(app, "--keep", options.keep,
                     "keep this many exports, the newest; older ones are deleted", 1, 10'000);
}

Outcome run_export(Context& context, const ExportOptions& options) {
    ExportRequest request;
    request.limit = options.limit;
    request.format = options.format;
    request.dir = options.output_dir.empty() ? default_export_dir(context.config)
                                             : std::filesystem::path(options.output_dir);
    request.keep = options.keep;

    Outcome outcome;
    if (context.dry_run) {
        db::Transaction tx(*context.db);
        const ExportQuery query(db::MediaTable::read(tx));
        const db::Statement count_statement{"export.count", query.count_sql.c_str()};
        auto total = tx.one(count_statement, request.limit)[0].as<std::int64_t>();
        context.out << fmt::format("would export {} image(s) to {}\n", total, request.dir.string());
        outcome.note = fmt::format("would export {}", total);
        return outcome;
    }
    auto files = write_export(*context.db, request, context.now);
    if (!files) {
        context.out << "nothing to export: no completed image\n";
        outcome.note = "nothing to export";
        outcome.metrics.push_back({"images", 0, "Images the last export wrote."});
        return outcome;
    }
    context.out << fmt::format("exported {} image(s) to {}\n", files->count, files->data.string());
    context.out << fmt::format("manifest: {}\n", files->manifest.string());
    if (!files->upstream.empty()) {
        context.out << fmt::format("upstream's copy: {}\n", files->upstream.string());
    }
    json::Writer summary;
    summary.begin_object();
    summary.field("file", files->data.string());
    summary.field("count", static_cast<long long>(files->count));
    summary.field("bytes", static_cast<unsigned long long>(files->bytes));
    summary.field("sha256", files->sha256);
    summary.end_object();
    outcome.summary_json = summary.take();
    outcome.note = fmt::format("exported {} image(s), {} bytes", files->count, files->bytes);
    outcome.metrics.push_back(
        {"images", static_cast<double>(files->count), "Images the last export wrote."});
    outcome.metrics.push_back(
        {"bytes", static_cast<double>(files->bytes), "Size of the last export's data file."});
    return outcome;
}

}  // namespace eye::tasks
