#include "envs/env_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "core/error.h"
#include "envs/household/household_env.h"

namespace turnwise {
namespace {

// Wraps household with injectable slowness and failures.
class FlakyEnv : public Env {
 public:
  FlakyEnv(int transient_failures, bool hard_failure, std::chrono::milliseconds delay)
      : inner_(Json::object()), transient_(transient_failures), hard_(hard_failure), delay_(delay) {}
  StepResult Reset(const ResetOptions& o) override { return inner_.Reset(o); }
  StepResult Step(const std::string& a) override {
    std::this_thread::sleep_for(delay_);
    if (hard_) throw InvalidArgument("env crashed on '" + a + "'");
    if (transient_ > 0) {
      --transient_;
      throw Unavailable("connection reset");
    }
    return inner_.Step(a);
  }
  EnvSpec Spec() const override { return inner_.Spec(); }
  std::optional<std::string> ExpertAction() override { return inner_.ExpertAction(); }

 private:
  HouseholdEnv inner_;
  int transient_;
  bool hard_;
  std::chrono::milliseconds delay_;
};

// Differential test: episodes played through the pool, in whatever order the pool finishes
// them, equal the same episodes played one by one.
TEST(EnvPool, AsyncEpisodesEqualSequentialOnes) {
  const int kEnvs = 8;
  EnvPool pool([] { return std::make_unique<HouseholdEnv>(Json::object()); }, kEnvs,
               {.num_threads = 3});
  std::map<int, std::vector<std::string>> transcripts;
  std::vector<int> ids;
  std::vector<ResetOptions> resets;
  for (int i = 0; i < kEnvs; ++i) {
    ids.push_back(i);
    resets.push_back({.task_id = "valid_seen/" + std::to_string(i)});
  }
  pool.SendReset(ids, resets);
  int finished = 0;
  while (finished < kEnvs) {
    auto results = pool.Recv(1);
    ASSERT_FALSE(results.empty());
    std::vector<int> next_ids;
    std::vector<std::string> actions;
    for (auto& r : results) {
      ASSERT_TRUE(r.ok) << r.error;
      transcripts[r.env_id].push_back(r.step.observation.text);
      if (r.step.done()) {
        ++finished;
        EXPECT_TRUE(r.step.info["won"].get<bool>());
        continue;
      }
      next_ids.push_back(r.env_id);
      actions.push_back(*pool.EnvAt(r.env_id).ExpertAction());
    }
    pool.Send(next_ids, actions);
  }
  EXPECT_EQ(pool.Pending(), 0u);
  for (int i = 0; i < kEnvs; ++i) {
    HouseholdEnv env(Json::object());
    StepResult s = env.Reset({.task_id = "valid_seen/" + std::to_string(i)});
    std::vector<std::string> expected = {s.observation.text};
    while (!s.done()) {
      s = env.Step(*env.ExpertAction());
      expected.push_back(s.observation.text);
    }
    EXPECT_EQ(transcripts[i], expected) << "env " << i;
  }
}

TEST(EnvPool, SlowEnvsDoNotStallFastOnes) {
  // Env 0 takes 300 ms per step, env 1 is instant: Recv(1) returns env 1 first.
  std::atomic<int> made{0};
  EnvPool pool(
      [&] {
        int k = made++;
        return std::make_unique<FlakyEnv>(0, false, std::chrono::milliseconds(k == 0 ? 300 : 0));
      },
      2, {.num_threads = 2});
  pool.SendReset({0, 1}, {{.task_id = "train/0"}, {.task_id = "train/1"}});
  pool.Recv(2);
  pool.Send({0, 1}, {"look", "look"});
  auto first = pool.Recv(1);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].env_id, 1);
  auto second = pool.Recv(1);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].env_id, 0);
}

TEST(EnvPool, TransientFailuresAreRetriedThenReported) {
  std::atomic<int> made{0};
  EnvPool pool(
      [&] {
        int k = made++;
        // env 0: two transient failures (recovers on the 3rd attempt); env 1: five (gives up);
        // env 2: a hard failure.
        if (k == 0) return std::make_unique<FlakyEnv>(2, false, std::chrono::milliseconds(0));
        if (k == 1) return std::make_unique<FlakyEnv>(5, false, std::chrono::milliseconds(0));
        return std::make_unique<FlakyEnv>(0, true, std::chrono::milliseconds(0));
      },
      3, {.num_threads = 2, .max_retries = 2, .backoff = std::chrono::milliseconds(1)});
  pool.SendReset({0, 1, 2}, {{.task_id = "train/0"}, {.task_id = "train/0"}, {.task_id = "train/0"}});
  pool.Recv(3);
  pool.Send({0, 1, 2}, {"look", "look", "look"});
  std::map<int, EnvResult> by_id;
  while (by_id.size() < 3) {
    for (auto& r : pool.Recv(1)) by_id[r.env_id] = r;
  }
  EXPECT_TRUE(by_id[0].ok);
  EXPECT_EQ(by_id[0].attempts, 3);
  EXPECT_FALSE(by_id[1].ok);
  EXPECT_EQ(by_id[1].error, "connection reset (after 3 attempts)");
  EXPECT_FALSE(by_id[2].ok);
  EXPECT_EQ(by_id[2].error, "env crashed on 'look'");
  EXPECT_EQ(by_id[2].attempts, 1);
}

TEST(EnvPool, HungCallsTimeOutAndTheSlotIsRenewed) {
  std::atomic<int> made{0};
  EnvPool pool(
      [&] {
        int k = made++;
        return std::make_unique<FlakyEnv>(0, false, std::chrono::milliseconds(k == 0 ? 400 : 0));
      },
      1, {.num_threads = 2, .call_timeout = std::chrono::milliseconds(100)});
  pool.SendReset({0}, {{.task_id = "train/0"}});
  ASSERT_TRUE(pool.Recv(1)[0].ok);
  pool.Send({0}, {"look"});
  auto r = pool.Recv(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_EQ(r[0].error, "environment call timed out after 100 ms");
  EXPECT_EQ(pool.Pending(), 0u);
  // The slot is usable again, with a fresh env.
  pool.SendReset({0}, {{.task_id = "train/0"}});
  auto again = pool.Recv(1);
  ASSERT_TRUE(again[0].ok);
  EXPECT_EQ(made.load(), 2);
}

TEST(EnvPool, MisuseIsRejected) {
  EnvPool pool([] { return std::make_unique<HouseholdEnv>(Json::object()); }, 2, {});
  EXPECT_THROW(pool.Send({5}, {"look"}), InvalidArgument);
  EXPECT_THROW(pool.Send({0, 1}, {"look"}), InvalidArgument);
  pool.SendReset({0}, {{}});
  EXPECT_THROW(pool.SendReset({0}, {{}}), InvalidArgument);  // in flight
  EXPECT_EQ(pool.Recv(1).size(), 1u);
  EXPECT_TRUE(pool.Recv(0).empty());
  EXPECT_THROW(EnvPool([] { return std::make_unique<HouseholdEnv>(Json::object()); }, 0, {}),
               InvalidArgument);
}

}  // namespace
}  // namespace turnwise
