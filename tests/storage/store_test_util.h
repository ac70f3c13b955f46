// Shared helpers for the store tests: temp directories and synthetic episodes.
#ifndef TURNWISE_TESTS_STORAGE_STORE_TEST_UTIL_H_
#define TURNWISE_TESTS_STORAGE_STORE_TEST_UTIL_H_

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "storage/store.h"

namespace turnwise::testing_util {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("turnwise-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// An episode with `turns` turns whose text, tokens and floats are derived from `index`, so a
// test can rebuild the expected record from the index alone.
inline EpisodeRecord MakeEpisode(int64_t run_id, int64_t index, int turns) {
  EpisodeRecord e;
  e.run_id = run_id;
  e.iteration = index / 10;
  e.group_id = "g" + std::to_string(index / 4);
  e.env = index % 3 == 0 ? "shop" : "household";
  e.task_id = "train/" + std::to_string(index / 4);
  e.task_type = index % 2 == 0 ? "pick_and_place_simple" : "look_at_obj_in_light";
  e.seed = index / 4;
  e.split = index % 5 == 0 ? "valid_seen" : "train";
  e.status = index % 7 == 0 ? EpisodeStatus::kTruncated : EpisodeStatus::kOk;
  e.success = index % 2 == 0;
  e.episode_return = e.success ? 10.0 : 0.0;
  e.policy = "lm";
  e.info = {{"index", index}};
  for (int t = 0; t < turns; ++t) {
    TurnRecord turn;
    turn.turn_index = t;
    turn.observation = "episode " + std::to_string(index) + " turn " + std::to_string(t) +
                       ": you see a drawer " + std::to_string(t + 1);
    turn.prompt = "prompt " + std::to_string(t);
    turn.action = "open drawer " + std::to_string(t + 1);
    turn.response = "<think>hm</think><action>" + turn.action + "</action>";
    turn.reward = (t + 1 == turns && e.success) ? 10.0 : 0.0;
    turn.terminated = t + 1 == turns;
    turn.anchor_key = "state " + std::to_string(t);
    turn.token_ids = {static_cast<int32_t>(index), t, -7, 151643};
    turn.logprobs = {-0.125f * static_cast<float>(t), -1e-8f, -3.4028235e38f};
    turn.entropies = {0.5f, 1.0f / 3.0f};
    turn.timings = {{"env", 0.001 * t}};
    e.turns.push_back(std::move(turn));
  }
  return e;
}

}  // namespace turnwise::testing_util

#endif  // TURNWISE_TESTS_STORAGE_STORE_TEST_UTIL_H_
