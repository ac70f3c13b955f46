// Test and benchmark helper for the web UI: builds trajectory databases with the shapes the UI
// shows (GiGPO-style groups with shared anchor states, token ids with log-probs and entropies,
// advantages with parts, hostile text), appends episodes to a live run, and measures API
// latency against a running `turnwise web`.
//
//   web_fixture make DB [--episodes N] [--tokenizer-dir DIR]
//       run 1 "gigpo-household" (N episodes, default 240, groups of 4, with a tokenizer.json
//       written to DIR and registered as a checkpoint, so replays show token text),
//       run 2 "grpo-baseline" (overlay), run 3 "live-run" (running, 2 episodes); one episode of
//       run 1 carries hostile text (<script>, <img onerror>) in its observation, action, response
//       and task id. Prints the ids the tests use as one JSON line.
//   web_fixture live DB --run ID --count N [--interval-ms M]
//       appends N episodes (one a step, flushed) to a run, as a trainer would.
//   web_fixture latency --port P [--requests N] [--episode ID] [--group G]
//       GETs the episodes list (several filters), one replay and one group (default: the
//       episode's) N times each from 127.0.0.1:P and prints median and p99 latency per request
//       as a Markdown table.
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/json.h"
#include "storage/store.h"

namespace turnwise {
namespace {

// Deterministic pseudo-random numbers (splitmix64), so every fixture database is the same.
struct Rng {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }
  int Int(int n) { return static_cast<int>(Next() % static_cast<uint64_t>(n)); }
};

// GPT-2's byte -> code point table of byte-level vocabularies, as UTF-8.
std::string ByteChar(uint8_t b) {
  uint32_t shifted = 0;
  uint32_t cp = 0;
  for (uint32_t x = 0; x < 256; ++x) {
    bool printable = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE);
    uint32_t c = printable ? x : 256 + shifted++;
    if (x == b) cp = c;
  }
  std::string out;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
  return out;
}

// A small byte-level vocabulary: the 256 bytes, some words, and one special token. Encoding is
// greedy longest match, which is all a fixture needs (the decoder is what is under test).
class FixtureTokenizer {
 public:
  static constexpr int32_t kEndOfText = 151643;

  FixtureTokenizer() {
    for (int b = 0; b < 256; ++b) Add(std::string(1, static_cast<char>(b)));
    for (const char* w :
         {"<think>", "</think>", "<action>", "</action>", " go",    " to",         "go",
          "open",    " open",    " drawer",  " take",     " from",  " countertop", " cabinet",
          " fridge", " put",     " in",      " the",      " apple", " mug",        " look",
          "I",       " should",  " need",    " first",    " then",  " café",       " 1",
          " 2",      " 3",       "<script>", "</script>", "<img",   " src=x",      " onerror="}) {
      Add(w);
    }
  }

  std::vector<int32_t> Encode(const std::string& text) const {
    std::vector<int32_t> ids;
    size_t i = 0;
    while (i < text.size()) {
      size_t best_len = 1;
      int32_t best = ids_.at(text.substr(i, 1));
      for (size_t len = std::min(max_len_, text.size() - i); len > 1; --len) {
        auto it = ids_.find(text.substr(i, len));
        if (it != ids_.end()) {
          best_len = len;
          best = it->second;
          break;
        }
      }
      ids.push_back(best);
      i += best_len;
    }
    ids.push_back(kEndOfText);
    return ids;
  }

  Json ToJson() const {
    Json vocab = Json::object();
    for (const auto& [piece, id] : ids_) {
      std::string key;
      for (unsigned char c : piece) key += ByteChar(c);
      vocab[key] = id;
    }
    return {{"version", "1.0"},
            {"added_tokens",
             Json::array({{{"id", kEndOfText}, {"content", "<|endoftext|>"}, {"special", true}}})},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array()}}}};
  }

 private:
  void Add(const std::string& piece) {
    int32_t id = static_cast<int32_t>(ids_.size());
    ids_.emplace(piece, id);
    max_len_ = std::max(max_len_, piece.size());
  }
  std::map<std::string, int32_t> ids_;
  size_t max_len_ = 1;
};

const char* const kObjects[] = {"apple", "mug", "drawer", "cabinet", "fridge", "countertop"};
const char* const kTaskTypes[] = {"pick_and_place_simple", "look_at_obj_in_light",
                                  "pick_clean_then_place_in_recep",
                                  "pick_heat_then_place_in_recep"};

