// The SQLite trajectory store: every run, iteration, metric, episode and turn of Turnwise.
//
// Two classes, two roles:
//   * StoreWriter owns the only write connection and one writer thread. Callers enqueue writes
//     (non-blocking until the bounded queue is full, then blocking: back-pressure, never an
//     unbounded buffer); the thread commits them in batched transactions (BEGIN IMMEDIATE ...
//     COMMIT), up to `max_batch` operations or `max_delay` after the first one, whichever comes
//     first. An episode and all its turns are one operation, so they land in one transaction:
//     readers never see half an episode. The full-text index over turn text is built by the same
//     thread in bulk, off the commit path: whenever the queue runs empty, or when more than
//     `max_index_backlog` turns wait. So a committed turn is immediately visible to every
//     filter, and to text search once the writer has caught up (milliseconds at training
//     rates); Flush() waits for both.
//   * TrajectoryStore is a reader: its own connection, any number of them, in any threads, while
//     a writer writes (WAL mode: readers never block the writer and are never blocked by it).
//     OpenReadOnly() opens the file read-only, for the web UI, which must never write.
//
// Durability: WAL with synchronous=NORMAL. A process killed at any moment leaves a database
// that opens and passes `PRAGMA integrity_check`; every operation whose sequence number was
// reported committed (CommittedSequence(), on_commit) survives the kill. (A power loss may lose
// the last commits, never consistency; see docs/storage.md.)
//
// Errors: IoError (naming the path and SQLite's message) for I/O and SQLite failures,
// FailedPrecondition for a database newer than this binary, InvalidArgument for bad query
// parameters, NotFound for unknown ids where an id is required.
#ifndef TURNWISE_STORAGE_STORE_H_
#define TURNWISE_STORAGE_STORE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/types.h"

namespace turnwise {

namespace storage_internal {
class Db;
}

// Read access. All methods are thread-safe (one internal connection, serialised by a mutex);
// for parallel reads, open one TrajectoryStore per thread.
class TrajectoryStore {
 public:
  // Opens or creates `path` read-write and migrates it to the current schema.
  static std::unique_ptr<TrajectoryStore> Open(const std::string& path);
  // Opens an existing database read-only (never writes, never migrates). Throws IoError when the
  // file does not exist, FailedPrecondition when it is not a turnwise database or is too new.
  static std::unique_ptr<TrajectoryStore> OpenReadOnly(const std::string& path);
  ~TrajectoryStore();

  int SchemaVersion();
  static int CurrentSchemaVersion();

  std::vector<RunRecord> ListRuns();
  // Throws NotFound naming the id.
  RunRecord GetRun(int64_t run_id);
  std::vector<IterationRecord> Iterations(int64_t run_id);
  std::vector<CheckpointRecord> Checkpoints(int64_t run_id);
  // Distinct metric keys of a run, sorted.
  std::vector<std::string> MetricKeys(int64_t run_id);
  // (iter, value) points of one key, by iteration.
  std::vector<MetricPoint> MetricSeries(int64_t run_id, const std::string& key);
  // Last value of every metric key of a run (by iteration).
  std::vector<std::pair<std::string, double>> LatestMetrics(int64_t run_id);

  // Episodes matching the query (without turns) and the total count before pagination.
  // Throws InvalidArgument for an unknown sort field (listing the allowed ones), a limit outside
  // 1..10000, a negative offset, or an empty text search.
  EpisodePage QueryEpisodes(const EpisodeQuery& query);
  // One episode with all its turns. Throws NotFound naming the id.
  EpisodeRecord GetEpisode(int64_t episode_id);
  // Every episode of a group, with turns, ordered by id. Empty when the group is unknown.
  std::vector<EpisodeRecord> GetGroup(int64_t run_id, const std::string& group_id);
  // Turns of the same run and group whose anchor state equals `anchor_hash` (GiGPO's step
  // group), as (episode id, turn index), ordered by episode then turn.
  std::vector<std::pair<int64_t, int64_t>> AnchorPeers(int64_t run_id, const std::string& group_id,
                                                       uint64_t anchor_hash);
  // Highest episode id and highest iteration number recorded for a run (0 when none); the web
  // UI polls these to push live updates.
  std::pair<int64_t, int64_t> LatestEpisodeAndIteration(int64_t run_id);
  // Count of episodes and turns of a run (or of all runs with run_id = 0).
  std::pair<int64_t, int64_t> CountEpisodesAndTurns(int64_t run_id = 0);

