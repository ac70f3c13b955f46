// Schema versions and forward migrations of the trajectory store. Private to storage/.
#ifndef TURNWISE_STORAGE_INTERNAL_SCHEMA_H_
#define TURNWISE_STORAGE_INTERNAL_SCHEMA_H_

#include "storage/internal/sqlite.h"

namespace turnwise::storage_internal {

// The schema version this binary writes and understands.
int CurrentSchemaVersion();

// The version stored in the database (0 for a new, empty file).
int ReadSchemaVersion(Db& db);

// Brings a read-write database to CurrentSchemaVersion(), each migration in its own transaction
// (WAL mode is set first: it is stored in the file). Throws FailedPrecondition when the database
// is newer than this binary.
void MigrateToCurrent(Db& db);

// For read-only connections: throws FailedPrecondition when the database is newer than this
// binary, or when it has no Turnwise schema at all.
void CheckReadable(Db& db);

}  // namespace turnwise::storage_internal

#endif  // TURNWISE_STORAGE_INTERNAL_SCHEMA_H_
