#include "storage/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/hash.h"
#include "tests/storage/store_test_util.h"

namespace turnwise {
namespace {

using testing_util::MakeEpisode;
using testing_util::TempDir;

// A store with one run of 20 episodes (3 turns each) and a few metrics.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("runs.db");
    auto writer = StoreWriter::Open(path_);
    run_ = writer->CreateRun({.name = "demo", .env = "household", .method = "grpo", .seed = 3,
                              .config = {{"trainer", {{"lr", 0.001}}}}});
    for (int i = 0; i < 20; ++i) writer->AppendEpisode(MakeEpisode(run_, i, 3));
    for (int it = 0; it < 3; ++it) {
      writer->BeginIteration(run_, it);
      writer->AppendMetrics(run_, it, {{"success", 0.1 * it}, {"return", 1.0 * it}});
      writer->FinishIteration(run_, it, {{"episodes", 10}});
    }
    writer->AddCheckpoint({.run_id = run_, .iter = 2, .path = "ckpt/2"});
    writer->UpdateRunStatus(run_, "finished", 123.0);
    writer->Close();
    store_ = TrajectoryStore::Open(path_);
  }

  TempDir dir_;
  std::string path_;
  int64_t run_ = 0;
  std::unique_ptr<TrajectoryStore> store_;
};

TEST_F(StoreTest, RunAndMetadataRoundTrip) {
  auto runs = store_->ListRuns();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].name, "demo");
  EXPECT_EQ(runs[0].status, "finished");
  EXPECT_EQ(runs[0].finished_at, 123.0);
  EXPECT_EQ(runs[0].config["trainer"]["lr"], 0.001);
  EXPECT_GT(runs[0].created_at, 1.6e9);
  EXPECT_EQ(store_->Iterations(run_).size(), 3u);
  EXPECT_EQ(store_->Iterations(run_)[1].summary["episodes"], 10);
  ASSERT_EQ(store_->Checkpoints(run_).size(), 1u);
  EXPECT_EQ(store_->Checkpoints(run_)[0].path, "ckpt/2");
  EXPECT_EQ(store_->MetricKeys(run_), (std::vector<std::string>{"return", "success"}));
  auto series = store_->MetricSeries(run_, "success");
  ASSERT_EQ(series.size(), 3u);
  EXPECT_DOUBLE_EQ(series[2].value, 0.2);
  EXPECT_EQ(series[2].iter, 2);
  auto latest = store_->LatestMetrics(run_);
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(latest[0].first, "return");
  EXPECT_DOUBLE_EQ(latest[0].second, 2.0);
  EXPECT_EQ(store_->SchemaVersion(), TrajectoryStore::CurrentSchemaVersion());
}

TEST_F(StoreTest, EpisodeWithTurnsRoundTripsExactly) {
  EpisodeRecord expected = MakeEpisode(run_, 6, 3);
  auto page = store_->QueryEpisodes({.run_id = run_, .limit = 100});
  ASSERT_EQ(page.total, 20);
  EpisodeRecord got = store_->GetEpisode(page.episodes[6].id);
  EXPECT_EQ(got.group_id, expected.group_id);
  EXPECT_EQ(got.task_type, expected.task_type);
  EXPECT_EQ(got.info["index"], 6);
  EXPECT_EQ(got.num_turns, 3);
  ASSERT_EQ(got.turns.size(), 3u);
  for (size_t t = 0; t < 3; ++t) {
    const auto& a = got.turns[t];
    const auto& b = expected.turns[t];
    EXPECT_EQ(a.observation, b.observation);
    EXPECT_EQ(a.action, b.action);
    EXPECT_EQ(a.token_ids, b.token_ids);      // exact int32
    EXPECT_EQ(a.logprobs, b.logprobs);        // exact float32, incl. -3.4e38 and -1e-8
    EXPECT_EQ(a.entropies, b.entropies);
    EXPECT_EQ(a.anchor_hash, StableHash64(b.anchor_key));
    EXPECT_FALSE(a.advantage.has_value());
    EXPECT_TRUE(a.advantage_parts.is_null());
  }
  EXPECT_THROW(store_->GetEpisode(99999), NotFound);
}