  // Writes the run as JSONL: one "run" line, then its iterations, metrics, checkpoints, and one
  // "episode" line per episode with its turns. Database ids are not exported, so export →
  // import → export reproduces the same bytes. Returns the number of lines.
  int64_t ExportRun(int64_t run_id, std::ostream& out);

 private:
  explicit TrajectoryStore(std::unique_ptr<storage_internal::Db> db);
  std::unique_ptr<storage_internal::Db> db_;
  std::mutex mu_;
};

class StoreWriter {
 public:
  struct Options {
    size_t queue_capacity = 1024;       // operations waiting; producers block beyond it
    size_t max_batch = 512;             // operations per transaction
    std::chrono::milliseconds max_delay{20};  // longest wait before committing a partial batch
    int64_t max_index_backlog = 200000;  // turns committed but not yet full-text indexed
    // Called on the writer thread after every commit with the highest committed sequence
    // number. Must be quick and must not call back into the writer.
    std::function<void(uint64_t)> on_commit;
    // Test hook: called on the writer thread before each operation is applied.
    std::function<void()> before_apply;
  };

  // Opens or creates `path`, migrates it, and starts the writer thread. One StoreWriter per
  // database file at a time (it assigns ids from the current maxima).
  static std::unique_ptr<StoreWriter> Open(const std::string& path, Options options);
  static std::unique_ptr<StoreWriter> Open(const std::string& path);
  // Close()s: commits everything queued, stops the thread. Errors at that point are logged.
  ~StoreWriter();

  // Every enqueueing method returns the operation's sequence number (1, 2, 3, ...); it is
  // durable once CommittedSequence() >= it. They block while the queue is full and throw the
  // writer's first error (IoError) if the writer has failed.

  // Creates a run; returns its id (assigned immediately; the row is written in order).
  int64_t CreateRun(RunRecord run);
  // Sets the run's status and its end time: `finished_at` when given, else 0 for "running" and
  // the wall clock now for any other status (the run ended: finished, failed, interrupted).
  uint64_t UpdateRunStatus(int64_t run_id, const std::string& status,
                           std::optional<double> finished_at = std::nullopt);
  uint64_t BeginIteration(int64_t run_id, int64_t iter);
  uint64_t FinishIteration(int64_t run_id, int64_t iter, Json summary);
  uint64_t AppendMetrics(int64_t run_id, int64_t iter,
                         std::vector<std::pair<std::string, double>> values);
  // Appends an episode with all its turns; sets `episode.id` (returned through `id_out` when
  // given). num_turns is taken from turns.size(); anchor hashes are computed where 0.
  uint64_t AppendEpisode(EpisodeRecord episode, int64_t* id_out = nullptr);
  // Stores the learner's per-turn advantages and their parts (index i -> turn_index i).
  uint64_t SetTurnAdvantages(int64_t episode_id, std::vector<double> advantages,
                             std::vector<Json> parts);
  uint64_t AddCheckpoint(CheckpointRecord checkpoint);

  // Imports a JSONL export (ExportRun's format) as a new run; returns the new run id.
  // Throws InvalidArgument naming the line number for malformed input; nothing of a malformed
  // file is written.
  int64_t ImportRun(std::istream& in);

  // Blocks until every operation enqueued before the call is committed and full-text indexed.
  // Throws the writer's first error.
  void Flush();
  // Highest sequence number committed (durable, visible to filters).
  uint64_t CommittedSequence() const;
  // Highest sequence number whose turns are also in the full-text index.
  uint64_t IndexedSequence() const;
  // Highest number of operations that were ever waiting at once (for back-pressure tests).
  size_t QueueHighWater() const;
  // Commits what is queued and stops the thread. Idempotent. Throws the writer's first error.
  void Close();

 private:
  using Operation = std::function<void(storage_internal::Db&)>;
  StoreWriter(std::unique_ptr<storage_internal::Db> db, Options options);
  uint64_t Enqueue(Operation op);
  void WriterLoop();
  // Adds committed-but-unindexed turns to the full-text index, in one transaction.
  void IndexPendingTurns();
  void ThrowIfFailed() const;  // requires mu_ held

  std::unique_ptr<storage_internal::Db> db_;
  Options options_;
  mutable std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::condition_variable committed_cv_;
  std::deque<std::pair<uint64_t, Operation>> queue_;
  uint64_t next_sequence_ = 1;
  uint64_t committed_ = 0;
  uint64_t indexed_ = 0;
  size_t high_water_ = 0;
  bool closing_ = false;
  std::exception_ptr error_;
  int64_t next_run_id_ = 1;
  int64_t next_episode_id_ = 1;
  std::thread thread_;
};

}  // namespace turnwise

#endif  // TURNWISE_STORAGE_STORE_H_
