// Fault-injection and concurrency tests of the store: a writer killed with SIGKILL, and readers
// racing a writer.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "core/error.h"
#include "storage/store.h"
#include "tests/storage/store_test_util.h"

#ifndef TURNWISE_STORE_CHILD
#error "TURNWISE_STORE_CHILD must name the writer child binary"
#endif

namespace turnwise {
namespace {

using testing_util::MakeEpisode;
using testing_util::TempDir;

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  sqlite3_stmt* stmt = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr);
  std::string result;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    result += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return result;
}

TEST(StoreDurability, SigkillMidStreamLosesNoCommittedEpisode) {
  TempDir dir;
  std::string path = dir.File("killed.db");
  const int kTurns = 5;
  for (int round = 0; round < 3; ++round) {
    int out[2];
    ASSERT_EQ(pipe(out), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      execl(TURNWISE_STORE_CHILD, TURNWISE_STORE_CHILD, path.c_str(),
            std::to_string(kTurns).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    FILE* in = fdopen(out[0], "r");
    uint64_t committed = 0;
    char line[128];
    // Let it commit a varying number of batches, then kill it while it is still writing.
    const uint64_t kill_after = 40 + 60 * static_cast<uint64_t>(round);
    while (committed < kill_after && std::fgets(line, sizeof(line), in)) {
      unsigned long long seq = 0;
      if (std::sscanf(line, "committed %llu", &seq) == 1) committed = seq;
    }
    kill(pid, SIGKILL);
    // Lines written before the kill are still in the pipe: read them all.
    while (std::fgets(line, sizeof(line), in)) {
      unsigned long long seq = 0;
      if (std::sscanf(line, "committed %llu", &seq) == 1) committed = seq;
    }
    fclose(in);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child must die by the signal, status " << status;
    ASSERT_GE(committed, kill_after);

    EXPECT_EQ(IntegrityCheck(path), "ok");
    auto store = TrajectoryStore::Open(path);
    auto runs = store->ListRuns();
    ASSERT_EQ(runs.size(), static_cast<size_t>(round + 1));
    int64_t run = runs.back().id;
    // Sequence 1 was the run; sequences 2..committed are episodes 0..committed-2.
    int64_t reported_episodes = static_cast<int64_t>(committed) - 1;
    auto page = store->QueryEpisodes({.run_id = run, .limit = 10000});
    EXPECT_GE(page.total, reported_episodes);
    // No half episodes: every stored episode has all its turns, and they are the right ones.
    for (const auto& e : page.episodes) {
      EpisodeRecord full = store->GetEpisode(e.id);
      ASSERT_EQ(full.num_turns, kTurns);
      ASSERT_EQ(full.turns.size(), static_cast<size_t>(kTurns));
      int64_t index = full.info["index"].get<int64_t>();
      EXPECT_EQ(full.turns.back().observation, MakeEpisode(run, index, kTurns).turns.back().observation);
    }
    // Every reported episode index is present.
    std::vector<bool> seen(static_cast<size_t>(page.total), false);
    for (const auto& e : page.episodes) {
      int64_t index = e.info["index"].get<int64_t>();
      if (index < page.total) seen[static_cast<size_t>(index)] = true;
    }
    for (int64_t i = 0; i < reported_episodes; ++i) {
      ASSERT_TRUE(seen[static_cast<size_t>(i)]) << "committed episode " << i << " is missing";
    }
    auto counts = store->CountEpisodesAndTurns(run);
    EXPECT_EQ(counts.second, counts.first * kTurns);
  }
}

TEST(StoreConcurrency, ReadersNeverSeeLockErrorsOrHalfEpisodes) {
  TempDir dir;
  std::string path = dir.File("busy.db");
  const int kTurns = 4;
  auto writer = StoreWriter::Open(path);
  int64_t run = writer->CreateRun({.name = "busy"});
  writer->Flush();
  std::atomic<bool> done{false};
  std::atomic<int64_t> reads{0};
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex error_mu;
  auto reader = [&](int which) {
    try {
      auto store = which % 2 ? TrajectoryStore::OpenReadOnly(path) : TrajectoryStore::Open(path);
      while (!done) {
        auto page = store->QueryEpisodes({.run_id = run, .sort = "id", .descending = true,
                                          .limit = 20});
        for (const auto& e : page.episodes) {
          if (e.num_turns != kTurns) throw std::runtime_error("episode row with wrong num_turns");
        }
        if (!page.episodes.empty()) {
          auto e = store->GetEpisode(page.episodes[0].id);
          if (e.turns.size() != kTurns) throw std::runtime_error("half episode visible");
        }
        store->QueryEpisodes({.text = "drawer", .limit = 5});
        store->MetricSeries(run, "loss");
        reads++;
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (errors++ == 0) first_error = e.what();
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) readers.emplace_back(reader, i);
  for (int i = 0; i < 3000; ++i) {
    writer->AppendEpisode(MakeEpisode(run, i, kTurns));
    if (i % 100 == 0) writer->AppendMetrics(run, i / 100, {{"loss", 1.0 / (i + 1)}});
  }
  writer->Flush();
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0) << first_error;
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(TrajectoryStore::Open(path)->CountEpisodesAndTurns(run),
            std::make_pair(int64_t{3000}, int64_t{3000 * kTurns}));
}

}  // namespace
}  // namespace turnwise
