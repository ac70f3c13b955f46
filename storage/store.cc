#include "storage/store.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <tuple>
#include <istream>
#include <ostream>
#include <sstream>

#include "core/error.h"
#include "core/hash.h"
#include "core/logging.h"
#include "storage/internal/schema.h"
#include "storage/internal/sqlite.h"

namespace turnwise {

using storage_internal::Db;
using storage_internal::Stmt;
using storage_internal::ResetOnExit;
using storage_internal::Transaction;

static_assert(std::endian::native == std::endian::little,
              "token/log-prob BLOBs are stored little-endian; add byte swapping for this target");

namespace {

double NowSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

template <class T>
std::string ToBlob(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

template <class T>
std::vector<T> FromBlob(const std::string& bytes) {
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

Json JsonColumn(const Stmt& s, int col) {
  if (s.IsNull(col)) return Json();
  std::string text = s.Text(col);
  Json j = Json::parse(text, nullptr, false);
  return j.is_discarded() ? Json(text) : j;
}

constexpr const char* kRunColumns =
    "id, name, created_at, finished_at, status, env, method, seed, config, notes";

RunRecord ReadRun(const Stmt& s) {
  RunRecord r;
  r.id = s.Int(0);
  r.name = s.Text(1);
  r.created_at = s.Double(2);
  r.finished_at = s.Double(3);
  r.status = s.Text(4);
  r.env = s.Text(5);
  r.method = s.Text(6);
  r.seed = s.Int(7);
  r.config = JsonColumn(s, 8);
  r.notes = s.Text(9);
  return r;
}

constexpr const char* kEpisodeColumns =
    "id, run_id, iteration, group_id, env, task_id, task_type, seed, split, status, "
    "abort_reason, return, success, num_turns, created_at, policy, info";

EpisodeRecord ReadEpisode(const Stmt& s) {
  EpisodeRecord e;
  e.id = s.Int(0);
  e.run_id = s.Int(1);
  e.iteration = s.Int(2);
  e.group_id = s.Text(3);
  e.env = s.Text(4);
  e.task_id = s.Text(5);
  e.task_type = s.Text(6);
  e.seed = s.Int(7);
  e.split = s.Text(8);
  e.status = ParseEpisodeStatus(s.Text(9));
  e.abort_reason = s.Text(10);
  e.episode_return = s.Double(11);
  e.success = s.Int(12) != 0;
  e.num_turns = s.Int(13);
  e.created_at = s.Double(14);
  e.policy = s.Text(15);
  e.info = JsonColumn(s, 16);
  return e;
}

constexpr const char* kTurnColumns =
    "turn_index, observation, prompt, response, action, action_valid, reward, terminated, "
    "truncated, anchor_key, anchor_hash, token_ids, logprobs, entropies, advantage, "
    "advantage_parts, image_ref, timings, info";

TurnRecord ReadTurn(const Stmt& s) {
  TurnRecord t;
  t.turn_index = s.Int(0);
  t.observation = s.Text(1);
  t.prompt = s.Text(2);
  t.response = s.Text(3);
  t.action = s.Text(4);
  t.action_valid = s.Int(5) != 0;
  t.reward = s.Double(6);
  t.terminated = s.Int(7) != 0;
  t.truncated = s.Int(8) != 0;
  t.anchor_key = s.Text(9);
  t.anchor_hash = static_cast<uint64_t>(s.Int(10));
  t.token_ids = FromBlob<int32_t>(s.Blob(11));
  t.logprobs = FromBlob<float>(s.Blob(12));
  t.entropies = FromBlob<float>(s.Blob(13));
  if (!s.IsNull(14)) t.advantage = s.Double(14);
  t.advantage_parts = JsonColumn(s, 15);
  t.image_ref = s.Text(16);
  t.timings = JsonColumn(s, 17);
  t.info = JsonColumn(s, 18);
  return t;
}

void LoadTurns(Db& db, EpisodeRecord& e) {
  Stmt& s = db.Prepare(std::string("SELECT ") + kTurnColumns +
                       " FROM turns WHERE episode_id = ? ORDER BY turn_index");
  s.Bind(1, e.id);
  e.turns.clear();
  while (s.Step()) e.turns.push_back(ReadTurn(s));
}

// FTS5 query syntax treats '-', ':', '"', '*', '(' ... as operators. Quoting every word makes
// the user's text a conjunction of literal terms.
std::string QuoteFtsQuery(const std::string& text) {
  std::string out;
  std::istringstream words(text);
  std::string w;
  while (words >> w) {
    std::string quoted = "\"";
    for (char c : w) {
      if (c == '"') quoted += '"';
      quoted += c;
    }
    quoted += '"';
    if (!out.empty()) out += ' ';
    out += quoted;
  }
  return out;
}

// ---- writes, used by the writer thread and by import ----

void InsertRun(Db& db, const RunRecord& r) {
  db.Prepare(std::string("INSERT INTO runs(") + kRunColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?)")
      .Bind(1, r.id)
      .Bind(2, r.name)
      .Bind(3, r.created_at)
      .Bind(4, r.finished_at)
      .Bind(5, r.status)
      .Bind(6, r.env)
      .Bind(7, r.method)
      .Bind(8, r.seed)
      .Bind(9, DumpJson(r.config))
      .Bind(10, r.notes)
      .Run();
}

void InsertEpisode(Db& db, const EpisodeRecord& e) {
  db.Prepare(std::string("INSERT INTO episodes(") + kEpisodeColumns +
             ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
      .Bind(1, e.id)
      .Bind(2, e.run_id)
      .Bind(3, e.iteration)
      .Bind(4, e.group_id)
      .Bind(5, e.env)
      .Bind(6, e.task_id)
      .Bind(7, e.task_type)
      .Bind(8, e.seed)
      .Bind(9, e.split)
      .Bind(10, EpisodeStatusName(e.status))
      .Bind(11, e.abort_reason)
      .Bind(12, e.episode_return)
      .Bind(13, e.success)
      .Bind(14, static_cast<int64_t>(e.turns.size()))
      .Bind(15, e.created_at)
      .Bind(16, e.policy)
      .Bind(17, DumpJson(e.info))
      .Run();
  Stmt& t = db.Prepare(std::string("INSERT INTO turns(episode_id, ") + kTurnColumns +
                       ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  for (const TurnRecord& turn : e.turns) {
    t.Reset();
    t.Bind(1, e.id)
        .Bind(2, turn.turn_index)
        .Bind(3, turn.observation)
        .Bind(4, turn.prompt)
        .Bind(5, turn.response)
        .Bind(6, turn.action)
        .Bind(7, turn.action_valid)
        .Bind(8, turn.reward)
        .Bind(9, turn.terminated)
        .Bind(10, turn.truncated)
        .Bind(11, turn.anchor_key)
        .Bind(12, static_cast<int64_t>(turn.anchor_hash ? turn.anchor_hash
                                                        : StableHash64(turn.anchor_key)))
        .BindBlob(13, turn.token_ids.data(), turn.token_ids.size() * sizeof(int32_t))
        .BindBlob(14, turn.logprobs.data(), turn.logprobs.size() * sizeof(float))
        .BindBlob(15, turn.entropies.data(), turn.entropies.size() * sizeof(float));
    if (turn.advantage) {
      t.Bind(16, *turn.advantage);
    } else {
      t.BindNull(16);
    }
    if (turn.advantage_parts.is_null()) {
      t.BindNull(17);
    } else {
      t.Bind(17, DumpJson(turn.advantage_parts));
    }
    t.Bind(18, turn.image_ref).Bind(19, DumpJson(turn.timings)).Bind(20, DumpJson(turn.info));
    t.Run();
  }
}

void InsertMetrics(Db& db, int64_t run_id, int64_t iter,
                   const std::vector<std::pair<std::string, double>>& values, double wall_time) {
  Stmt& s = db.Prepare(
      "INSERT INTO metrics(run_id, iter, key, value, wall_time) VALUES (?,?,?,?,?) "
      "ON CONFLICT(run_id, key, iter) DO UPDATE SET value = excluded.value, "
      "wall_time = excluded.wall_time");
  for (const auto& [key, value] : values) {
    s.Reset();
    s.Bind(1, run_id).Bind(2, iter).Bind(3, key).Bind(4, value).Bind(5, wall_time).Run();
  }
}

void InsertIteration(Db& db, const IterationRecord& it) {
  db.Prepare(
        "INSERT INTO iterations(run_id, iter, started_at, finished_at, summary) "
        "VALUES (?,?,?,?,?) ON CONFLICT(run_id, iter) DO UPDATE SET "
        "started_at = excluded.started_at, finished_at = excluded.finished_at, "
        "summary = excluded.summary")
      .Bind(1, it.run_id)
      .Bind(2, it.iter)
      .Bind(3, it.started_at)
      .Bind(4, it.finished_at)
      .Bind(5, DumpJson(it.summary))
      .Run();
}

void InsertCheckpoint(Db& db, const CheckpointRecord& c) {
  db.Prepare(
        "INSERT INTO checkpoints(run_id, iter, path, created_at, metrics) VALUES (?,?,?,?,?)")
      .Bind(1, c.run_id)
      .Bind(2, c.iter)
      .Bind(3, c.path)
      .Bind(4, c.created_at)
      .Bind(5, DumpJson(c.metrics))
      .Run();
}

int64_t MaxId(Db& db, const char* table) {
  Stmt& s = db.Prepare(std::string("SELECT coalesce(max(id), 0) FROM ") + table);
  ResetOnExit reset(s);
  s.Step();
  return s.Int(0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Status names and sort fields.

std::string_view EpisodeStatusName(EpisodeStatus status) {
  switch (status) {
    case EpisodeStatus::kOk: return "ok";
    case EpisodeStatus::kTruncated: return "truncated";
    case EpisodeStatus::kAborted: return "aborted";
  }
  return "ok";
}

EpisodeStatus ParseEpisodeStatus(std::string_view name) {
  if (name == "ok") return EpisodeStatus::kOk;
  if (name == "truncated") return EpisodeStatus::kTruncated;
  if (name == "aborted") return EpisodeStatus::kAborted;
  throw InvalidArgument(UnknownNameMessage("episode status", name, {"ok", "truncated", "aborted"}));
}

const std::vector<std::string>& EpisodeSortFields() {
  static const std::vector<std::string> kFields = {"id", "return", "num_turns", "created_at",
                                                   "iteration"};
  return kFields;
}

// ---------------------------------------------------------------------------------------------
// TrajectoryStore

TrajectoryStore::TrajectoryStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}
TrajectoryStore::~TrajectoryStore() = default;

std::unique_ptr<TrajectoryStore> TrajectoryStore::Open(const std::string& path) {
  auto db = std::make_unique<Db>(path, /*read_only=*/false);
  storage_internal::MigrateToCurrent(*db);
  return std::unique_ptr<TrajectoryStore>(new TrajectoryStore(std::move(db)));
}

std::unique_ptr<TrajectoryStore> TrajectoryStore::OpenReadOnly(const std::string& path) {
  auto db = std::make_unique<Db>(path, /*read_only=*/true);
  storage_internal::CheckReadable(*db);
  return std::unique_ptr<TrajectoryStore>(new TrajectoryStore(std::move(db)));
}

int TrajectoryStore::SchemaVersion() {
  std::lock_guard<std::mutex> lock(mu_);
  return storage_internal::ReadSchemaVersion(*db_);
}

int TrajectoryStore::CurrentSchemaVersion() { return storage_internal::CurrentSchemaVersion(); }

std::vector<RunRecord> TrajectoryStore::ListRuns() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare(std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id");
  std::vector<RunRecord> out;
  while (s.Step()) out.push_back(ReadRun(s));
  return out;
}

RunRecord TrajectoryStore::GetRun(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare(std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
  ResetOnExit reset(s);
  s.Bind(1, run_id);
  if (!s.Step()) throw NotFound("no run with id " + std::to_string(run_id));
  return ReadRun(s);
}

std::vector<IterationRecord> TrajectoryStore::Iterations(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare(
      "SELECT run_id, iter, started_at, finished_at, summary FROM iterations WHERE run_id = ? "
      "ORDER BY iter");
  s.Bind(1, run_id);
  std::vector<IterationRecord> out;
  while (s.Step()) {
    out.push_back({s.Int(0), s.Int(1), s.Double(2), s.Double(3), JsonColumn(s, 4)});
  }
  return out;
}

std::vector<CheckpointRecord> TrajectoryStore::Checkpoints(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare(
      "SELECT id, run_id, iter, path, created_at, metrics FROM checkpoints WHERE run_id = ? "
      "ORDER BY iter, id");
  s.Bind(1, run_id);
  std::vector<CheckpointRecord> out;
  while (s.Step()) {
    out.push_back({s.Int(0), s.Int(1), s.Int(2), s.Text(3), s.Double(4), JsonColumn(s, 5)});
  }
  return out;
}

std::vector<std::string> TrajectoryStore::MetricKeys(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare("SELECT DISTINCT key FROM metrics WHERE run_id = ? ORDER BY key");
  s.Bind(1, run_id);
  std::vector<std::string> out;
  while (s.Step()) out.push_back(s.Text(0));
  return out;
}

std::vector<MetricPoint> TrajectoryStore::MetricSeries(int64_t run_id, const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare(
      "SELECT iter, value, wall_time FROM metrics WHERE run_id = ? AND key = ? ORDER BY iter");
  s.Bind(1, run_id).Bind(2, key);
  std::vector<MetricPoint> out;
  while (s.Step()) out.push_back({s.Int(0), s.Double(1), s.Double(2)});
  return out;
}

std::vector<std::pair<std::string, double>> TrajectoryStore::LatestMetrics(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare(
      "SELECT m.key, m.value FROM metrics m WHERE m.run_id = ?1 AND m.iter = "
      "(SELECT max(iter) FROM metrics WHERE run_id = ?1 AND key = m.key) ORDER BY m.key");
  s.Bind(1, run_id);
  std::vector<std::pair<std::string, double>> out;
  while (s.Step()) out.emplace_back(s.Text(0), s.Double(1));
  return out;
}

EpisodePage TrajectoryStore::QueryEpisodes(const EpisodeQuery& q) {
  const auto& sorts = EpisodeSortFields();
  if (std::find(sorts.begin(), sorts.end(), q.sort) == sorts.end()) {
    throw InvalidArgument(UnknownNameMessage("sort field", q.sort, sorts));
  }
  if (q.limit < 1 || q.limit > 10000) {
    throw InvalidArgument("limit must be between 1 and 10000, got " + std::to_string(q.limit));
  }
  if (q.offset < 0) throw InvalidArgument("offset must be >= 0, got " + std::to_string(q.offset));
  std::string fts;
  if (q.text) {
    fts = QuoteFtsQuery(*q.text);
    if (fts.empty()) throw InvalidArgument("text search needs at least one word");
  }

  // The WHERE clause is assembled from fixed fragments; every user value is a bound parameter,
  // and the statement is cached per shape.
  std::string where = " WHERE 1";
  std::vector<std::function<void(Stmt&, int)>> binds;
  auto add = [&](const char* fragment, std::function<void(Stmt&, int)> bind) {
    where += fragment;
    binds.push_back(std::move(bind));
  };
  if (q.run_id) add(" AND run_id = ?", [v = *q.run_id](Stmt& s, int i) { s.Bind(i, v); });
  if (q.iteration) add(" AND iteration = ?", [v = *q.iteration](Stmt& s, int i) { s.Bind(i, v); });
  if (q.min_iteration) {
    add(" AND iteration >= ?", [v = *q.min_iteration](Stmt& s, int i) { s.Bind(i, v); });
  }
  if (q.max_iteration) {
    add(" AND iteration <= ?", [v = *q.max_iteration](Stmt& s, int i) { s.Bind(i, v); });
  }
  if (q.split) add(" AND split = ?", [v = *q.split](Stmt& s, int i) { s.Bind(i, v); });
  if (q.env) add(" AND env = ?", [v = *q.env](Stmt& s, int i) { s.Bind(i, v); });
  if (q.task_id) add(" AND task_id = ?", [v = *q.task_id](Stmt& s, int i) { s.Bind(i, v); });
  if (q.task_type) {
    add(" AND task_type = ?", [v = *q.task_type](Stmt& s, int i) { s.Bind(i, v); });
  }
  if (q.status) {
    add(" AND status = ?", [v = std::string(EpisodeStatusName(*q.status))](Stmt& s, int i) {
      s.Bind(i, v);
    });
  }
  if (q.success) add(" AND success = ?", [v = *q.success](Stmt& s, int i) { s.Bind(i, v); });
  if (q.min_return) add(" AND return >= ?", [v = *q.min_return](Stmt& s, int i) { s.Bind(i, v); });
  if (q.max_return) add(" AND return <= ?", [v = *q.max_return](Stmt& s, int i) { s.Bind(i, v); });
  if (q.group_id) add(" AND group_id = ?", [v = *q.group_id](Stmt& s, int i) { s.Bind(i, v); });
  if (q.policy) add(" AND policy = ?", [v = *q.policy](Stmt& s, int i) { s.Bind(i, v); });
  if (q.text) {
    add(" AND id IN (SELECT t.episode_id FROM turns_fts JOIN turns t ON t.id = turns_fts.rowid "
        "WHERE turns_fts MATCH ?)",
        [v = fts](Stmt& s, int i) { s.Bind(i, v); });
  }
  std::string sort_column = q.sort == "return" ? "return" : q.sort;
  std::string order = " ORDER BY " + sort_column + (q.descending ? " DESC" : " ASC") +
                      (q.sort == "id" ? "" : (q.descending ? ", id DESC" : ", id ASC"));

  std::lock_guard<std::mutex> lock(mu_);
  EpisodePage page;
  {
    Stmt& c = db_->Prepare("SELECT count(*) FROM episodes" + where);
    ResetOnExit reset(c);
    for (size_t i = 0; i < binds.size(); ++i) binds[i](c, static_cast<int>(i + 1));
    c.Step();
    page.total = c.Int(0);
  }
  Stmt& s = db_->Prepare(std::string("SELECT ") + kEpisodeColumns + " FROM episodes" + where +
                         order + " LIMIT ? OFFSET ?");
  int n = static_cast<int>(binds.size());
  for (int i = 0; i < n; ++i) binds[static_cast<size_t>(i)](s, i + 1);
  s.Bind(n + 1, q.limit).Bind(n + 2, q.offset);
  while (s.Step()) page.episodes.push_back(ReadEpisode(s));
  return page;
}

EpisodeRecord TrajectoryStore::GetEpisode(int64_t episode_id) {
  std::lock_guard<std::mutex> lock(mu_);
  // One read transaction: the episode row and its turns come from the same snapshot.
  Transaction tx(*db_, /*immediate=*/false);
  Stmt& s =
      db_->Prepare(std::string("SELECT ") + kEpisodeColumns + " FROM episodes WHERE id = ?");
  s.Bind(1, episode_id);
  if (!s.Step()) throw NotFound("no episode with id " + std::to_string(episode_id));
  EpisodeRecord e = ReadEpisode(s);
  s.Reset();
  LoadTurns(*db_, e);
  tx.Commit();
  return e;
}

std::vector<EpisodeRecord> TrajectoryStore::GetGroup(int64_t run_id, const std::string& group_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx(*db_, /*immediate=*/false);
  Stmt& s = db_->Prepare(std::string("SELECT ") + kEpisodeColumns +
                         " FROM episodes WHERE run_id = ? AND group_id = ? ORDER BY id");
  s.Bind(1, run_id).Bind(2, group_id);
  std::vector<EpisodeRecord> out;
  while (s.Step()) out.push_back(ReadEpisode(s));
  s.Reset();
  for (auto& e : out) LoadTurns(*db_, e);
  tx.Commit();
  return out;
}

std::vector<std::pair<int64_t, int64_t>> TrajectoryStore::AnchorPeers(int64_t run_id,
                                                                      const std::string& group_id,
                                                                      uint64_t anchor_hash) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare(
      "SELECT t.episode_id, t.turn_index FROM turns t JOIN episodes e ON e.id = t.episode_id "
      "WHERE t.anchor_hash = ? AND e.run_id = ? AND e.group_id = ? "
      "ORDER BY t.episode_id, t.turn_index");
  s.Bind(1, static_cast<int64_t>(anchor_hash)).Bind(2, run_id).Bind(3, group_id);
  std::vector<std::pair<int64_t, int64_t>> out;
  while (s.Step()) out.emplace_back(s.Int(0), s.Int(1));
  return out;
}

std::pair<int64_t, int64_t> TrajectoryStore::LatestEpisodeAndIteration(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt& s = db_->Prepare(
      "SELECT (SELECT coalesce(max(id), 0) FROM episodes WHERE run_id = ?1), "
      "(SELECT coalesce(max(iter), 0) FROM iterations WHERE run_id = ?1)");
  ResetOnExit reset(s);
  s.Bind(1, run_id);
  s.Step();
  return {s.Int(0), s.Int(1)};
}

std::pair<int64_t, int64_t> TrajectoryStore::CountEpisodesAndTurns(int64_t run_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Transaction tx(*db_, /*immediate=*/false);
  // Separate statements for one run and for all: `?1 = 0 OR run_id = ?1` cannot use an index.
  Stmt& e = run_id == 0 ? db_->Prepare("SELECT count(*) FROM episodes")
                        : db_->Prepare("SELECT count(*) FROM episodes WHERE run_id = ?1").Bind(1, run_id);
  e.Step();
  std::pair<int64_t, int64_t> counts{e.Int(0), 0};
  e.Reset();
  Stmt& t = run_id == 0 ? db_->Prepare("SELECT count(*) FROM turns")
                        : db_->Prepare("SELECT count(*) FROM turns WHERE episode_id IN "
                                       "(SELECT id FROM episodes WHERE run_id = ?1)")
                              .Bind(1, run_id);
  t.Step();
  counts.second = t.Int(0);
  t.Reset();
  tx.Commit();
  return counts;
}

namespace {

Json RunToJson(const RunRecord& r) {
  return {{"type", "run"},         {"name", r.name},     {"created_at", r.created_at},
          {"finished_at", r.finished_at}, {"status", r.status}, {"env", r.env},
          {"method", r.method},    {"seed", r.seed},     {"config", r.config},
          {"notes", r.notes}};
}

Json TurnToJson(const TurnRecord& t) {
  Json j = {{"turn_index", t.turn_index},
            {"observation", t.observation},
            {"prompt", t.prompt},
            {"response", t.response},
            {"action", t.action},
            {"action_valid", t.action_valid},
            {"reward", t.reward},
            {"terminated", t.terminated},
            {"truncated", t.truncated},
            {"anchor_key", t.anchor_key},
            {"anchor_hash", t.anchor_hash},
            {"token_ids", t.token_ids},
            {"logprobs", t.logprobs},
            {"entropies", t.entropies},
            {"advantage", t.advantage ? Json(*t.advantage) : Json()},
            {"advantage_parts", t.advantage_parts},
            {"image_ref", t.image_ref},
            {"timings", t.timings},
            {"info", t.info}};
  return j;
}

Json EpisodeToJson(const EpisodeRecord& e) {
  Json turns = Json::array();
  for (const auto& t : e.turns) turns.push_back(TurnToJson(t));
  return {{"type", "episode"},
          {"iteration", e.iteration},
          {"group_id", e.group_id},
          {"env", e.env},
          {"task_id", e.task_id},
          {"task_type", e.task_type},
          {"seed", e.seed},
          {"split", e.split},
          {"status", EpisodeStatusName(e.status)},
          {"abort_reason", e.abort_reason},
          {"return", e.episode_return},
          {"success", e.success},
          {"created_at", e.created_at},
          {"policy", e.policy},
          {"info", e.info},
          {"turns", turns}};
}

}  // namespace

int64_t TrajectoryStore::ExportRun(int64_t run_id, std::ostream& out) {
  RunRecord run = GetRun(run_id);
  int64_t lines = 0;
  auto emit = [&](const Json& j) {
    out << DumpJson(j) << '\n';
    ++lines;
  };
  emit(RunToJson(run));
  for (const auto& it : Iterations(run_id)) {
    emit({{"type", "iteration"}, {"iter", it.iter}, {"started_at", it.started_at},
          {"finished_at", it.finished_at}, {"summary", it.summary}});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt& s = db_->Prepare(
        "SELECT iter, key, value, wall_time FROM metrics WHERE run_id = ? ORDER BY key, iter");
    s.Bind(1, run_id);
    while (s.Step()) {
      emit({{"type", "metric"}, {"iter", s.Int(0)}, {"key", s.Text(1)}, {"value", s.Double(2)},
            {"wall_time", s.Double(3)}});
    }
  }
  for (const auto& c : Checkpoints(run_id)) {
    emit({{"type", "checkpoint"}, {"iter", c.iter}, {"path", c.path},
          {"created_at", c.created_at}, {"metrics", c.metrics}});
  }
  // Episodes in pages, so a large run never sits in memory at once.
  int64_t last_id = 0;
  while (true) {
    std::vector<int64_t> ids;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Stmt& s = db_->Prepare(
          "SELECT id FROM episodes WHERE run_id = ? AND id > ? ORDER BY id LIMIT 256");
      s.Bind(1, run_id).Bind(2, last_id);
      while (s.Step()) ids.push_back(s.Int(0));
    }
    if (ids.empty()) break;
    for (int64_t id : ids) emit(EpisodeToJson(GetEpisode(id)));
    last_id = ids.back();
  }
  out.flush();
  if (!out) throw IoError("writing the export failed");
  return lines;
}

// ---------------------------------------------------------------------------------------------
// StoreWriter

StoreWriter::StoreWriter(std::unique_ptr<Db> db, Options options)
    : db_(std::move(db)), options_(std::move(options)) {
  TURNWISE_CHECK(options_.queue_capacity >= 1 && options_.max_batch >= 1);
  next_run_id_ = MaxId(*db_, "runs") + 1;
  next_episode_id_ = MaxId(*db_, "episodes") + 1;
  // The writer owns the database's hot path: a larger page cache keeps index pages in memory.
  db_->Exec("PRAGMA cache_size=-65536");
  db_->Exec("PRAGMA temp_store=MEMORY");
  // Turns committed by a previous writer that died before indexing them.
  IndexPendingTurns();
  thread_ = std::thread([this] { WriterLoop(); });
}

std::unique_ptr<StoreWriter> StoreWriter::Open(const std::string& path, Options options) {
  auto db = std::make_unique<Db>(path, /*read_only=*/false);
  storage_internal::MigrateToCurrent(*db);
  return std::unique_ptr<StoreWriter>(new StoreWriter(std::move(db), std::move(options)));
}

std::unique_ptr<StoreWriter> StoreWriter::Open(const std::string& path) {
  return Open(path, Options());
}

StoreWriter::~StoreWriter() {
  try {
    Close();
  } catch (const std::exception& e) {
    TURNWISE_LOG_ERROR("trajectory store writer: {}", e.what());
  }
}

void StoreWriter::ThrowIfFailed() const {
  if (error_) std::rethrow_exception(error_);
}

uint64_t StoreWriter::Enqueue(Operation op) {
  std::unique_lock<std::mutex> lock(mu_);
  not_full_.wait(lock, [this] { return queue_.size() < options_.queue_capacity || error_ || closing_; });
  ThrowIfFailed();
  if (closing_) throw FailedPrecondition("trajectory store writer is closed");
  uint64_t seq = next_sequence_++;
  queue_.emplace_back(seq, std::move(op));
  high_water_ = std::max(high_water_, queue_.size());
  lock.unlock();
  not_empty_.notify_one();
  return seq;
}

void StoreWriter::WriterLoop() {
  std::vector<std::pair<uint64_t, Operation>> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      not_empty_.wait(lock, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty() && closing_) return;
      // Group commit: wait a little for more operations unless the batch is already full.
      auto deadline = std::chrono::steady_clock::now() + options_.max_delay;
      not_empty_.wait_until(lock, deadline, [this] {
        return queue_.size() >= options_.max_batch || closing_;
      });
      size_t n = std::min(queue_.size(), options_.max_batch);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    not_full_.notify_all();
    try {
      Transaction tx(*db_);
      for (auto& [seq, op] : batch) {
        if (options_.before_apply) options_.before_apply();
        op(*db_);
      }
      tx.Commit();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      queue_.clear();
      not_full_.notify_all();
      committed_cv_.notify_all();
      return;
    }
    uint64_t last = batch.back().first;
    batch.clear();
    bool idle;
    {
      std::lock_guard<std::mutex> lock(mu_);
      committed_ = last;
      idle = queue_.empty();
    }
    committed_cv_.notify_all();
    if (options_.on_commit) options_.on_commit(last);
    try {
      if (idle) {
        IndexPendingTurns();
      } else {
        Stmt& s = db_->Prepare(
            "SELECT coalesce(max(id), 0) - (SELECT indexed_upto FROM fts_state) FROM turns");
        ResetOnExit reset(s);
        s.Step();
        if (s.Int(0) > options_.max_index_backlog) IndexPendingTurns();
        idle = false;
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
      queue_.clear();
      not_full_.notify_all();
      committed_cv_.notify_all();
      return;
    }
    if (idle) {
      // Everything committed so far is now searchable.
      std::lock_guard<std::mutex> lock(mu_);
      indexed_ = last;
    }
    committed_cv_.notify_all();
  }
}

void StoreWriter::IndexPendingTurns() {
  Transaction tx(*db_);
  db_->Prepare(
        "INSERT INTO turns_fts(rowid, observation, action) SELECT id, observation, action "
        "FROM turns WHERE id > (SELECT indexed_upto FROM fts_state) ORDER BY id")
      .Run();
  db_->Prepare("UPDATE fts_state SET indexed_upto = (SELECT coalesce(max(id), 0) FROM turns)")
      .Run();
  tx.Commit();
}

int64_t StoreWriter::CreateRun(RunRecord run) {
  int64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ThrowIfFailed();
    id = next_run_id_++;
  }
  run.id = id;
  if (run.created_at == 0) run.created_at = NowSeconds();
  Enqueue([run = std::move(run)](Db& db) { InsertRun(db, run); });
  return id;
}

uint64_t StoreWriter::UpdateRunStatus(int64_t run_id, const std::string& status,
                                      std::optional<double> finished_at_or_now) {
  const double finished_at = finished_at_or_now ? *finished_at_or_now : status == "running" ? 0.0 : NowSeconds();
  return Enqueue([=](Db& db) {
    db.Prepare("UPDATE runs SET status = ?, finished_at = ? WHERE id = ?")
        .Bind(1, status)
        .Bind(2, finished_at)
        .Bind(3, run_id)
        .Run();
  });
}

uint64_t StoreWriter::BeginIteration(int64_t run_id, int64_t iter) {
  IterationRecord it{run_id, iter, NowSeconds(), 0, Json::object()};
  return Enqueue([it](Db& db) { InsertIteration(db, it); });
}

uint64_t StoreWriter::FinishIteration(int64_t run_id, int64_t iter, Json summary) {
  double now = NowSeconds();
  return Enqueue([=, summary = std::move(summary)](Db& db) {
    db.Prepare(
          "INSERT INTO iterations(run_id, iter, started_at, finished_at, summary) "
          "VALUES (?1, ?2, ?3, ?3, ?4) ON CONFLICT(run_id, iter) DO UPDATE SET "
          "finished_at = excluded.finished_at, summary = excluded.summary")
        .Bind(1, run_id)
        .Bind(2, iter)
        .Bind(3, now)
        .Bind(4, DumpJson(summary))
        .Run();
  });
}

uint64_t StoreWriter::AppendMetrics(int64_t run_id, int64_t iter,
                                    std::vector<std::pair<std::string, double>> values) {
  double now = NowSeconds();
  return Enqueue([=, values = std::move(values)](Db& db) {
    InsertMetrics(db, run_id, iter, values, now);
  });
}

uint64_t StoreWriter::AppendEpisode(EpisodeRecord episode, int64_t* id_out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ThrowIfFailed();
    episode.id = next_episode_id_++;
  }
  if (id_out) *id_out = episode.id;
  if (episode.created_at == 0) episode.created_at = NowSeconds();
  episode.num_turns = static_cast<int64_t>(episode.turns.size());
  for (auto& t : episode.turns) {
    if (t.anchor_hash == 0) t.anchor_hash = StableHash64(t.anchor_key);
  }
  auto shared = std::make_shared<EpisodeRecord>(std::move(episode));
  return Enqueue([shared](Db& db) { InsertEpisode(db, *shared); });
}

uint64_t StoreWriter::SetTurnAdvantages(int64_t episode_id, std::vector<double> advantages,
                                        std::vector<Json> parts) {
  if (!parts.empty() && parts.size() != advantages.size()) {
    throw InvalidArgument("SetTurnAdvantages: " + std::to_string(advantages.size()) +
                          " advantages but " + std::to_string(parts.size()) + " parts");
  }
  return Enqueue([=, advantages = std::move(advantages), parts = std::move(parts)](Db& db) {
    Stmt& s = db.Prepare(
        "UPDATE turns SET advantage = ?, advantage_parts = ? WHERE episode_id = ? AND "
        "turn_index = ?");
    for (size_t i = 0; i < advantages.size(); ++i) {
      s.Reset();
      s.Bind(1, advantages[i]);
      if (parts.empty() || parts[i].is_null()) {
        s.BindNull(2);
      } else {
        s.Bind(2, DumpJson(parts[i]));
      }
      s.Bind(3, episode_id).Bind(4, static_cast<int64_t>(i)).Run();
    }
  });
}

uint64_t StoreWriter::AddCheckpoint(CheckpointRecord checkpoint) {
  if (checkpoint.created_at == 0) checkpoint.created_at = NowSeconds();
  return Enqueue([checkpoint](Db& db) { InsertCheckpoint(db, checkpoint); });
}

void StoreWriter::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t target = next_sequence_ - 1;
  committed_cv_.wait(lock, [&] { return indexed_ >= target || error_; });
  ThrowIfFailed();
}

uint64_t StoreWriter::IndexedSequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return indexed_;
}

uint64_t StoreWriter::CommittedSequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_;
}

size_t StoreWriter::QueueHighWater() const {
  std::lock_guard<std::mutex> lock(mu_);
  return high_water_;
}

void StoreWriter::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  ThrowIfFailed();
}

