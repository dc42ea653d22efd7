#include "eye/tasks/media_list.hpp"

#include <ostream>

#include <fmt/format.h>

#include "eye/config/options.hpp"
#include "eye/core/time.hpp"
#include "eye/db/schema.hpp"
#include "eye/json/json.hpp"

namespace eye::tasks {
namespace {

// How much of a processing_error a text line shows; JSON has it whole.
constexpr std::size_t k_error_width = 80;

struct StatusQuery {
    const char* status;
    const char* rows;   // the predicate, the same as the partial index's that serves it
    const char* order;  // an order that index (or the primary key) holds; {0}: the alias
};

// Each status in an order an index holds, so a page of it is read without scanning media_files:
// failed through eye_media_files_failed and processing through eye_media_files_processing, in
// their own orders, which no walk of the primary key can stand in for, so failures of a past
// outage at the lowest ids are found without reading past the newer rows; completed through
// eye_media_files_completed or the primary key, pending through eye_media_files_missing (or
// _undescribed, or the primary key while pending images are many), all through the primary key.
const std::vector<StatusQuery>& status_queries() {
    static const std::vector<StatusQuery> k_queries = {
        {"pending", "deleted_at IS NULL AND processing_status = 'pending'", "{0}id DESC"},
        {"processing", "deleted_at IS NULL AND processing_status = 'processing'",
         "coalesce({0}processing_started_at, {0}updated_at) DESC, {0}id DESC"},
        {"completed", db::k_completed_rows, "{0}id DESC"},
        {"failed", db::k_failed_rows, "{0}updated_at DESC, {0}id DESC"},
        {"all", "deleted_at IS NULL", "{0}id DESC"},
    };
    return k_queries;
}

const StatusQuery& query_for(const std::string& status) {
    for (const auto& query : status_queries()) {
        if (status == query.status) {
            return query;
        }
    }
    return status_queries().back();  // add_choice has refused any other word
}

// $1: rows to read. The limit applies before the join, so eye.media_state is read for the rows
// shown only.
std::string list_sql(const StatusQuery& query) {
    return fmt::format(
        "SELECT p.id, p.processing_status, s.analyzer, s.model_version, "
        "       extract(epoch from p.updated_at::timestamptz), p.file_path, p.processing_error "
        "FROM (SELECT id, processing_status, processing_started_at, updated_at, file_path, "
        "             processing_error "
        "      FROM media_files WHERE media_type = 'image' AND {} ORDER BY {} LIMIT $1) p "
        "LEFT JOIN eye.media_state s ON s.media_id = p.id "
        "ORDER BY {}",
        query.rows, fmt::format(fmt::runtime(query.order), ""),
        fmt::format(fmt::runtime(query.order), "p."));
}

struct Listed {
    std::int64_t id = 0;
    std::string status;
    std::optional<std::string> analyzer;
    std::optional<std::string> model_version;
    std::optional<std::string> updated_at;  // ISO 8601
    std::string file_path;
    std::optional<std::string> error;
};

std::optional<std::string> text_or_null(const pqxx::field& field) {
    if (field.is_null()) {
        return std::nullopt;
    }
    return field.as<std::string>();
}

// The error on one line, cut to `width` characters (never inside a UTF-8 sequence).
std::string short_error(const std::string& error, std::size_t width) {
    std::string line;
    for (char c : error) {
        line += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    }
    if (line.size() <= width) {
        return line;
    }
    std::size_t cut = width - 3;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) {
        --cut;
    }
    return line.substr(0, cut) + "...";
}

std::string analyzed_by(const Listed& image) {
    if (!image.analyzer) {
        return "-";
    }
    return image.model_version ? fmt::format("{}/{}", *image.analyzer, *image.model_version)
                               : *image.analyzer;
}

std::string images_word(const std::string& status, std::size_t count) {
    return fmt::format("{}{}", status == "all" ? "" : status + " ",
                       count == 1 ? "image" : "images");
}

void print_text(std::ostream& out, const std::vector<Listed>& images, bool more,
                const std::string& status) {
    if (images.empty()) {
        out << fmt::format("no {}\n", images_word(status, 0));
        return;
    }
    out << fmt::format("{:<9} {:<11} {:<30} {:<25} {}\n", "ID", "STATUS", "ANALYZED BY",
                       "UPDATED AT", "FILE");
    for (const auto& image : images) {
        std::string line =
            fmt::format("{:<9} {:<11} {:<30} {:<25} {}", image.id, image.status, analyzed_by(image),
                        image.updated_at.value_or("-"), image.file_path);
        if (image.status == "failed" && image.error) {
            line += "  error: " + short_error(*image.error, k_error_width);
        }
        out << line << "\n";
    }
    if (more) {
        out << fmt::format("showing {} {} (more exist; --limit to see more)\n", images.size(),
                           images_word(status, images.size()));
    } else {
        out << fmt::format("{} {}\n", images.size(), images_word(status, images.size()));
    }
}

void print_json(std::ostream& out, const std::vector<Listed>& images, bool more) {
    json::Writer w;
    w.begin_object();
    w.key("images");
    w.begin_array();
    for (const auto& image : images) {
        w.begin_object();
        w.field("id", image.id);
        w.field("status", image.status);
        w.field("analyzer", image.analyzer);
        w.field("model_version", image.model_version);
        w.field("updated_at", image.updated_at);
        w.field("file_path", image.file_path);
        w.field("processing_error", image.error);
        w.end_object();
    }
    w.end_array();
    w.field("shown", static_cast<std::int64_t>(images.size()));
    w.field("more", more);
    w.end_object();
    out << w.take() << "\n";
}

}  // namespace

void add_media_list_options(CLI::App& app, Config&, MediaListOptions& options) {
    options::add_choice(app, "--status", options.status,
                        "images with this processing_status, or all of them",
                        {"pending", "processing", "completed", "failed", "all"});
    options::add_int(app, "--limit", options.limit, "show at most this many, most recent first", 1,
                     10'000);
    options::add_choice(app, "--format", options.format, "text lines or JSON", {"text", "json"});
}

Outcome run_media_list(Context& context, const MediaListOptions& options) {
    const StatusQuery& query = query_for(options.status);
    const std::string sql = list_sql(query);
    const std::string name = fmt::format("media_list.{}", query.status);
    const db::Statement statement{name.c_str(), sql.c_str()};

    db::Transaction tx(*context.db, db::Transaction::Mode::autocommit);
    // one row more than shown says whether there are more, without counting them all
    auto rows = tx.many(statement, options.limit + 1);
    bool more = rows.size() > static_cast<std::size_t>(options.limit);
    std::vector<Listed> images;
    for (const auto& row : rows) {
        if (images.size() == static_cast<std::size_t>(options.limit)) {
            break;
        }
        Listed image;
        image.id = row[0].as<std::int64_t>();
        image.status = row[1].as<std::string>();
        image.analyzer = text_or_null(row[2]);
        image.model_version = text_or_null(row[3]);
        if (!row[4].is_null()) {
            image.updated_at = format_iso8601(from_epoch(row[4].as<double>()), TimeZone::utc);
        }
        image.file_path = row[5].as<std::string>();
        image.error = text_or_null(row[6]);
        images.push_back(std::move(image));
    }

    if (options.format == "json") {
        print_json(context.out, images, more);
    } else {
        print_text(context.out, images, more, options.status);
    }
    Outcome outcome;
    outcome.note =
        fmt::format("{} {} shown{}", images.size(), images_word(options.status, images.size()),
                    more ? ", more exist" : "");
    return outcome;
}

}  // namespace eye::tasks
