#include "eye/tasks/media_show.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <ostream>
#include <set>

#include <fmt/format.h>

#include "eye/analyzers/media_path.hpp"
#include "eye/config/options.hpp"
#include "eye/core/error.hpp"
#include "eye/core/time.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"

namespace eye::tasks {
namespace {
namespace fs = std::filesystem;

// How many of an image's jobs, and of its failed jobs, are shown: newest first.
constexpr long long k_history_rows = 50;

// The media_files columns this session may read: all of them for the owner, those scripts/grant
// gives a least-privilege role.
const db::Statement k_readable_columns{
    "media_show.columns",
    "SELECT a.attname FROM pg_attribute a "
    "WHERE a.attrelid = to_regclass('media_files') AND a.attnum > 0 AND NOT a.attisdropped "
    "  AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')"};

const db::Statement k_state{
    "media_show.state",
    "SELECT analyzer, model_version, status, extract(epoch from analyzed_at), "
    "       extract(epoch from failed_at), consecutive_failures, last_error, "
    "       predicted_tags::text "
    "FROM eye.media_state WHERE media_id = $1"};

const db::Statement k_jobs{
    "media_show.jobs",
    "SELECT id, kind, status, attempts, max_attempts, reason, extract(epoch from created_at), "
    "       extract(epoch from finished_at), last_error "
    "FROM eye.jobs WHERE media_id = $1 ORDER BY id DESC LIMIT $2"};

const db::Statement k_failed_jobs{
    "media_show.failed_jobs",
    "SELECT id, job_id, attempts, reason, extract(epoch from failed_at), error "
    "FROM eye.failed_jobs WHERE media_id = $1 ORDER BY failed_at DESC, id DESC LIMIT $2"};

// How a column is read and shown.
enum class Kind {
    integer,
    number,
    text,
    timestamp,   // upstream's timestamp without time zone, on the session's zone (EYE_DB_TIMEZONE)
    wall_clock,  // the camera's clock, with no zone: date_taken
    json,
    embedding,  // shown as its number of values
};

// Whether a text line is printed for a NULL: the EXIF fields and the longer analysis results
// only say something when they are set.
enum class WhenNull { show, hide };

struct Field {
    const char* column;
    Kind kind;
    WhenNull when_null = WhenNull::show;
};

// In the order they are shown; a column the table lacks (or the role may not read) is left out
// of the text and null in JSON.
const std::vector<Field>& fields() {
    static const std::vector<Field> k_fields = {
        {"id", Kind::integer},
        {"media_type", Kind::text},
        {"file_path", Kind::text},
        {"original_filename", Kind::text},
        {"mime_type", Kind::text},
        {"width", Kind::integer},
        {"height", Kind::integer},
        {"file_size", Kind::integer},
        {"file_hash", Kind::text},
        {"processing_status", Kind::text},
        {"processing_stage", Kind::text},
        {"processing_attempts", Kind::integer},
        {"processing_error", Kind::text},
        {"processing_started_at", Kind::timestamp},
        {"processing_completed_at", Kind::timestamp},
        {"created_at", Kind::timestamp},
        {"updated_at", Kind::timestamp},
        {"deleted_at", Kind::timestamp, WhenNull::hide},
        {"description", Kind::text},
        {"detailed_description", Kind::text, WhenNull::hide},
        {"meta_tags", Kind::json},
        {"face_count", Kind::integer},
        {"embedding", Kind::embedding},
        {"quality_tier", Kind::text, WhenNull::hide},
        {"image_quality", Kind::json, WhenNull::hide},
        {"dominant_colors", Kind::json, WhenNull::hide},
        {"phash", Kind::text, WhenNull::hide},
        {"dhash", Kind::text, WhenNull::hide},
        {"camera_make", Kind::text, WhenNull::hide},
        {"camera_model", Kind::text, WhenNull::hide},
        {"lens_model", Kind::text, WhenNull::hide},
        {"date_taken", Kind::wall_clock, WhenNull::hide},
        {"exposure_time", Kind::text, WhenNull::hide},
        {"f_number", Kind::text, WhenNull::hide},
        {"iso", Kind::integer, WhenNull::hide},
        {"focal_length", Kind::number, WhenNull::hide},
        {"gps_latitude", Kind::number, WhenNull::hide},
        {"gps_longitude", Kind::number, WhenNull::hide},
    };
    return k_fields;
}

// The JSON name of a field: the column's, but an embedding is shown by its length.
std::string json_name(const Field& field) {
    return field.kind == Kind::embedding ? "embedding_dimensions" : field.column;
}

// The select expression of a field, or nullopt when it cannot be read here.
std::optional<std::string> select_expression(const Field& field,
                                             const std::set<std::string>& columns,
                                             const db::EmbeddingColumn& embedding) {
    if (columns.count(field.column) == 0) {
        return std::nullopt;
    }
    std::string column = fmt::format("m.{}", field.column);
    switch (field.kind) {
        case Kind::integer:
            return column + "::bigint";
        case Kind::number:
            return column + "::float8";
        case Kind::text:
        case Kind::json:
            return column + "::text";
        case Kind::timestamp:
            return fmt::format("extract(epoch from {}::timestamptz)::float8", column);
        case Kind::wall_clock:
            return fmt::format("to_char({}, 'YYYY-MM-DD\"T\"HH24:MI:SS')", column);
        case Kind::embedding:
            // a cast, not pgvector's vector_dims(): casts are found wherever the extension is
            if (embedding.kind != db::EmbeddingColumn::Kind::vector &&
                embedding.kind != db::EmbeddingColumn::Kind::real_array) {
                return std::nullopt;
            }
            return fmt::format("array_length({}::real[], 1)", column);
    }
    return std::nullopt;
}

struct Value {
    const Field* field = nullptr;
    bool readable = false;  // the table has the column and this role may read it
    std::optional<std::string> text;
    std::optional<double> number;  // timestamps as epoch seconds, numbers
    std::optional<long long> integer;
};

struct MediaQuery {
    std::vector<const Field*> readable;
    std::string select_list;
};

MediaQuery media_query(db::Transaction& tx) {
    std::set<std::string> columns;
    for (const auto& row : tx.many(k_readable_columns)) {
        columns.insert(row[0].as<std::string>());
    }
    for (const char* needed : {"id", "file_path", "deleted_at"}) {
        if (columns.count(needed) == 0) {
            throw ConfigError(
                fmt::format("media_files has no column '{}' that this role may read", needed),
                "run 'eye db:migrate', or scripts/grant for a least-privilege role");
        }
    }
    auto embedding = db::read_embedding_column(tx);
    MediaQuery query;
    std::vector<std::string> expressions;
    for (const auto& field : fields()) {
        if (auto expression = select_expression(field, columns, embedding)) {
            query.readable.push_back(&field);
            expressions.push_back(*expression);
        }
    }
    query.select_list = fmt::format("{}", fmt::join(expressions, ", "));
    return query;
}

std::vector<Value> read_values(const MediaQuery& query, const pqxx::row& row) {
    std::vector<Value> values;
    for (const auto& field : fields()) {
        Value value;
        value.field = &field;
        auto at = std::find(query.readable.begin(), query.readable.end(), &field);
        if (at != query.readable.end()) {
            value.readable = true;
            const auto& cell = row[static_cast<pqxx::row::size_type>(at - query.readable.begin())];
            if (!cell.is_null()) {
                switch (field.kind) {
                    case Kind::integer:
                    case Kind::embedding:
                        value.integer = cell.as<long long>();
                        break;
                    case Kind::number:
                    case Kind::timestamp:
                        value.number = cell.as<double>();
                        break;
                    case Kind::text:
                    case Kind::wall_clock:
                    case Kind::json:
                        value.text = cell.as<std::string>();
                        break;
                }
            }
        }
        values.push_back(std::move(value));
    }
    return values;
}

std::string iso(double epoch) {
    return format_iso8601(from_epoch(epoch), TimeZone::utc);
}

std::optional<std::string> text_or_null(const pqxx::field& field) {
    if (field.is_null()) {
        return std::nullopt;
    }
    return field.as<std::string>();
}

std::optional<std::string> iso_or_null(const pqxx::field& field) {
    if (field.is_null()) {
        return std::nullopt;
    }
    return iso(field.as<double>());
}

// The file_path values ARG may stand for: as given, normalised, and relative to the media root
// (an absolute path, or one relative to the current directory, under the root as configured or
// as its links resolve).
std::vector<std::string> path_candidates(const std::string& argument, const fs::path& media_root) {
    std::vector<std::string> candidates;
    auto add = [&candidates](const std::string& path) {
        if (!path.empty() && path != "." &&
            std::find(candidates.begin(), candidates.end(), path) == candidates.end()) {
            candidates.push_back(path);
        }
    };
    add(argument);
    fs::path given(argument);
    if (given.is_relative()) {
        add(given.lexically_normal().generic_string());
    }
    std::error_code error;
    fs::path absolute = fs::absolute(given, error).lexically_normal();
    fs::path root = fs::absolute(media_root, error).lexically_normal();
    if (error) {
        return candidates;
    }
    fs::path under = absolute.lexically_relative(root);
    if (!under.empty() && *under.begin() != "..") {
        add(under.generic_string());
    }
    if (auto resolved = analyzers::relative_to_root(media_root, absolute)) {
        add(*resolved);
    }
    return candidates;
}

struct Found {
    std::vector<Value> values;
    std::int64_t id = 0;
};

// $1: the id.
std::optional<Found> find_by_id(db::Transaction& tx, const MediaQuery& query,
                                const std::string& argument) {
    errno = 0;
    char* end = nullptr;
    long long id = std::strtoll(argument.c_str(), &end, 10);
    if (errno == ERANGE || *end != '\0') {
        throw UsageError(fmt::format("'{}' is not an image id", argument),
                         "pass an id from 'eye media:list', or a path");
    }
    std::string sql =
        fmt::format("SELECT {} FROM media_files m WHERE m.id = $1", query.select_list);
    std::string name = fmt::format("media_show.by_id.{:x}", std::hash<std::string>{}(sql));
    auto row = tx.at_most_one(db::Statement{name.c_str(), sql.c_str()}, id);
    if (!row) {
        return std::nullopt;
    }
    return Found{read_values(query, *row), id};
}

// $1: the paths it may be. Live rows only: those are what the file_path index holds.
std::optional<Found> find_by_path(db::Transaction& tx, const MediaQuery& query,
                                  const std::vector<std::string>& candidates) {
    std::string sql = fmt::format(
        "SELECT {} FROM media_files m WHERE m.file_path = ANY($1::text[]) "
        "AND m.deleted_at IS NULL ORDER BY m.id DESC LIMIT 10",
        query.select_list);
    std::string name = fmt::format("media_show.by_path.{:x}", std::hash<std::string>{}(sql));
    auto rows = tx.many(db::Statement{name.c_str(), sql.c_str()}, candidates);
    if (rows.empty()) {
        return std::nullopt;
    }
    std::int64_t id = rows[0][0].as<std::int64_t>();
    if (rows.size() > 1) {
        std::vector<std::int64_t> others;
        for (pqxx::result::size_type i = 1; i < rows.size(); ++i) {
            others.push_back(rows[i][0].as<std::int64_t>());
        }
        log::warning("{} live images have that path; showing the newest, {}; the others: {}",
                     rows.size(), id, fmt::join(others, ", "));
    }
    return Found{read_values(query, rows[0]), id};
}

void write_value_json(json::Writer& w, const Value& value) {
    w.key(json_name(*value.field));
    if (value.integer) {
        w.value(*value.integer);
    } else if (value.number) {
        if (value.field->kind == Kind::timestamp) {
            w.value(iso(*value.number));
        } else {
            w.value(*value.number);
        }
    } else if (value.text) {
        if (value.field->kind == Kind::json) {
            w.raw(*value.text);
        } else {
            w.value(*value.text);
        }
    } else {
        w.null();
    }
}

std::string value_text(const Value& value) {
    if (value.field->kind == Kind::embedding) {
        return value.integer ? fmt::format("{} values", *value.integer) : "none";
    }
    if (value.integer) {
        return std::to_string(*value.integer);
    }
    if (value.number) {
        return value.field->kind == Kind::timestamp ? iso(*value.number)
                                                    : fmt::format("{}", *value.number);
    }
    return value.text.value_or("-");
}

// "key:" padded to one width, and a value of several lines indented under the first.
void print_line(std::ostream& out, const std::string& key, const std::string& value) {
    constexpr int k_key_width = 25;
    std::string indented;
    for (char c : value) {
        indented += c;
        if (c == '\n') {
            indented += std::string(k_key_width + 1, ' ');
        }
    }
    out << fmt::format("{:<{}} {}\n", key + ":", k_key_width, indented);
}

// What eye knows of the image beyond its row: its analysis and its jobs, each list read one row
// beyond k_history_rows to tell whether there are more.
struct History {
    std::optional<pqxx::row> state;
    pqxx::result jobs;
    pqxx::result failed;