std::string Observation(int64_t task, int turn, int branch) {
  std::string o = "-= Welcome to TextWorld, ALFRED! =-\nTask " + std::to_string(task) +
                  ": put a clean " + kObjects[task % 6] + " in the " + kObjects[(task + 3) % 6] +
                  ".\n";
  if (turn == 0) return o + "You are in the middle of a room. You see a drawer 1, a cabinet 2.";
  return o + "Step " + std::to_string(turn) + " (path " + std::to_string(branch) +
         "): you arrive at " + kObjects[(task + turn + branch) % 6] + " " + std::to_string(turn) +
         ". On it you see a mug " + std::to_string(branch + 1) + ".";
}

// One episode of a group: turns 0 and 1 are the same state for all members (GiGPO anchors),
// later turns are shared by pairs of members (branch = member % 2).
EpisodeRecord MakeEpisode(Rng& rng, const FixtureTokenizer& tok, int64_t run_id, int64_t iter,
                          int64_t task, int member, const std::string& policy, bool advantages) {
  EpisodeRecord e;
  e.run_id = run_id;
  e.iteration = iter;
  e.group_id = "i" + std::to_string(iter) + "-t" + std::to_string(task);
  e.env = "household";
  e.task_type = kTaskTypes[task % 4];
  e.seed = task;
  e.split = task % 5 == 0 ? "valid_seen" : task % 7 == 0 ? "valid_unseen" : "train";
  e.task_id = e.split + "/" + std::to_string(task);
  e.policy = policy;
  int turns = 3 + rng.Int(4);
  e.success = rng.Uniform() < 0.25 + 0.5 * std::min(1.0, iter / 20.0);
  e.status = e.success ? EpisodeStatus::kOk
                       : (rng.Int(6) == 0 ? EpisodeStatus::kAborted : EpisodeStatus::kTruncated);
  if (e.status == EpisodeStatus::kAborted) e.abort_reason = "env server closed the session";
  e.info = {{"member", member}};
  double episode_adv = e.success ? 0.75 : -0.25;
  for (int t = 0; t < turns; ++t) {
    int branch = t < 2 ? 0 : member % 2;
    TurnRecord turn;
    turn.turn_index = t;
    turn.observation = Observation(task, t, branch);
    turn.prompt =
        "<|im_start|>system\nYou are an agent in a household. Answer with "
        "<action>...</action>.<|im_end|>\n<|im_start|>user\n" +
        turn.observation + "<|im_end|>\n<|im_start|>assistant\n";
    const char* verbs[] = {"go to", "open", "take", "put", "look"};
    turn.action = std::string(verbs[(task + t + branch) % 5]) + " " + kObjects[(task + t) % 6] +
                  " " + std::to_string(1 + (t + member) % 3);
    turn.response = "<think>I should first " + turn.action + " then look café</think><action>" +
                    turn.action + "</action>";
    turn.action_valid = rng.Int(8) != 0;
    bool last = t + 1 == turns;
    turn.reward = (last && e.success ? 10.0 : 0.0) - (turn.action_valid ? 0.0 : 0.1);
    turn.terminated = last && e.status == EpisodeStatus::kOk;
    turn.truncated = last && e.status == EpisodeStatus::kTruncated;
    turn.anchor_key = turn.observation;
    turn.token_ids = tok.Encode(turn.response);
    for (size_t k = 0; k < turn.token_ids.size(); ++k) {
      double u = rng.Uniform();
      turn.logprobs.push_back(static_cast<float>(-std::pow(u, 3) * 6.0));
      turn.entropies.push_back(static_cast<float>(std::pow(rng.Uniform(), 2) * 3.0));
    }
    if (advantages) {
      double step_adv = (rng.Uniform() - 0.5) * 0.6;
      turn.advantage = episode_adv + step_adv;
      turn.advantage_parts = {{"episode", episode_adv}, {"step", step_adv}, {"weight", 1.0}};
    }
    turn.timings = {{"generate", 0.02 + 0.01 * rng.Uniform()}, {"env", 0.001}};
    turn.info = {{"won", last && e.success}, {"admissible", 12 + t}};
    e.turns.push_back(std::move(turn));
  }
  e.episode_return = 0;
  for (const auto& t : e.turns) e.episode_return += t.reward;
  return e;
}