// ---------------------------------------------------------------------------------------------
// Import

namespace {

template <class T>
T Field(const Json& j, const char* key, int64_t line) {
  auto it = j.find(key);
  if (it == j.end()) {
    throw InvalidArgument("import line " + std::to_string(line) + ": missing field '" + key + "'");
  }
  try {
    return it->get<T>();
  } catch (const Json::exception&) {
    throw InvalidArgument("import line " + std::to_string(line) + ": field '" + key +
                          "' has the wrong type (" + JsonTypeName(*it) + ")");
  }
}

TurnRecord TurnFromJson(const Json& j, int64_t line) {
  TurnRecord t;
  t.turn_index = Field<int64_t>(j, "turn_index", line);
  t.observation = Field<std::string>(j, "observation", line);
  t.prompt = Field<std::string>(j, "prompt", line);
  t.response = Field<std::string>(j, "response", line);
  t.action = Field<std::string>(j, "action", line);
  t.action_valid = Field<bool>(j, "action_valid", line);
  t.reward = Field<double>(j, "reward", line);
  t.terminated = Field<bool>(j, "terminated", line);
  t.truncated = Field<bool>(j, "truncated", line);
  t.anchor_key = Field<std::string>(j, "anchor_key", line);
  t.anchor_hash = Field<uint64_t>(j, "anchor_hash", line);
  t.token_ids = Field<std::vector<int32_t>>(j, "token_ids", line);
  t.logprobs = Field<std::vector<float>>(j, "logprobs", line);
  t.entropies = Field<std::vector<float>>(j, "entropies", line);
  if (j.contains("advantage") && !j["advantage"].is_null()) {
    t.advantage = Field<double>(j, "advantage", line);
  }
  t.advantage_parts = j.value("advantage_parts", Json());
  t.image_ref = j.value("image_ref", "");
  t.timings = j.value("timings", Json::object());
  t.info = j.value("info", Json::object());
  return t;
}

}  // namespace

