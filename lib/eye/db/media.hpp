#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "eye/core/analysis_result.hpp"
#include "eye/db/schema.hpp"
#include "eye/db/session.hpp"

// Writing analyses into media_files, whichever version of upstream's table it is: eye reads the
// table's columns once and writes only those that exist, in the types the catalog gives.
namespace eye::db {

class MediaTable {
public:
    // Reads the columns of media_files and the type of its embedding column.
    static MediaTable read(Transaction& tx);

    bool has(std::string_view column) const { return m_columns.count(std::string(column)) != 0; }
    const EmbeddingColumn& embedding() const { return m_embedding; }

    // Writes one analysis in the caller's transaction: every result column the table has (an
    // empty optional leaves its column as it is; face data only when the analyzer reported
    // faces), status 'completed' with processing_completed_at, and the image's eye.media_state
    // row (analyzer, model version, analyzed_at; failures reset). Returns false, writing
    // nothing, when the image was deleted meanwhile. Throws DataError when the database refuses
    // this result (a value too long, an embedding that does not fit); other database errors
    // leave as eye::Error with their own codes.
    bool write_analysis(Transaction& tx, std::int64_t media_id, const AnalysisResult& result,
                        TimePoint now) const;

    // What upstream's job sets as an analysis starts, where the table has the columns (uploads
    // in Avinash-EYE's schema): upload_completed_at (when it has none), upload_progress 100 and
    // processing_stage 'analyzing', the stage upstream's job is in for nearly all of its run
    // (its 'starting' and 'metadata_extracted' last milliseconds; eye reads the metadata within
    // the analysis). write_analysis sets 'saving_results', where upstream's job leaves it.
    // Nothing to do, and no statement, on a table without them.
    void mark_started(Transaction& tx, const std::vector<std::int64_t>& media_ids,
                      TimePoint now) const;

private:
    std::set<std::string> m_columns;
    EmbeddingColumn m_embedding;
    std::string m_update_name;
    std::string m_update_sql;
    std::string m_started_name;
    std::string m_started_sql;  // empty: no stage columns
};

}  // namespace eye::db
