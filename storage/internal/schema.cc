#include "storage/internal/schema.h"

#include <string>
#include <vector>

#include "core/error.h"

namespace turnwise::storage_internal {
namespace {

// Migration i (0-based) brings the schema from version i to version i+1. Append only: a
// released migration is never edited, so every database reaches the same schema.
const std::vector<std::string>& Migrations() {
  static const std::vector<std::string> kMigrations = {
      // 1: initial schema.
      R"sql(
CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  REAL NOT NULL,
  finished_at REAL NOT NULL DEFAULT 0,
  status      TEXT NOT NULL,
  env         TEXT NOT NULL DEFAULT '',
  method      TEXT NOT NULL DEFAULT '',
  seed        INTEGER NOT NULL DEFAULT 0,
  config      TEXT NOT NULL DEFAULT '{}',
  notes       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE iterations (
  run_id      INTEGER NOT NULL REFERENCES runs(id),
  iter        INTEGER NOT NULL,
  started_at  REAL NOT NULL,
  finished_at REAL NOT NULL DEFAULT 0,
  summary     TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, iter)
);
CREATE TABLE metrics (
  run_id    INTEGER NOT NULL REFERENCES runs(id),
  iter      INTEGER NOT NULL,
  key       TEXT NOT NULL,
  value     REAL NOT NULL,
  wall_time REAL NOT NULL,
  PRIMARY KEY (run_id, key, iter)
) WITHOUT ROWID;
CREATE TABLE episodes (
  id           INTEGER PRIMARY KEY,
  run_id       INTEGER NOT NULL REFERENCES runs(id),
  iteration    INTEGER NOT NULL,
  group_id     TEXT NOT NULL,
  env          TEXT NOT NULL,
  task_id      TEXT NOT NULL,
  task_type    TEXT NOT NULL DEFAULT '',
  seed         INTEGER NOT NULL,
  split        TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('ok', 'truncated', 'aborted')),
  abort_reason TEXT NOT NULL DEFAULT '',
  return       REAL NOT NULL,
  success      INTEGER NOT NULL,
  num_turns    INTEGER NOT NULL,
  created_at   REAL NOT NULL,
  policy       TEXT NOT NULL DEFAULT '',
  info         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX episodes_by_run_iter ON episodes(run_id, iteration);
CREATE INDEX episodes_by_run_split ON episodes(run_id, split, success);
CREATE INDEX episodes_by_run_group ON episodes(run_id, group_id);
CREATE INDEX episodes_by_run_return ON episodes(run_id, return);
CREATE INDEX episodes_by_run_turns ON episodes(run_id, num_turns);
CREATE INDEX episodes_by_env_task ON episodes(env, task_id);
CREATE INDEX episodes_by_task_type ON episodes(run_id, task_type);
CREATE TABLE turns (
  id              INTEGER PRIMARY KEY,
  episode_id      INTEGER NOT NULL REFERENCES episodes(id),
  turn_index      INTEGER NOT NULL,
  observation     TEXT NOT NULL,
  prompt          TEXT NOT NULL,
  response        TEXT NOT NULL,
  action          TEXT NOT NULL,
  action_valid    INTEGER NOT NULL,
  reward          REAL NOT NULL,
  terminated      INTEGER NOT NULL,
  truncated       INTEGER NOT NULL,
  anchor_key      TEXT NOT NULL,
  anchor_hash     INTEGER NOT NULL,
  token_ids       BLOB NOT NULL,
  logprobs        BLOB NOT NULL,
  entropies       BLOB NOT NULL,
  advantage       REAL,
  advantage_parts TEXT,
  image_ref       TEXT NOT NULL DEFAULT '',
  timings         TEXT NOT NULL DEFAULT '{}',
  info            TEXT NOT NULL DEFAULT '{}',
  UNIQUE (episode_id, turn_index)
);
CREATE INDEX turns_by_anchor ON turns(anchor_hash);
CREATE TABLE checkpoints (
  id         INTEGER PRIMARY KEY,
  run_id     INTEGER NOT NULL REFERENCES runs(id),
  iter       INTEGER NOT NULL,
  path       TEXT NOT NULL,
  created_at REAL NOT NULL,
  metrics    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX checkpoints_by_run ON checkpoints(run_id, iter);
-- Full-text index over what the agent saw and did. External content: the text lives once, in
-- turns. Turn text is immutable once written. The writer indexes new turns in bulk when it is
-- idle (or when the backlog grows large), off the commit path of episodes; fts_state records
-- the highest turn id indexed, so a killed process resumes indexing where it stopped.
CREATE VIRTUAL TABLE turns_fts USING fts5(
  observation, action, content='turns', content_rowid='id', tokenize='unicode61');
CREATE TABLE fts_state (indexed_upto INTEGER NOT NULL);
INSERT INTO fts_state VALUES (0);
)sql",
      // 2: a run's episodes in id order without a sort (the UI's default listing, newest
      // first, and deep pages): with only (run_id, num_turns) and friends SQLite sorted the
      // whole run in a temporary B-tree (143 ms for offset 50,000 of 100k episodes).
      R"sql(
CREATE INDEX episodes_by_run_id ON episodes(run_id, id);
)sql",
  };
  return kMigrations;
}

std::string TooNewMessage(const Db& db, int found) {
  return "database '" + db.path() + "' has schema version " + std::to_string(found) +
         ", newer than this turnwise binary supports (" + std::to_string(CurrentSchemaVersion()) +
         "); upgrade turnwise to open it";
}

}  // namespace

int CurrentSchemaVersion() { return static_cast<int>(Migrations().size()); }

int ReadSchemaVersion(Db& db) {
  Stmt& has = db.Prepare(
      "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'");
  has.Step();
  bool exists = has.Int(0) != 0;
  has.Reset();
  if (!exists) return 0;
  Stmt& v = db.Prepare("SELECT coalesce(max(version), 0) FROM schema_version");
  v.Step();
  int version = static_cast<int>(v.Int(0));
  v.Reset();
  return version;
}

void MigrateToCurrent(Db& db) {
  db.Exec("PRAGMA journal_mode=WAL");
  {
    Transaction tx(db);
    db.Exec(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        "version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)");
    tx.Commit();
  }
  int version = ReadSchemaVersion(db);
  if (version > CurrentSchemaVersion()) throw FailedPrecondition(TooNewMessage(db, version));
  const auto& migrations = Migrations();
  for (int v = version; v < CurrentSchemaVersion(); ++v) {
    Transaction tx(db);
    // Re-read inside the write lock: another process may have migrated meanwhile.
    if (ReadSchemaVersion(db) > v) continue;
    db.Exec(migrations[static_cast<size_t>(v)]);
    db.Prepare("INSERT INTO schema_version(version, applied_at) VALUES (?, (julianday('now') - 2440587.5) * 86400.0)")
        .Bind(1, v + 1)
        .Run();
    tx.Commit();
  }
}

void CheckReadable(Db& db) {
  int version = ReadSchemaVersion(db);
  if (version == 0) {
    throw FailedPrecondition("'" + db.path() + "' is not a turnwise database (no schema_version)");
  }
  if (version > CurrentSchemaVersion()) throw FailedPrecondition(TooNewMessage(db, version));
}

}  // namespace turnwise::storage_internal