void MakeHostile(EpisodeRecord& e, const FixtureTokenizer& tok) {
  const std::string attack =
      "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">";
  e.task_id = "<script>window.__xss=4</script>";
  e.turns[0].observation = "Hostile observation: " + attack;
  e.turns[0].action = "<img src=x onerror=\"window.__xss=3\">";
  e.turns[0].response = "<action>" + attack + "</action>";
  e.turns[0].token_ids = tok.Encode(e.turns[0].response);
  e.turns[0].logprobs.assign(e.turns[0].token_ids.size(), -0.5f);
  e.turns[0].entropies.assign(e.turns[0].token_ids.size(), 1.0f);
  e.turns[0].prompt = "prompt with " + attack;
  e.turns[0].anchor_key = "anchor " + attack;
  // Invisible characters that would rearrange or hide text: a right-to-left override (the
  // reason would read backwards), a zero-width space, a pop.
  e.status = EpisodeStatus::kAborted;
  e.success = false;
  e.abort_reason = "env said \u202Edaer ot drah\u202C and left\u200B";
  e.turns[1].observation = "You see \u202Eeulb\u202C light.";
}

void AppendMetrics(StoreWriter& w, int64_t run, int64_t iter, double progress, double offset) {
  double s = std::min(0.95, 0.2 + 0.6 * progress + offset);
  w.AppendMetrics(run, iter,
                  {{"success/train", s},
                   {"success/valid_seen", s - 0.05},
                   {"success/valid_unseen", s - 0.1},
                   {"success/pick_and_place_simple", s + 0.03},
                   {"reward/mean", 10 * s - 0.3},
                   {"entropy", 1.4 - 0.8 * progress},
                   {"kl", 0.002 + 0.01 * progress},
                   {"loss/policy", -0.02 + 0.01 * std::sin(iter)},
                   {"clip_fraction", 0.05 + 0.02 * std::cos(iter)},
                   {"grad_norm", 0.8 + 0.3 * std::sin(iter * 0.7)},
                   {"lr", 1e-4},
                   {"throughput/tokens_per_s", 1800 + 50 * std::sin(iter)},
                   {"time/rollout_s", 40 + 3 * std::cos(iter)},
                   {"time/learn_s", 18 + 2 * std::sin(iter)},
                   // Names and ranges as a real run logs them: tiny values (a KL near 6e-5),
                   // values that differ only in the fourth decimal, long nested names.
                   {"loss/kl", 6e-5 + 1e-6 * progress},
                   {"loss/approx_kl", 2e-4 * (1 + std::sin(iter))},
                   {"reg/entropy/entropy", 6.3710 + 0.0011 * progress},
                   {"optim/lr", 1e-4 * (1 - 0.5 * progress)},
                   {"optim/grad_norm_before_clip", 1.1 + 0.2 * std::cos(iter)},
                   {"train/env_steps", 640},
                   {"train/invalid_action_rate", 0.1 * (1 - progress)},
                   {"advantage/episode/mean_abs", 0.5 + 0.1 * progress},
                   {"advantage/step/mean_abs", 0.2 + 0.05 * progress},
                   {"eval/valid_seen/success/pick_and_place_simple", s - 0.02},
                   {"time/generate", 30 + std::sin(iter)},
                   {"time/update", 12 + std::cos(iter)},
                   {"throughput/env_steps_per_s", 15 + std::sin(iter)},
                   {"rollout/mean_turns", 6 - 2 * progress},
                   {"rollout/truncated_fraction", 0.3 * (1 - progress)},
                   {"loss/pg_clipfrac_lower", 0.001 * progress},
                   {"response_length/mean", 40 - 10 * progress}});
}

