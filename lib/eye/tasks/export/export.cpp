#include "eye/tasks/export/export.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <ostream>
#include <utility>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/digest.hpp"
#include "eye/core/error.hpp"
#include "eye/core/file.hpp"
#include "eye/core/stop.hpp"
#include "eye/db/copy_out.hpp"
#include "eye/db/media.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/tasks/export/export_files.hpp"

namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::int64_t k_check_every = 1000;  // rows between looks at the clock and signals
constexpr auto k_progress_every = std::chrono::seconds(5);

const db::Statement k_current_model{"export.current_model",
                                    "SELECT version FROM eye.models WHERE is_current LIMIT 1"};

// The rows an export takes, newest first. Columns the table lacks read as NULL; timestamps are
// read on the session's time zone (EYE_DB_TIMEZONE), which upstream writes them in.
struct ExportQuery {
    std::string count_sql;

    explicit ExportQuery(db::MediaTable table) : m_table(std::move(table)) {
        count_sql = fmt::format(
            "SELECT count(*) FROM (SELECT 1 FROM media_files m WHERE {} LIMIT $1) picked",
            k_filter);
    }

    // For COPY, which takes no parameter: the limit is a number eye checked (--limit), and
    // every other part is eye's own text.
    std::string rows_sql(long long limit) const {
        auto column = [&](const char* name, const char* cast = "") {
            return m_table.has(name) ? fmt::format("m.{}{}", name, cast) : std::string("NULL");
        };
        return fmt::format(
            "SELECT m.id, m.file_path, {}, {}, {}, {}, {}, {}, "
            "       extract(epoch from m.created_at::timestamptz), "
            "       s.analyzer, s.model_version, s.predicted_tags::text "
            "FROM media_files m LEFT JOIN eye.media_state s ON s.media_id = m.id "
            "WHERE {} "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT {}",
            column("description"), column("detailed_description"), column("meta_tags", "::text"),
            column("embedding", "::text"), column("face_count"), column("face_encodings", "::text"),
            k_filter, limit);
    }

private:
    static constexpr const char* k_filter =
        "m.media_type = 'image' AND m.deleted_at IS NULL AND m.processing_status = 'completed'";
    db::MediaTable m_table;
};

using Field = std::optional<std::string_view>;

// Counts the rows of each analysis version ("" for an image analyzed before eye); there are few.
void count_version(std::vector<std::pair<std::string, std::int64_t>>& versions,
                   std::string_view version) {
    for (auto& [seen, count] : versions) {
        if (seen == version) {
            ++count;
            return;
        }
    }
    versions.emplace_back(std::string(version), 1);
}

// The columns of ExportQuery::rows_sql, in its order.
enum Column : std::size_t {
    c_id,
    c_file_path,
    c_description,
    c_detailed_description,
    c_meta_tags,
    c_embedding,
    c_face_count,
    c_face_encodings,
    c_created_at,
    c_analyzer,
    c_model_version,
    c_predicted_tags,
    c_count
};

// A JSON array as the database wrote it, or nullopt when it is something else. pgvector writes
// "[1,2.5,-3e-05]", which is JSON already; a real[] comes as "{1,2.5}"; NaN and Infinity, which
// JSON has no words for, make the whole value unusable.
std::optional<std::string_view> json_array_text(const Field& field, std::string& scratch) {
    if (!field || field->size() < 2) {
        return std::nullopt;
    }
    std::string_view text = *field;
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
    static const auto k_allowed = [] {
        std::array<bool, 256> allowed{};
        for (unsigned char c : std::string_view("0123456789.,-+eE[] ")) {
            allowed[c] = true;
        }
        return allowed;
    }();
    for (unsigned char c : text) {
        if (!k_allowed[c]) {
            return false;
        }
    }
    return true;
}

// A json/jsonb column as text: passed on when it is the JSON kind expected ('[' or '{').
std::optional<std::string_view> json_text(const Field& field, char opening) {
    if (!field || field->empty() || field->front() != opening) {
        return std::nullopt;
    }
    return field;
}

// A number the database wrote as text (no copy of it per row); `fallback` for NULL or junk.
template <typename T>
T number_of(const Field& field, T fallback) {
    T value = fallback;
    if (field) {
        std::from_chars(field->data(), field->data() + field->size(), value);
    }
    return value;
}