    static bool more(const pqxx::result& rows) {
        return rows.size() > static_cast<pqxx::result::size_type>(k_history_rows);
    }
    static pqxx::result::size_type shown(const pqxx::result& rows) {
        return std::min(rows.size(), static_cast<pqxx::result::size_type>(k_history_rows));
    }
};

void print_json(std::ostream& out, const Found& found, const History& history) {
    json::Writer w;
    w.begin_object();
    w.key("media");
    w.begin_object();
    for (const auto& value : found.values) {
        write_value_json(w, value);
    }
    w.end_object();
    w.key("analysis");
    if (history.state) {
        const auto& s = *history.state;
        w.begin_object();
        w.field("analyzer", text_or_null(s[0]));
        w.field("model_version", text_or_null(s[1]));
        w.field("status", s[2].as<std::string>());
        w.field("analyzed_at", iso_or_null(s[3]));
        w.field("failed_at", iso_or_null(s[4]));
        w.field("consecutive_failures", s[5].as<long long>());
        w.field("last_error", text_or_null(s[6]));
        w.key("predicted_tags");
        if (s[7].is_null()) {
            w.null();
        } else {
            w.raw(s[7].as<std::string>());
        }
        w.end_object();
    } else {
        w.null();
    }
    w.key("jobs");
    w.begin_array();
    for (pqxx::result::size_type i = 0; i < History::shown(history.jobs); ++i) {
        const auto& j = history.jobs[i];
        w.begin_object();
        w.field("id", j[0].as<std::int64_t>());
        w.field("kind", j[1].as<std::string>());
        w.field("status", j[2].as<std::string>());
        w.field("attempts", j[3].as<int>());
        w.field("max_attempts", j[4].as<int>());
        w.field("reason", text_or_null(j[5]));
        w.field("created_at", iso(j[6].as<double>()));
        w.field("finished_at", iso_or_null(j[7]));
        w.field("last_error", text_or_null(j[8]));
        w.end_object();
    }
    w.end_array();
    w.field("more_jobs", History::more(history.jobs));
    w.key("failed_jobs");
    w.begin_array();
    for (pqxx::result::size_type i = 0; i < History::shown(history.failed); ++i) {
        const auto& f = history.failed[i];
        w.begin_object();
        w.field("id", f[0].as<std::int64_t>());
        w.field("job_id", f[1].as<std::int64_t>());
        w.field("attempts", f[2].as<int>());
        w.field("reason", text_or_null(f[3]));
        w.field("failed_at", iso(f[4].as<double>()));
        w.field("error", f[5].as<std::string>());
        w.end_object();
    }
    w.end_array();
    w.field("more_failed_jobs", History::more(history.failed));
    w.end_object();
    out << w.take() << "\n";
}

void print_analysis_text(std::ostream& out, const std::optional<pqxx::row>& state) {
    if (!state) {
        print_line(out, "analyzer", "- (no analysis recorded in eye.media_state)");
        return;
    }
    const auto& s = *state;
    print_line(out, "analyzer", text_or_null(s[0]).value_or("-"));
    print_line(out, "model_version", text_or_null(s[1]).value_or("-"));
    print_line(out, "analysis_status", s[2].as<std::string>());
    print_line(out, "analyzed_at", iso_or_null(s[3]).value_or("-"));
    if (!s[4].is_null()) {
        print_line(out, "analysis_failed_at", iso(s[4].as<double>()));
    }
    print_line(out, "consecutive_failures", s[5].as<std::string>());
    if (!s[6].is_null()) {
        print_line(out, "analysis_last_error", s[6].as<std::string>());
    }
    if (!s[7].is_null()) {
        print_line(out, "predicted_tags", s[7].as<std::string>());
    }
}

void print_jobs_text(std::ostream& out, const pqxx::result& jobs) {
    out << "\njobs (eye.jobs, newest first):\n";
    if (jobs.empty()) {
        out << "  none\n";
        return;
    }
    constexpr const char* k_row = "  {:<9} {:<9} {:<10} {:<9} {:<12} {:<25} {:<25} {}\n";
    out << fmt::format(k_row, "JOB", "KIND", "STATUS", "ATTEMPTS", "REASON", "CREATED AT",
                       "FINISHED AT", "LAST ERROR");
    for (pqxx::result::size_type i = 0; i < History::shown(jobs); ++i) {
        const auto& j = jobs[i];
        out << fmt::format(k_row, j[0].as<std::int64_t>(), j[1].as<std::string>(),
                           j[2].as<std::string>(),
                           fmt::format("{}/{}", j[3].as<int>(), j[4].as<int>()),
                           text_or_null(j[5]).value_or("-"), iso(j[6].as<double>()),
                           iso_or_null(j[7]).value_or("-"), text_or_null(j[8]).value_or("-"));
    }
    if (History::more(jobs)) {
        out << fmt::format("  (only the newest {} are shown)\n", k_history_rows);
    }
}

void print_failed_jobs_text(std::ostream& out, const pqxx::result& failed) {
    out << "\nfailed jobs (eye.failed_jobs, newest first):\n";
    if (failed.empty()) {
        out << "  none\n";
        return;
    }
    constexpr const char* k_row = "  {:<10} {:<9} {:<25} {:<9} {}\n";
    out << fmt::format(k_row, "FAILED ID", "JOB", "FAILED AT", "ATTEMPTS", "ERROR");
    for (pqxx::result::size_type i = 0; i < History::shown(failed); ++i) {
        const auto& f = failed[i];
        out << fmt::format(k_row, f[0].as<std::int64_t>(), f[1].as<std::int64_t>(),
                           iso(f[4].as<double>()), f[2].as<int>(), f[5].as<std::string>());
    }
    if (History::more(failed)) {
        out << fmt::format("  (only the newest {} are shown)\n", k_history_rows);
    }
}

void print_text(std::ostream& out, const Found& found, const History& history) {
    for (const auto& value : found.values) {
        if (!value.readable) {
            continue;
        }
        bool is_null = !value.integer && !value.number && !value.text;
        if (is_null && value.field->when_null == WhenNull::hide) {
            continue;
        }
        print_line(out, value.field->column, value_text(value));
    }
    print_analysis_text(out, history.state);
    print_jobs_text(out, history.jobs);
    print_failed_jobs_text(out, history.failed);
}

}  // namespace

void add_media_show_options(CLI::App& app, Config& config, MediaShowOptions& options) {
    app.add_option("image", options.target,
                   "an image id, or its file_path (as stored, or a path under EYE_MEDIA_ROOT)")
        ->required()
        ->type_name("ID|PATH")
        ->check([](const std::string& value) {
            return value.empty() ? std::string("it is empty; pass the image's id or its file_path")
                                 : std::string();
        });
    options::add_choice(app, "--format", options.format, "key: value lines or JSON",
                        {"text", "json"});
    add_settings(app, config, SettingGroup::storage);
}

Outcome run_media_show(Context& context, const MediaShowOptions& options) {
    const std::string& target = options.target;
    bool by_id =
        std::all_of(target.begin(), target.end(), [](char c) { return c >= '0' && c <= '9'; });

    db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
    MediaQuery query = media_query(tx);
    std::optional<Found> found;
    if (by_id) {
        found = find_by_id(tx, query, target);
        if (!found) {
            throw TaskFailedError(fmt::format("no image with id {}", target),
                                  "'eye media:list' lists images with their ids");
        }
    } else {
        auto candidates = path_candidates(target, context.config.media_root);
        found = find_by_path(tx, query, candidates);
        if (!found) {
            throw TaskFailedError(
                fmt::format("no image at '{}' (looked for file_path '{}')", target,
                            fmt::join(candidates, "', '")),
                fmt::format("file_path is relative to EYE_MEDIA_ROOT ('{}'); soft-deleted images "
                            "are found by id only; 'eye media:list' lists images",
                            context.config.media_root.string()));
        }
    }
    History history;
    history.state = tx.at_most_one(k_state, found->id);
    history.jobs = tx.many(k_jobs, found->id, k_history_rows + 1);
    history.failed = tx.many(k_failed_jobs, found->id, k_history_rows + 1);

    if (options.format == "json") {
        print_json(context.out, *found, history);
    } else {
        print_text(context.out, *found, history);
    }
    Outcome outcome;
    outcome.note = fmt::format("image {}", found->id);
    return outcome;
}

}  // namespace eye::tasks