int64_t StoreWriter::ImportRun(std::istream& in) {
  // Parse and validate everything first: a malformed file writes nothing.
  std::optional<RunRecord> run;
  std::vector<IterationRecord> iterations;
  std::vector<std::tuple<int64_t, std::string, double, double>> metrics;
  std::vector<CheckpointRecord> checkpoints;
  std::vector<EpisodeRecord> episodes;
  std::string text;
  int64_t line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (text.empty()) continue;
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      throw InvalidArgument("import line " + std::to_string(line) + ": not a JSON object");
    }
    std::string type = Field<std::string>(j, "type", line);
    if (line == 1 && type != "run") {
      throw InvalidArgument("import line 1: the first line must be the run (type \"run\")");
    }
    if (type == "run") {
      if (run) throw InvalidArgument("import line " + std::to_string(line) + ": a second run");
      RunRecord r;
      r.name = Field<std::string>(j, "name", line);
      r.created_at = Field<double>(j, "created_at", line);
      r.finished_at = j.value("finished_at", 0.0);
      r.status = Field<std::string>(j, "status", line);
      r.env = j.value("env", "");
      r.method = j.value("method", "");
      r.seed = j.value("seed", int64_t{0});
      r.config = j.value("config", Json::object());
      r.notes = j.value("notes", "");
      run = r;
    } else if (type == "iteration") {
      iterations.push_back({0, Field<int64_t>(j, "iter", line), Field<double>(j, "started_at", line),
                            j.value("finished_at", 0.0), j.value("summary", Json::object())});
    } else if (type == "metric") {
      metrics.emplace_back(Field<int64_t>(j, "iter", line), Field<std::string>(j, "key", line),
                           Field<double>(j, "value", line), j.value("wall_time", 0.0));
    } else if (type == "checkpoint") {
      checkpoints.push_back({0, 0, Field<int64_t>(j, "iter", line),
                             Field<std::string>(j, "path", line),
                             Field<double>(j, "created_at", line), j.value("metrics", Json::object())});
    } else if (type == "episode") {
      EpisodeRecord e;
      e.iteration = Field<int64_t>(j, "iteration", line);
      e.group_id = Field<std::string>(j, "group_id", line);
      e.env = Field<std::string>(j, "env", line);
      e.task_id = Field<std::string>(j, "task_id", line);
      e.task_type = j.value("task_type", "");
      e.seed = Field<int64_t>(j, "seed", line);
      e.split = Field<std::string>(j, "split", line);
      try {
        e.status = ParseEpisodeStatus(Field<std::string>(j, "status", line));
      } catch (const InvalidArgument& err) {
        throw InvalidArgument("import line " + std::to_string(line) + ": " + err.what());
      }
      e.abort_reason = j.value("abort_reason", "");
      e.episode_return = Field<double>(j, "return", line);
      e.success = Field<bool>(j, "success", line);
      e.created_at = Field<double>(j, "created_at", line);
      e.policy = j.value("policy", "");
      e.info = j.value("info", Json::object());
      for (const Json& t : Field<Json>(j, "turns", line)) e.turns.push_back(TurnFromJson(t, line));
      episodes.push_back(std::move(e));
    } else {
      throw InvalidArgument("import line " + std::to_string(line) + ": unknown record type '" +
                            type + "'; known: run, iteration, metric, checkpoint, episode");
    }
  }
  if (!run) throw InvalidArgument("import: the input holds no run");

  int64_t run_id = CreateRun(*run);
  for (auto& it : iterations) {
    it.run_id = run_id;
    Enqueue([it](Db& db) { InsertIteration(db, it); });
  }
  for (auto& [iter, key, value, wall] : metrics) {
    Enqueue([=, key = key](Db& db) { InsertMetrics(db, run_id, iter, {{key, value}}, wall); });
  }
  for (auto& c : checkpoints) {
    c.run_id = run_id;
    AddCheckpoint(c);
  }
  for (auto& e : episodes) {
    e.run_id = run_id;
    AppendEpisode(std::move(e));
  }
  Flush();
  return run_id;
}

}  // namespace turnwise