std::string_view file_name_of(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// One row as a JSON object, in the export's format.
class RowWriter {
public:
    explicit RowWriter(bool avinash) : m_avinash(avinash) {}

    std::string_view write(const std::vector<Field>& row) {
        m_json.clear();
        m_json.begin_object();
        const std::string_view file_path = row[c_file_path].value_or("");
        if (!m_avinash) {
            m_json.key("id");
            m_json.raw(row[c_id].value_or("null"));
            m_json.field("file_path", file_path);
        }
        m_json.field("filename", file_name_of(file_path));
        text_field("description", row[c_description]);
        text_field("detailed_description", row[c_detailed_description]);
        m_json.key("meta_tags");
        m_json.raw(json_text(row[c_meta_tags], '[').value_or("[]"));
        m_json.field("face_count", number_of(row[c_face_count], 0));
        m_json.key("embedding");
        auto embedding = json_array_text(row[c_embedding], m_scratch);
        if (embedding && is_plain_number_list(*embedding)) {
            m_json.raw(*embedding);
        } else {
            m_json.null();
        }
        if (!m_avinash) {
            m_json.key("face_encodings");
            m_json.raw(json_text(row[c_face_encodings], '[').value_or("null"));
        }
        m_json.field("created_at",
                     row[c_created_at]
                         ? format_iso8601(from_epoch(number_of(row[c_created_at], 0.0)))
                         : std::string());
        if (!m_avinash) {
            text_field("analyzer", row[c_analyzer]);
            text_field("model_version", row[c_model_version]);
            m_json.key("predicted_tags");
            m_json.raw(json_text(row[c_predicted_tags], '{').value_or("null"));
        }
        m_json.end_object();
        return m_json.view();
    }

private:
    void text_field(const char* name, const Field& field) {
        m_json.key(name);
        if (!field) {
            m_json.null();
        } else {
            m_json.value(*field);
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
    // the version most of the images were analyzed with ("upstream": before eye, by
    // Avinash-EYE's own job), each version's count, and the tag model in use
    w.field("model_version", files.model_version.empty() ? "upstream" : files.model_version);
    w.key("model_versions");
    w.begin_object();
    for (const auto& [version, count] : files.model_versions) {
        w.field(version.empty() ? std::string("upstream") : version, static_cast<long long>(count));
    }
    w.end_object();
    if (files.tag_model.empty()) {
        w.null_field("tag_model");
    } else {
        w.field("tag_model", files.tag_model);
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
    const ExportQuery query(db::MediaTable::read(tx));
    const db::Statement count_statement{"export.count", query.count_sql.c_str()};
    const std::int64_t total = tx.one(count_statement, request.limit)[0].as<std::int64_t>();
    if (total == 0) {
        return std::nullopt;
    }

    prepare_export_dir(request.dir);
    ExportFiles files;
    if (auto model = tx.at_most_one(k_current_model)) {
        files.tag_model = (*model)[0].as<std::string>();
    }
    files.created_at = format_iso8601(now);
    const bool avinash = request.format == "avinash";
    ExportNames names = export_names(request.dir, now, avinash);
    ExportWriter writer(names, avinash);
    RowWriter rows(avinash);

    log::info("exporting {} image(s) to {}", total, names.data.string());
    auto last_progress = Clock::now();
    writer.begin();
    db::CopyOut rows_out(tx, "the export's rows", query.rows_sql(request.limit));
    std::vector<Field> row;
    std::vector<std::pair<std::string, std::int64_t>> versions;
    while (rows_out.next(row)) {
        if (row.size() != c_count) {
            throw Error(ExitCode::software,
                        fmt::format("the export's query gave {} columns, not {}", row.size(),
                                    static_cast<std::size_t>(c_count)));
        }
        writer.row(rows.write(row));
        count_version(versions, row[c_model_version].value_or(""));
        ++files.count;
        if (files.count % k_check_every != 0) {
            continue;
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
    files.model_versions = versions;
    if (!versions.empty()) {
        files.model_version =
            std::max_element(versions.begin(), versions.end(), [](const auto& a, const auto& b) {
                return a.second < b.second;
            })->first;
    }
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