TEST_F(StoreTest, FiltersNarrowTheEpisodes) {
  auto count = [&](EpisodeQuery q) {
    q.run_id = run_;
    q.limit = 100;
    return store_->QueryEpisodes(q).total;
  };
  EXPECT_EQ(count({}), 20);
  EXPECT_EQ(count({.iteration = 1}), 10);
  EXPECT_EQ(count({.min_iteration = 1, .max_iteration = 1}), 10);
  EXPECT_EQ(count({.split = "valid_seen"}), 4);        // 0, 5, 10, 15
  EXPECT_EQ(count({.env = "shop"}), 7);                // multiples of 3 below 20
  EXPECT_EQ(count({.task_id = "train/2"}), 4);
  EXPECT_EQ(count({.task_type = "look_at_obj_in_light"}), 10);
  EXPECT_EQ(count({.status = EpisodeStatus::kTruncated}), 3);  // 0, 7, 14
  EXPECT_EQ(count({.success = true}), 10);
  EXPECT_EQ(count({.min_return = 5.0}), 10);
  EXPECT_EQ(count({.max_return = 5.0}), 10);
  EXPECT_EQ(count({.group_id = "g3"}), 4);
  EXPECT_EQ(count({.split = "train", .success = true}), 8);
  EXPECT_EQ(count({.policy = "expert"}), 0);
}

TEST_F(StoreTest, PaginationAndSort) {
  EpisodeQuery q{.run_id = run_, .sort = "return", .descending = true, .limit = 6, .offset = 0};
  auto first = store_->QueryEpisodes(q);
  EXPECT_EQ(first.total, 20);
  ASSERT_EQ(first.episodes.size(), 6u);
  for (const auto& e : first.episodes) EXPECT_DOUBLE_EQ(e.episode_return, 10.0);
  // Ties are broken by id in the same direction, so pages never overlap.
  EXPECT_GT(first.episodes[0].id, first.episodes[1].id);
  q.offset = 18;
  auto last = store_->QueryEpisodes(q);
  ASSERT_EQ(last.episodes.size(), 2u);
  EXPECT_DOUBLE_EQ(last.episodes[1].episode_return, 0.0);
  EXPECT_TRUE(last.episodes[0].turns.empty());  // list queries carry no turns
}

TEST_F(StoreTest, BadQueryParametersAreRejectedWithReasons) {
  try {
    store_->QueryEpisodes({.sort = "retrun"});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()),
              "unknown sort field 'retrun' (did you mean 'return'?); known: id, return, "
              "num_turns, created_at, iteration");
  }
  EXPECT_THROW(store_->QueryEpisodes({.limit = 0}), InvalidArgument);
  EXPECT_THROW(store_->QueryEpisodes({.offset = -1}), InvalidArgument);
  EXPECT_THROW(store_->QueryEpisodes({.text = "   "}), InvalidArgument);
}

TEST_F(StoreTest, FullTextSearchIsLiteralAndCombinesWithFilters) {
  EXPECT_EQ(store_->QueryEpisodes({.text = "episode 13"}).total, 1);
  EXPECT_EQ(store_->QueryEpisodes({.text = "drawer 3"}).total, 20);  // every third turn
  EXPECT_EQ(store_->QueryEpisodes({.success = true, .text = "drawer"}).total, 10);
  // FTS5 operators in user text are searched literally instead of failing.
  auto writer = StoreWriter::Open(path_);
  EpisodeRecord odd = MakeEpisode(run_, 100, 1);
  odd.turns[0].observation = "a state-of-the-art \"quoted\" agent: uses (parens) NOT* here";
  writer->AppendEpisode(odd);
  writer->Close();
  EXPECT_EQ(store_->QueryEpisodes({.text = "state-of-the-art"}).total, 1);
  EXPECT_EQ(store_->QueryEpisodes({.text = "\"quoted\" agent:"}).total, 1);
  EXPECT_EQ(store_->QueryEpisodes({.text = "(parens) NOT*"}).total, 1);
  EXPECT_EQ(store_->QueryEpisodes({.text = "open drawer 1"}).total, 21);  // actions too
  EXPECT_EQ(store_->QueryEpisodes({.text = "nonexistentword"}).total, 0);
}

