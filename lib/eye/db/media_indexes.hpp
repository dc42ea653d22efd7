#pragma once

#include "eye/db/schema.hpp"
#include "eye/db/session.hpp"

// eye's own indexes on media_files (eye_media_files_*), upstream's table or ours: which there
// are, and how a migration builds them without holding up upstream's writes.
namespace eye::db {

// In the schema transaction of a migration from before version 4 (which began recording how
// each index was built): records the indexes found that already have their present definition,
// so that only the others are built again.
void record_existing_media_indexes(Transaction& tx, int from_version);

// The index step of a migration, outside any transaction: each index the table's columns allow
// is built CONCURRENTLY, so upstream's uploads and updates go on while it builds; one whose
// recorded definition changed, or that an interrupted build left invalid, is dropped
// concurrently and built again. A lock waited for longer than options.lock_timeout ends the
// step (TempFailError); what it interrupted, the next run finishes. Adds its steps to `report`.
void build_media_indexes(Session& session, const MigrationOptions& options,
                         const SchemaStatus& status, MigrationReport& report);

}  // namespace eye::db