int Make(const std::string& db, int64_t episodes, const std::string& tokenizer_dir) {
  const int kGroupSize = 4;
  const int64_t kGroupsPerIter = 8;
  std::filesystem::remove(db);
  std::filesystem::remove(db + "-wal");
  std::filesystem::remove(db + "-shm");
  FixtureTokenizer tok;
  Rng rng{42};
  auto w = StoreWriter::Open(db);
  Json config = {
      {"name", "gigpo-household"},
      {"env", {{"name", "household"}, {"train_split", "train"}}},
      {"algorithm", {{"advantage", {{"name", "gigpo"}, {"config", {{"step_weight", 1.0}}}}}}},
      {"rollout", {{"groups", kGroupsPerIter}, {"group_size", kGroupSize}}},
      {"optim", {{"lr", 1e-4}}}};
  int64_t run1 = w->CreateRun({.name = "gigpo-household",
                               .status = "finished",
                               .env = "household",
                               .method = "gigpo",
                               .seed = 1,
                               .config = config,
                               .notes = "fixture run for the web UI tests"});
  int64_t iters = (episodes + kGroupSize * kGroupsPerIter - 1) / (kGroupSize * kGroupsPerIter);
  int64_t written = 0;
  int64_t hostile_id = 0;
  int64_t first_id = 0;
  std::string first_group;
  for (int64_t it = 0; it < iters && written < episodes; ++it) {
    w->BeginIteration(run1, it);
    for (int64_t g = 0; g < kGroupsPerIter && written < episodes; ++g) {
      int64_t task = it * kGroupsPerIter + g;
      for (int m = 0; m < kGroupSize && written < episodes; ++m) {
        EpisodeRecord e = MakeEpisode(rng, tok, run1, it, task, m, "lm", true);
        bool hostile = it == 0 && g == 1 && m == 0;
        if (hostile) MakeHostile(e, tok);
        int64_t id = 0;
        w->AppendEpisode(std::move(e), &id);
        if (hostile) hostile_id = id;
        if (written == 0) {
          first_id = id;
          first_group = "i0-t0";
        }
        ++written;
      }
    }
    AppendMetrics(*w, run1, it, static_cast<double>(it) / std::max<int64_t>(1, iters - 1), 0);
    w->FinishIteration(run1, it, {{"episodes", kGroupSize * kGroupsPerIter}});
  }
  w->UpdateRunStatus(run1, "finished");  // as the trainer ends a run: the end time recorded
  if (!tokenizer_dir.empty()) {
    std::filesystem::create_directories(tokenizer_dir);
    std::ofstream(tokenizer_dir + "/tokenizer.json") << DumpJson(tok.ToJson(), 1);
    w->AddCheckpoint({.run_id = run1,
                      .iter = iters - 1,
                      .path = tokenizer_dir,
                      .metrics = {{"success/valid_seen", 0.7}}});
  }

  int64_t run2 = w->CreateRun({.name = "grpo-baseline",
                               .status = "finished",
                               .env = "household",
                               .method = "grpo",
                               .seed = 2,
                               .config = {{"algorithm", {{"advantage", {{"name", "grpo"}}}}}}});
  for (int64_t it = 0; it < 12; ++it) {
    for (int m = 0; m < kGroupSize; ++m) {
      w->AppendEpisode(MakeEpisode(rng, tok, run2, it, 1000 + it, m, "lm", true));
    }
    AppendMetrics(*w, run2, it, it / 11.0, -0.12);
    w->FinishIteration(run2, it, {});
  }

  int64_t run3 = w->CreateRun({.name = "live-run",
                               .env = "household",
                               .method = "grpo",
                               .seed = 3,
                               .config = {{"live", true}}});
  for (int m = 0; m < 2; ++m) {
    w->AppendEpisode(MakeEpisode(rng, tok, run3, 0, 5000, m, "lm", false));
  }
  AppendMetrics(*w, run3, 0, 0, 0);

  // A Sokoban episode in the episode layout: the grid must read as a grid, and the second
  // turn's prompt is the message it appended, not a whole prompt.
  int64_t run4 = w->CreateRun({.name = "sokoban-episode-layout",
                               .status = "finished",
                               .env = "sokoban",
                               .method = "rloo",
                               .seed = 4,
                               .config = {{"rollout", {{"layout", "episode"}}}}});
  EpisodeRecord grid;
  grid.run_id = run4;
  grid.group_id = "i1-g0";
  grid.env = "sokoban";
  grid.task_id = "train/7";
  grid.task_type = "6x6-1box";
  grid.policy = "lm";
  grid.success = true;
  grid.episode_return = 10.8;
  grid.info = {{"layout", "episode"}};
  const std::vector<std::string> grids = {"# # # # # #\n# P _ X O #\n# # # # # #",
                                          "# # # # # #\n# _ P X O #\n# # # # # #"};
  for (int t = 0; t < 2; ++t) {
    TurnRecord turn;
    turn.turn_index = t;
    turn.observation = grids[static_cast<size_t>(t)];
    turn.anchor_key = turn.observation;
    turn.prompt = t == 0 ? "You are an expert agent solving a Sokoban puzzle.\n...\n" + grids[0]
                         : "Step 2. Your current observation is:\n" + grids[1];
    turn.response = "<think></think><action>right</action>";
    turn.action = "right";
    turn.reward = t == 0 ? -0.1 : 10.9;
    turn.terminated = t == 1;
    turn.info = {{"won", t == 1}, {"is_action_valid", true}};
    grid.turns.push_back(std::move(turn));
  }
  int64_t grid_id = 0;
  w->AppendEpisode(std::move(grid), &grid_id);
  w->Close();
  std::cout << DumpJson({{"runs", {run1, run2, run3, run4}},
                         {"grid_episode", grid_id},
                         {"episodes", written},
                         {"first_episode", first_id},
                         {"first_group", first_group},
                         {"hostile_episode", hostile_id},
                         {"live_run", run3}})
            << std::endl;
  return 0;
}