TEST_F(StoreTest, GroupReturnsAllMembersWithTurns) {
  auto group = store_->GetGroup(run_, "g2");
  ASSERT_EQ(group.size(), 4u);
  for (const auto& e : group) {
    EXPECT_EQ(e.group_id, "g2");
    EXPECT_EQ(e.turns.size(), 3u);
  }
  EXPECT_TRUE(store_->GetGroup(run_, "nope").empty());
}

TEST_F(StoreTest, AdvantagesAndPartsAreStoredPerTurn) {
  auto page = store_->QueryEpisodes({.run_id = run_, .limit = 1});
  int64_t id = page.episodes[0].id;
  auto writer = StoreWriter::Open(path_);
  writer->SetTurnAdvantages(id, {0.5, -0.25, 1.0},
                            {{{"episode", 0.5}}, {{"episode", -0.25}}, {{"step", 1.0}}});
  EXPECT_THROW(writer->SetTurnAdvantages(id, {1.0}, {Json(), Json()}), InvalidArgument);
  writer->Close();
  auto e = store_->GetEpisode(id);
  ASSERT_TRUE(e.turns[1].advantage.has_value());
  EXPECT_DOUBLE_EQ(*e.turns[1].advantage, -0.25);
  EXPECT_EQ(e.turns[2].advantage_parts["step"], 1.0);
}

TEST_F(StoreTest, ExportImportExportIsByteIdentical) {
  std::ostringstream first;
  int64_t lines = store_->ExportRun(run_, first);
  EXPECT_EQ(lines, 1 + 3 + 6 + 1 + 20);  // run, iterations, metrics, checkpoint, episodes
  std::string other = dir_.File("other.db");
  int64_t imported;
  {
    auto writer = StoreWriter::Open(other);
    std::istringstream in(first.str());
    imported = writer->ImportRun(in);
  }
  auto copy = TrajectoryStore::Open(other);
  std::ostringstream second;
  copy->ExportRun(imported, second);
  EXPECT_EQ(first.str(), second.str());
  EXPECT_EQ(copy->QueryEpisodes({.text = "episode 13"}).total, 1);  // FTS rebuilt on import
}

TEST_F(StoreTest, MalformedImportNamesTheLineAndWritesNothing) {
  std::string other = dir_.File("bad.db");
  auto writer = StoreWriter::Open(other);
  std::istringstream in(
      "{\"type\":\"run\",\"name\":\"x\",\"created_at\":1,\"status\":\"finished\"}\n"
      "{\"type\":\"episode\",\"iteration\":0}\n");
  try {
    writer->ImportRun(in);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()), "import line 2: missing field 'group_id'");
  }
  std::istringstream junk("not json\n");
  EXPECT_THROW(writer->ImportRun(junk), InvalidArgument);
  writer->Close();
  EXPECT_TRUE(TrajectoryStore::Open(other)->ListRuns().empty());
}

