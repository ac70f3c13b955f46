// RolloutEngine: groups, statuses, turn records, determinism across scheduling modes, and
// episodes aborted (never lost) when the policy or a served env fails.
#include "training/rollout.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>

#include "core/error.h"
#include "envs/env_server.h"

namespace turnwise {
namespace {

std::vector<RolloutEpisode> Play(Policy& policy, RolloutOptions o, int64_t groups, uint64_t seed = 7) {
  RolloutEngine engine(o);
  std::vector<RolloutEpisode> got;
  engine.Run(policy, MakeTasks(o.split, groups, /*iteration=*/3, seed), 3, seed,
             [&](RolloutEpisode&& e) { got.push_back(std::move(e)); });
  return got;
}

TEST(Rollout, ExpertGroupsAreCompleteAndWon) {
  auto expert = MakePolicy("expert");
  RolloutOptions o;
  o.group_size = 4;
  o.max_active = 6;  // fewer slots than episodes: slots are reused as episodes end
  auto episodes = Play(*expert, o, 5);
  ASSERT_EQ(episodes.size(), 20u);
  std::map<std::string, std::vector<const EpisodeRecord*>> groups;
  for (const auto& e : episodes) groups[e.record.group_id].push_back(&e.record);
  ASSERT_EQ(groups.size(), 5u);
  for (const auto& [id, members] : groups) {
    ASSERT_EQ(members.size(), 4u) << id;
    for (const EpisodeRecord* r : members) {
      EXPECT_EQ(r->status, EpisodeStatus::kOk);
      EXPECT_TRUE(r->success);
      EXPECT_EQ(r->seed, members[0]->seed);
      EXPECT_EQ(r->task_id, members[0]->task_id);
      EXPECT_EQ(r->iteration, 3);
      EXPECT_EQ(r->policy, "expert");
      EXPECT_EQ(r->num_turns, static_cast<int64_t>(r->turns.size()));
      EXPECT_DOUBLE_EQ(r->episode_return, r->turns.back().reward);
      // The expert is deterministic: every member of a group plays the same actions.
      ASSERT_EQ(r->turns.size(), members[0]->turns.size());
      for (size_t t = 0; t < r->turns.size(); ++t) EXPECT_EQ(r->turns[t].action, members[0]->turns[t].action);
    }
  }
  const EpisodeRecord& r = episodes[0].record;
  // Turn records: the anchor is the state acted in; each observation follows the previous action.
  for (size_t t = 0; t < r.turns.size(); ++t) {
    EXPECT_EQ(r.turns[t].turn_index, static_cast<int64_t>(t));
    EXPECT_EQ(r.turns[t].anchor_key, r.turns[t].observation);
    EXPECT_TRUE(r.turns[t].timings.contains("env"));
  }
  EXPECT_TRUE(r.turns.back().terminated);
  EXPECT_TRUE(r.turns.back().info["won"].get<bool>());
}

TEST(Rollout, TurnLimitTruncates) {
  auto random = MakePolicy("random");
  RolloutOptions o;
  o.group_size = 3;
  o.max_turns = 3;
  auto episodes = Play(*random, o, 2);
  ASSERT_EQ(episodes.size(), 6u);
  for (const auto& e : episodes) {
    if (e.record.success) continue;  // a random walk may win within 3 turns, rarely
    EXPECT_EQ(e.record.status, EpisodeStatus::kTruncated);
    EXPECT_EQ(e.record.turns.size(), 3u);
    EXPECT_TRUE(e.record.turns.back().truncated);
  }
}

// Same seeds, same episodes, whether generation is continuous or lock-step and whatever the
// number of slots: per-decision seeds depend on the episode and turn only.
TEST(Rollout, EpisodesDoNotDependOnScheduling) {
  auto random = MakePolicy("random");
  RolloutOptions a;
  a.group_size = 3;
  a.max_turns = 12;
  a.max_active = 4;
  RolloutOptions b = a;
  b.synchronous = true;
  b.max_active = 9;
  auto x = Play(*random, a, 3);
  auto y = Play(*random, b, 3);
  ASSERT_EQ(x.size(), y.size());
  auto key = [](const RolloutEpisode& e) {
    std::string k = e.record.group_id + "|";
    for (const auto& t : e.record.turns) k += t.action + ";";
    return k;
  };
  std::multiset<std::string> kx, ky;
  for (const auto& e : x) kx.insert(key(e));
  for (const auto& e : y) ky.insert(key(e));
  EXPECT_EQ(kx, ky);
}

// A policy that fails for some episodes: those are aborted with the reason, the rest finish.
class FlakyPolicy : public Policy {
 public:
  std::string name() const override { return "flaky"; }
  std::vector<PolicyOutput> Act(const std::vector<PolicyInput>& batch) override {
    if (++calls_ == 3) throw Unavailable("model server went away");
    return expert_->Act(batch);
  }

 private:
  std::unique_ptr<Policy> expert_ = MakePolicy("expert");
  int calls_ = 0;
};

TEST(Rollout, PolicyFailureAbortsOnlyTheWaitingEpisodes) {
  FlakyPolicy flaky;
  RolloutOptions o;
  o.group_size = 2;
  o.max_active = 1;  // one episode at a time: the third Act() belongs to exactly one
  auto episodes = Play(flaky, o, 3);
  ASSERT_EQ(episodes.size(), 6u);
  int aborted = 0, won = 0;
  for (const auto& e : episodes) {
    if (e.record.status == EpisodeStatus::kAborted) {
      ++aborted;
      EXPECT_NE(e.record.abort_reason.find("model server went away"), std::string::npos);
    }
    won += e.record.success ? 1 : 0;
  }
  EXPECT_EQ(aborted, 1);
  EXPECT_EQ(won, 5);
}

// An env server that disappears mid-run: its episodes end as aborted with the reason; the
// engine returns every episode.
class StopServerPolicy : public Policy {
 public:
  StopServerPolicy(EnvServer* server, int stop_at) : server_(server), stop_at_(stop_at) {}
  std::string name() const override { return "random"; }
  std::vector<PolicyOutput> Act(const std::vector<PolicyInput>& batch) override {
    if (++calls_ == stop_at_) server_->Stop();
    return random_->Act(batch);
  }

 private:
  EnvServer* server_;
  int stop_at_;
  int calls_ = 0;
  std::unique_ptr<Policy> random_ = MakePolicy("random");
};

TEST(Rollout, ServedEnvDisappearingAbortsItsEpisodes) {
  EnvServerOptions so;
  so.env = "household";
  EnvServer server(so);
  server.Start();
  RolloutOptions o;
  o.env = "household";
  o.env_config = {{"remote", {{"url", server.base_url()}, {"retries", 1}, {"backoff_s", 0.01}, {"timeout_s", 2}}}};
  o.group_size = 2;
  o.max_active = 1;
  o.max_turns = 10;
  StopServerPolicy policy(&server, 4);
  auto episodes = Play(policy, o, 2);
  ASSERT_EQ(episodes.size(), 4u);
  EXPECT_EQ(episodes[0].record.turns.size(), 3u);  // three steps landed before the server went
  for (const auto& e : episodes) {
    EXPECT_EQ(e.record.status, EpisodeStatus::kAborted);
    EXPECT_NE(e.record.abort_reason.find("env server"), std::string::npos) << e.record.abort_reason;
  }
}

}  // namespace
}  // namespace turnwise