int Live(const std::string& db, int64_t run, int64_t count, int interval_ms) {
  FixtureTokenizer tok;
  Rng rng{7};
  auto w = StoreWriter::Open(db);
  for (int64_t i = 0; i < count; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
    int64_t id = 0;
    w->AppendEpisode(
        MakeEpisode(rng, tok, run, 1 + i / 4, 6000 + i / 4, static_cast<int>(i % 4), "lm", false),
        &id);
    if (i % 4 == 3) AppendMetrics(*w, run, 1 + i / 4, 0.1 * (i / 4 + 1), 0);
    w->Flush();
    std::cout << "appended episode " << id << std::endl;
  }
  w->Close();
  return 0;
}

int Latency(int port, int requests, int64_t episode, std::string group) {
  httplib::Client client("127.0.0.1", port);
  client.set_keep_alive(true);
  client.set_tcp_nodelay(true);
  client.set_read_timeout(30, 0);
  if (group.empty()) {  // the replayed episode's group
    auto res = client.Get("/api/episodes/" + std::to_string(episode));
    if (!res || res->status != 200) {
      std::cerr << "cannot read episode " << episode << "\n";
      return 1;
    }
    group = Json::parse(res->body)["group_id"].get<std::string>();
  }
  std::vector<std::pair<std::string, std::string>> cases = {
      {"runs: the list with counts and best success", "/api/runs"},
      {"run: detail with config, iterations, metric keys", "/api/runs/1"},
      {"episodes: first page (UI default: run, newest first, 50 rows)",
       "/api/episodes?run=1&sort=id&order=desc&limit=50"},
      {"episodes: split + success filter, sorted by return",
       "/api/episodes?run=1&split=valid_seen&success=true&sort=return&order=desc&limit=50"},
      {"episodes: deep page (offset 50,000)",
       "/api/episodes?run=1&sort=id&order=desc&limit=50&offset=50000"},
      {"episodes: text search, broad ('fridge': 83% of episodes)",
       "/api/episodes?run=1&q=fridge&limit=50"},
      {"episodes: text search, selective ('hostile': 1 episode)",
       "/api/episodes?run=1&q=hostile&limit=50"},
      {"replay: one episode with turns, tokens, anchor peers",
       "/api/episodes/" + std::to_string(episode)},
      {"group: its 4 episodes with turns", "/api/runs/1/groups/" + group},
  };
  std::cout << "| request | median ms | p99 ms | bytes |\n|---|---:|---:|---:|\n";
  for (const auto& [name, path] : cases) {
    std::vector<double> ms;
    size_t bytes = 0;
    for (int i = 0; i < requests + 5; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      auto res = client.Get(path);
      auto t1 = std::chrono::steady_clock::now();
      if (!res || res->status != 200) {
        std::cerr << "request failed: " << path << " "
                  << (res ? std::to_string(res->status) + " " + res->body : "no answer") << "\n";
        return 1;
      }
      bytes = res->body.size();
      if (i >= 5) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) {
      return ms[std::min(ms.size() - 1, static_cast<size_t>(std::ceil(p * ms.size())) - 1)];
    };
    char line[512];
    std::snprintf(line, sizeof(line), "| %s | %.2f | %.2f | %zu |\n", name.c_str(), pct(0.5),
                  pct(0.99), bytes);
    std::cout << line;
  }
  return 0;
}

}  // namespace
}  // namespace turnwise

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto flag = [&](const std::string& name, const std::string& fallback) {
    auto it = std::find(args.begin(), args.end(), name);
    return it != args.end() && it + 1 != args.end() ? *(it + 1) : fallback;
  };
  const char* usage =
      "usage: web_fixture make DB [--episodes N] [--tokenizer-dir DIR]\n"
      "       web_fixture live DB --run ID --count N [--interval-ms M]\n"
      "       web_fixture latency --port P [--requests N] [--episode ID] [--group G]\n";
  try {
    if (args.size() >= 2 && args[0] == "make") {
      return turnwise::Make(args[1], std::stoll(flag("--episodes", "240")),
                            flag("--tokenizer-dir", ""));
    }
    if (args.size() >= 2 && args[0] == "live") {
      return turnwise::Live(args[1], std::stoll(flag("--run", "3")),
                            std::stoll(flag("--count", "5")),
                            std::stoi(flag("--interval-ms", "300")));
    }
    if (!args.empty() && args[0] == "latency") {
      return turnwise::Latency(std::stoi(flag("--port", "0")), std::stoi(flag("--requests", "200")),
                               std::stoll(flag("--episode", "1")), flag("--group", ""));
    }
  } catch (const std::exception& e) {
    std::cerr << "web_fixture: " << e.what() << "\n";
    return 1;
  }
  std::cerr << usage;
  return 2;
}