// A run's end time is recorded when its status says it ended, without the caller passing it;
// "running" clears it.
TEST(Store, EndedRunsRecordTheirEndTime) {
  TempDir dir;
  const std::string path = dir.File("s.db");
  auto writer = StoreWriter::Open(path);
  const int64_t ran = writer->CreateRun({.name = "a", .env = "frozenlake", .method = "grpo"});
  const int64_t failed = writer->CreateRun({.name = "b", .env = "frozenlake", .method = "grpo"});
  const int64_t running = writer->CreateRun({.name = "c", .env = "frozenlake", .method = "grpo"});
  const auto wall_clock = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  const double before = wall_clock();
  writer->UpdateRunStatus(ran, "running");
  writer->UpdateRunStatus(ran, "finished");
  writer->UpdateRunStatus(failed, "failed");
  writer->UpdateRunStatus(running, "interrupted");
  writer->UpdateRunStatus(running, "running");
  writer->Close();
  const double after = wall_clock();
  auto store = TrajectoryStore::Open(path);
  for (const RunRecord& r : store->ListRuns()) {
    if (r.id == running) {
      EXPECT_EQ(r.finished_at, 0.0) << "a running run has no end time";
      continue;
    }
    EXPECT_GE(r.finished_at, before) << r.name;
    EXPECT_LE(r.finished_at, after) << r.name;
  }
}

TEST(Store, DatabaseNewerThanBinaryFailsClearly) {
  TempDir dir;
  std::string path = dir.File("future.db");
  TrajectoryStore::Open(path).reset();
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 0)", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  std::string expected = "database '" + path +
                         "' has schema version 99, newer than this turnwise binary supports (" +
                         std::to_string(TrajectoryStore::CurrentSchemaVersion()) +
                         "); upgrade turnwise to open it";
  for (int mode = 0; mode < 3; ++mode) {
    try {
      if (mode == 0) TrajectoryStore::Open(path);
      if (mode == 1) TrajectoryStore::OpenReadOnly(path);
      if (mode == 2) StoreWriter::Open(path);
      FAIL() << "mode " << mode;
    } catch (const FailedPrecondition& e) {
      EXPECT_EQ(std::string(e.what()), expected);
    }
  }
}

TEST(Store, UnreadablePathsNameThePath) {
  TempDir dir;
  try {
    TrajectoryStore::Open("/nonexistent-dir/x/runs.db");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot open database '/nonexistent-dir/x/runs.db': unable to open database file");
  }
  // A directory is not a database.
  EXPECT_THROW(TrajectoryStore::Open(dir.path().string()), IoError);
  // A file that is not SQLite.
  std::string junk = dir.File("junk.db");
  std::ofstream(junk) << "this is not a database, just text that is long enough to have a header";
  try {
    TrajectoryStore::Open(junk);
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find(junk), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a database"), std::string::npos) << e.what();
  }
  // Read-only open never creates a file.
  EXPECT_THROW(TrajectoryStore::OpenReadOnly(dir.File("missing.db")), IoError);
  EXPECT_FALSE(std::filesystem::exists(dir.File("missing.db")));
}

TEST(Store, ReadOnlyOpenReadsAndRejectsNonTurnwiseFiles) {
  TempDir dir;
  std::string path = dir.File("ro.db");
  {
    auto w = StoreWriter::Open(path);
    w->CreateRun({.name = "r"});
  }
  auto ro = TrajectoryStore::OpenReadOnly(path);
  EXPECT_EQ(ro->ListRuns().size(), 1u);
  // Opening an empty file read-only is not a turnwise database.
  std::string empty = dir.File("empty.db");
  std::ofstream(empty).close();
  EXPECT_THROW(TrajectoryStore::OpenReadOnly(empty), FailedPrecondition);
}

TEST(Store, WriterBackPressureBoundsTheQueue) {
  TempDir dir;
  StoreWriter::Options options;
  options.queue_capacity = 4;
  options.max_batch = 2;
  // A slow writer: every operation takes a millisecond, so producers outrun it.
  options.before_apply = [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); };
  auto writer = StoreWriter::Open(dir.File("bp.db"), options);
  int64_t run = writer->CreateRun({.name = "bp"});
  for (int i = 0; i < 200; ++i) writer->AppendEpisode(MakeEpisode(run, i, 1));
  writer->Flush();
  EXPECT_LE(writer->QueueHighWater(), 4u);
  EXPECT_EQ(writer->QueueHighWater(), 4u);  // it did fill up: the bound was exercised
  EXPECT_EQ(writer->CommittedSequence(), 201u);
  writer->Close();
  EXPECT_EQ(TrajectoryStore::Open(dir.File("bp.db"))->CountEpisodesAndTurns(run),
            std::make_pair(int64_t{200}, int64_t{200}));
}

