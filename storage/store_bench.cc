#include "storage/store_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <thread>
#include <vector>

#include <unistd.h>

#include "core/stats.h"
#include "core/error.h"
#include "core/rng.h"
#include "storage/internal/schema.h"
#include "storage/internal/sqlite.h"
#include "storage/store.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

double Seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

EpisodeRecord MakeEpisode(int64_t run_id, int64_t index, const StoreBenchOptions& o, Rng& rng) {
  EpisodeRecord e;
  e.run_id = run_id;
  e.iteration = index / 64;
  e.group_id = "g" + std::to_string(index / 8);
  e.env = "household";
  e.task_id = "train/" + std::to_string(index / 8);
  e.task_type = "pick_and_place_simple";
  e.seed = index / 8;
  e.split = "train";
  e.success = rng.Bernoulli(0.5);
  e.episode_return = e.success ? 10.0 : 0.0;
  for (int64_t t = 0; t < o.turns_per_episode; ++t) {
    TurnRecord turn;
    turn.turn_index = t;
    turn.observation = "You arrive at countertop " + std::to_string(rng.Uniform(3) + 1) +
                       ". On the countertop, you see a apple 1, and a knife 2.";
    turn.action = "go to drawer " + std::to_string(rng.Uniform(5) + 1);
    turn.response = "<think>look for it</think><action>" + turn.action + "</action>";
    turn.anchor_key = turn.observation;
    for (int64_t k = 0; k < o.tokens_per_turn; ++k) {
      turn.token_ids.push_back(static_cast<int32_t>(rng.Uniform(50000)));
      turn.logprobs.push_back(static_cast<float>(-rng.UniformDouble()));
      turn.entropies.push_back(static_cast<float>(rng.UniformDouble()));
    }
    e.turns.push_back(std::move(turn));
  }
  return e;
}

}  // namespace

StoreBenchResult RunStoreBench(const StoreBenchOptions& o, std::ostream& out) {
  if (o.episodes < 1 || o.turns_per_episode < 1 || o.repeats < 1 || o.per_turn_episodes < 1) {
    throw InvalidArgument("bench store: episodes, turns, per-turn episodes and repeats must be >= 1");
  }
  fs::path dir = o.dir.empty() ? fs::temp_directory_path() /
                                     ("turnwise-store-bench-" + std::to_string(::getpid()))
                               : fs::path(o.dir);
  fs::create_directories(dir);

  Rng rng(1);
  std::vector<EpisodeRecord> episodes;
  for (int64_t i = 0; i < o.episodes; ++i) episodes.push_back(MakeEpisode(1, i, o, rng));
  const double turns = static_cast<double>(o.episodes * o.turns_per_episode);
  const double per_turn_turns = static_cast<double>(o.per_turn_episodes * o.turns_per_episode);

  std::vector<double> batched, batched_indexed, per_turn, jsonl;
  for (int r = 0; r < o.repeats; ++r) {
    // (a) batched writer thread.
    {
      fs::path db = dir / ("batched-" + std::to_string(r) + ".db");
      fs::remove(db);
      auto writer = StoreWriter::Open(db.string());
      int64_t run = writer->CreateRun({.name = "bench"});
      writer->Flush();
      double t0 = Seconds();
      uint64_t last = 0;
      for (const auto& e : episodes) {
        EpisodeRecord copy = e;
        copy.run_id = run;
        last = writer->AppendEpisode(std::move(copy));
      }
      while (writer->CommittedSequence() < last) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
      double committed = Seconds();
      writer->Flush();  // and full-text indexed
      batched.push_back(turns / (committed - t0));
      batched_indexed.push_back(turns / (Seconds() - t0));
      writer->Close();
    }
    // (b) one transaction per turn, same schema, prepared statements.
    {
      fs::path db = dir / ("per-turn-" + std::to_string(r) + ".db");
      fs::remove(db);
      {
        auto writer = StoreWriter::Open(db.string());
        writer->CreateRun({.name = "bench"});
        for (int64_t i = 0; i < o.per_turn_episodes; ++i) {
          EpisodeRecord head = episodes[static_cast<size_t>(i)];
          head.turns.clear();
          writer->AppendEpisode(std::move(head));
        }
        writer->Close();
      }
      storage_internal::Db conn(db.string(), false);
      auto& ins = conn.Prepare(
          "INSERT INTO turns(episode_id, turn_index, observation, prompt, response, action, "
          "action_valid, reward, terminated, truncated, anchor_key, anchor_hash, token_ids, "
          "logprobs, entropies) VALUES (?,?,?,'',?,?,1,0,0,0,?,0,?,?,?)");
      double t0 = Seconds();
      for (int64_t i = 0; i < o.per_turn_episodes; ++i) {
        for (const auto& t : episodes[static_cast<size_t>(i)].turns) {
          storage_internal::Transaction tx(conn);
          ins.Reset();
          ins.Bind(1, i + 1)
              .Bind(2, t.turn_index)
              .Bind(3, t.observation)
              .Bind(4, t.response)
              .Bind(5, t.action)
              .Bind(6, t.anchor_key)
              .BindBlob(7, t.token_ids.data(), t.token_ids.size() * 4)
              .BindBlob(8, t.logprobs.data(), t.logprobs.size() * 4)
              .BindBlob(9, t.entropies.data(), t.entropies.size() * 4)
              .Run();
          tx.Commit();
        }
      }
      per_turn.push_back(per_turn_turns / (Seconds() - t0));
    }
    // (c) JSONL append, one line per turn, flushed at the end (what a Python logger does).
    {
      fs::path file = dir / ("turns-" + std::to_string(r) + ".jsonl");
      double t0 = Seconds();
      {
        std::ofstream f(file, std::ios::trunc);
        for (const auto& e : episodes) {
          for (const auto& t : e.turns) {
            Json j = {{"episode", e.task_id},      {"turn_index", t.turn_index},
                      {"observation", t.observation}, {"response", t.response},
                      {"action", t.action},        {"anchor_key", t.anchor_key},
                      {"token_ids", t.token_ids},  {"logprobs", t.logprobs},
                      {"entropies", t.entropies}};
            f << DumpJson(j) << '\n';
          }
        }
      }
      jsonl.push_back(turns / (Seconds() - t0));
    }
  }
  if (o.dir.empty()) fs::remove_all(dir);

  StoreBenchResult result{Median(batched), Median(batched_indexed), Median(per_turn), Median(jsonl)};
  char line[256];
  out << "store bench: " << o.episodes << " episodes x " << o.turns_per_episode << " turns, "
      << o.tokens_per_turn << " tokens/turn, median of " << o.repeats << "\n";
  std::snprintf(line, sizeof(line), "  %-34s %14s %10s\n", "writer", "turns/s", "ratio");
  out << line;
  auto row = [&](const char* name, double v) {
    std::snprintf(line, sizeof(line), "  %-34s %14.0f %9.2fx\n", name, v,
                  v / result.per_turn_tx_turns_per_s);
    out << line;
  };
  row("batched writer thread (turnwise)", result.batched_turns_per_s);
  row("  ... until full-text indexed", result.batched_indexed_turns_per_s);
  row("one transaction per turn", result.per_turn_tx_turns_per_s);
  row("JSONL append (no index, no query)", result.jsonl_turns_per_s);
  std::snprintf(line, sizeof(line),
                "  batched / per-turn = %.1fx, batched / JSONL = %.2fx\n",
                result.batched_turns_per_s / result.per_turn_tx_turns_per_s,
                result.batched_turns_per_s / result.jsonl_turns_per_s);
  out << line;
  return result;
}

}  // namespace turnwise