TEST(Store, WriterAssignsIdsAfterExistingOnes) {
  TempDir dir;
  std::string path = dir.File("ids.db");
  int64_t first_id = 0, second_id = 0;
  {
    auto w = StoreWriter::Open(path);
    int64_t run = w->CreateRun({.name = "a"});
    w->AppendEpisode(MakeEpisode(run, 0, 1), &first_id);
  }
  {
    auto w = StoreWriter::Open(path);
    EXPECT_EQ(w->CreateRun({.name = "b"}), 2);
    w->AppendEpisode(MakeEpisode(2, 0, 1), &second_id);
  }
  EXPECT_EQ(first_id, 1);
  EXPECT_EQ(second_id, 2);
}

}  // namespace
}  // namespace turnwise

namespace turnwise {
namespace {

TEST_F(StoreTest, AnchorPeersAreTheGroupTurnsSharingAState) {
  // Group g1 holds episodes 4..7; every episode's turn t has anchor "state t".
  auto group = store_->GetGroup(run_, "g1");
  ASSERT_EQ(group.size(), 4u);
  auto peers = store_->AnchorPeers(run_, "g1", group[0].turns[1].anchor_hash);
  ASSERT_EQ(peers.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(peers[i].first, group[i].id);
    EXPECT_EQ(peers[i].second, 1);
  }
  EXPECT_TRUE(store_->AnchorPeers(run_, "g1", 12345).empty());
  auto [episode, iter] = store_->LatestEpisodeAndIteration(run_);
  EXPECT_EQ(episode, 20);
  EXPECT_EQ(iter, 2);
}

}  // namespace
}  // namespace turnwise

namespace turnwise {
namespace {

// The UI's default episode listing (one run, newest first) and a run's counts are answered from
// an index, without sorting the run in a temporary B-tree (what made deep pages of a
// 100k-episode run take 143 ms).
TEST_F(StoreTest, RunListingAndCountsUseAnIndexNotASort) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  auto plan = [&](const std::string& sql) {
    std::string out;
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &s, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    while (sqlite3_step(s) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
      out += "\n";
    }
    sqlite3_finalize(s);
    return out;
  };
  // The shapes TrajectoryStore::QueryEpisodes and CountEpisodesAndTurns prepare.
  std::string listing = plan("SELECT id FROM episodes WHERE 1 AND run_id = 1 ORDER BY id DESC LIMIT 50 OFFSET 50000");
  EXPECT_EQ(listing.find("TEMP B-TREE"), std::string::npos) << listing;
  EXPECT_NE(listing.find("episodes_by_run_id"), std::string::npos) << listing;
  std::string count = plan("SELECT count(*) FROM episodes WHERE run_id = 1");
  EXPECT_NE(count.find("USING COVERING INDEX"), std::string::npos) << count;
  sqlite3_close(db);
  store_ = TrajectoryStore::Open(path_);
  EXPECT_EQ(store_->CountEpisodesAndTurns(run_), (std::pair<int64_t, int64_t>{20, 60}));
  EXPECT_EQ(store_->CountEpisodesAndTurns(0), (std::pair<int64_t, int64_t>{20, 60}));
  EXPECT_EQ(store_->CountEpisodesAndTurns(run_ + 1), (std::pair<int64_t, int64_t>{0, 0}));
  auto newest = store_->QueryEpisodes({.run_id = run_, .descending = true, .limit = 5});
  ASSERT_EQ(newest.episodes.size(), 5u);
  EXPECT_GT(newest.episodes[0].id, newest.episodes[4].id);
}

}  // namespace
}  // namespace turnwise
