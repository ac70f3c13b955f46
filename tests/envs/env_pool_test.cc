#include "envs/env_pool.h"

#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <boost/asio.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "core/error.h"
#include "envs/env_server.h"
#include "envs/household/household_env.h"
#include "envs/internal/remote_session.h"
#include "envs/registry.h"
#include "envs/remote_env.h"

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
  // Resets that take 50 ms: the first one is certainly still in flight when the second comes
  // (a household reset alone takes microseconds, which made this a race).
  EnvPool pool(
      [] { return EnvRegistry::Make("delayed", {{"env", "household"}, {"reset_ms", 50}}); }, 2,
      {});
  EXPECT_THROW(pool.Send({5}, {"look"}), InvalidArgument);
  EXPECT_THROW(pool.Send({0, 1}, {"look"}), InvalidArgument);
  pool.SendReset({0}, {{}});
  EXPECT_THROW(pool.SendReset({0}, {{}}), InvalidArgument);  // in flight
  EXPECT_EQ(pool.Recv(1).size(), 1u);
  EXPECT_TRUE(pool.Recv(0).empty());
  EXPECT_THROW(EnvPool([] { return std::make_unique<HouseholdEnv>(Json::object()); }, 0, {}),
               InvalidArgument);
}

// ---- remote envs with transport "batch": EnvPool's non-blocking path, against a real env
// server on 127.0.0.1 ----

std::unique_ptr<EnvServer> StartServer(const std::string& env, Json config = Json::object(),
                                       int threads = 2, uint16_t port = 0) {
  EnvServerOptions o;
  o.env = env;
  o.env_config = std::move(config);
  o.threads = threads;
  o.port = port;
  auto server = std::make_unique<EnvServer>(o);
  server->Start();
  return server;
}

EnvPool::Factory BatchFactory(const std::string& url, Json extra = Json::object()) {
  Json remote = {{"url", url}, {"transport", "batch"}, {"batch_connections", 2}};
  remote.update(extra);
  return [remote] { return MakeRemoteEnv(remote); };
}

// `{op="batch",status="200"} N` from the server's metrics.
int64_t BatchRequests(uint16_t port) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/metrics");
  if (!r) return -1;
  const std::string key = R"(turnwise_env_server_requests_total{op="batch",status="200"} )";
  size_t at = r->body.find(key);
  return at == std::string::npos ? 0 : std::stoll(r->body.substr(at + key.size()));
}

uint16_t FreePort() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

int ThreadCount() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// The action the test plays on a turn: the expert's, with an invalid command every 4th turn.
std::string TestAction(Env& mirror, int64_t turn) {
  if (turn % 4 == 3) return "dance wildly";
  return *mirror.ExpertAction();
}

// Differential test: episodes played through the server by the pool's batch path are the
// in-process episodes, step for step (every field of every StepResult); calls sent together
// travel in a few HTTP requests.
TEST(EnvPoolRemoteBatch, EpisodesAreStepIdenticalToInProcessOnes) {
  auto server = StartServer("household");
  const int kSlots = 24, kEpisodes = 2;
  EnvPool pool(BatchFactory(server->base_url()), kSlots, {.num_threads = 1});
  auto reset_for = [](int slot, int episode) {
    return ResetOptions{.seed = static_cast<uint64_t>(100 * slot + episode),
                        .split = episode % 2 ? "valid_unseen" : "train"};
  };
  std::vector<std::unique_ptr<HouseholdEnv>> mirrors;
  std::vector<int> episode(kSlots, 0);
  std::vector<std::string> last_action(kSlots);
  std::vector<int> ids;
  std::vector<ResetOptions> resets;
  for (int i = 0; i < kSlots; ++i) {
    mirrors.push_back(std::make_unique<HouseholdEnv>(Json::object()));
    ids.push_back(i);
    resets.push_back(reset_for(i, 0));
  }
  pool.SendReset(ids, resets);
  int finished = 0, won = 0;
  int64_t requests_before = 0, step_round_requests = -1;
  for (int round = 0; finished < kSlots * kEpisodes; ++round) {
    std::vector<int> step_ids, reset_ids;
    std::vector<std::string> actions;
    std::vector<ResetOptions> next_resets;
    // Rounds 0 and 1 wait for every slot: the 24 steps of round 1 are sent in one Send.
    auto results = pool.Recv(round < 2 ? pool.Pending() : 1);
    if (round == 1) step_round_requests = BatchRequests(server->port()) - requests_before;
    for (EnvResult& r : results) {
      ASSERT_TRUE(r.ok) << r.error;
      auto k = static_cast<size_t>(r.env_id);
      HouseholdEnv& mirror = *mirrors[k];
      StepResult want = r.is_reset ? mirror.Reset(reset_for(r.env_id, episode[k]))
                                   : mirror.Step(last_action[k]);
      ASSERT_EQ(r.step.ToJson(), want.ToJson()) << "slot " << k << " turn " << want.turn;
      if (r.is_reset) {
        EXPECT_EQ(pool.EnvAt(r.env_id).TaskId(), mirror.TaskId());
      }
      if (want.done()) {
        ++finished;
        won += want.info["won"].get<bool>();
        if (++episode[k] < kEpisodes) {
          reset_ids.push_back(r.env_id);
          next_resets.push_back(reset_for(r.env_id, episode[k]));
        }
        continue;
      }
      last_action[k] = TestAction(mirror, want.turn);
      step_ids.push_back(r.env_id);
      actions.push_back(last_action[k]);
    }
    if (round == 0) requests_before = BatchRequests(server->port());
    pool.Send(step_ids, actions);
    pool.SendReset(reset_ids, next_resets);
  }
  EXPECT_EQ(won, kSlots * kEpisodes);  // the expert wins despite the invalid moves
  EXPECT_EQ(pool.Pending(), 0u);
  // 24 steps sent together travel in about one request per connection (2), not 24.
  EXPECT_GE(step_round_requests, 1);
  EXPECT_LE(step_round_requests, 4);
  EXPECT_EQ(server->counters().sessions_active, kSlots);
}

// Hundreds of calls in flight hold no thread each: the pool adds its one worker (unused here)
// and one I/O thread, whatever the number of slots.
TEST(EnvPoolRemoteBatch, HundredsInFlightWithTwoThreads) {
  auto server = StartServer("delayed", {{"env", "household"}, {"reset_ms", 10}}, 4);
  int before = ThreadCount();
  const int kSlots = 256;
  EnvPool pool(BatchFactory(server->base_url(), {{"batch_connections", 4}}), kSlots,
               {.num_threads = 1});
  std::vector<int> ids;
  std::vector<ResetOptions> resets;
  for (int i = 0; i < kSlots; ++i) {
    ids.push_back(i);
    resets.push_back({.seed = static_cast<uint64_t>(i)});
  }
  pool.SendReset(ids, resets);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_GT(pool.Pending(), 0u);
  EXPECT_LE(ThreadCount() - before, 2);
  size_t got = 0;
  while (got < static_cast<size_t>(kSlots)) {
    for (auto& r : pool.Recv(1)) {
      EXPECT_TRUE(r.ok) << r.error;
      ++got;
    }
  }
  EXPECT_LE(ThreadCount() - before, 2);
}

TEST(EnvPoolRemoteBatch, SlowCallsTimeOutAndTheSlotRecovers) {
  auto server = StartServer("delayed", {{"env", "household"}, {"step_ms", 600}});
  EnvPool pool(BatchFactory(server->base_url()), 2,
               {.num_threads = 1, .call_timeout = std::chrono::milliseconds(150)});
  pool.SendReset({0, 1}, {{.seed = 1}, {.seed = 2}});
  ASSERT_EQ(pool.Recv(2).size(), 2u);
  EXPECT_EQ(server->counters().sessions_active, 2);
  auto t0 = std::chrono::steady_clock::now();
  pool.Send({0}, {"look"});
  auto r = pool.Recv(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_EQ(r[0].error, "environment call timed out after 150 ms");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(150));
  EXPECT_EQ(pool.Pending(), 0u);
  // The slot starts again with a fresh env (a new session); the late answer closes the old one.
  pool.SendReset({0}, {{.seed = 3}});
  auto again = pool.Recv(1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(again[0].ok) << again[0].error;
  for (int i = 0; i < 100 && server->counters().sessions_active != 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(server->counters().sessions_active, 2);
  EXPECT_EQ(server->counters().sessions_created, 3);
}

TEST(EnvPoolRemoteBatch, TransportErrorsAreRetriedWithBackoffThenReported) {
  // Nothing listens: every attempt is refused; the failure names the server and the attempts.
  uint16_t port = FreePort();
  std::string url = "http://127.0.0.1:" + std::to_string(port);
  {
    EnvPool pool(BatchFactory(url), 1,
                 {.num_threads = 1, .max_retries = 2, .backoff = std::chrono::milliseconds(20)});
    auto t0 = std::chrono::steady_clock::now();
    pool.SendReset({0}, {{}});
    auto r = pool.Recv(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_FALSE(r[0].ok);
    EXPECT_EQ(r[0].attempts, 3);
    EXPECT_EQ(r[0].error.rfind("env server " + url + ": connect to 127.0.0.1:" +
                                   std::to_string(port) + ": ",
                               0),
              0u)
        << r[0].error;
    EXPECT_NE(r[0].error.find("(after 3 attempts)"), std::string::npos) << r[0].error;
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(20 + 40));
  }
  // The server comes up while the pool backs off: a later attempt succeeds.
  EnvPool pool(BatchFactory(url), 1,
               {.num_threads = 1, .max_retries = 5, .backoff = std::chrono::milliseconds(100)});
  pool.SendReset({0}, {{.seed = 4}});
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  auto server = StartServer("household", Json::object(), 2, port);
  auto r = pool.Recv(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].ok) << r[0].error;
  EXPECT_GE(r[0].attempts, 2);
  EXPECT_EQ(r[0].step.ToJson(), HouseholdEnv(Json::object()).Reset({.seed = 4}).ToJson());
}

TEST(EnvPoolRemoteBatch, ServerAnswersBecomeReasons) {
  auto server = StartServer("household");
  EnvPool pool(BatchFactory(server->base_url()), 2, {.num_threads = 1});
  pool.SendReset({0}, {{.split = "nope"}});
  auto r = pool.Recv(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_EQ(r[0].error, "env server " + server->base_url() +
                            ": unknown split 'nope'; known: train, valid_seen, valid_unseen");
  pool.Send({1}, {"look"});  // never reset
  r = pool.Recv(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].ok);
  EXPECT_NE(r[0].error.find("Step() before Reset()"), std::string::npos) << r[0].error;
  // A session the server lost (closed behind the pool's back) is recreated by the next reset.
  pool.SendReset({0}, {{.seed = 9}});
  ASSERT_TRUE(pool.Recv(1)[0].ok);
  httplib::Client c("127.0.0.1", server->port());
  auto sid = dynamic_cast<envs_internal::RemoteSession&>(pool.EnvAt(0)).session_id();
  ASSERT_TRUE(c.Delete("/v1/sessions/" + sid));
  pool.Send({0}, {"look"});
  r = pool.Recv(1);
  EXPECT_FALSE(r[0].ok);
  EXPECT_NE(r[0].error.find("no longer has the session"), std::string::npos) << r[0].error;
  pool.SendReset({0}, {{.seed = 9}});
  r = pool.Recv(1);
  EXPECT_TRUE(r[0].ok) << r[0].error;
}

// The server dies with episodes in flight: every call comes back — none lost — each failed one
// with its reason; a server started again on the same port serves new episodes to the same pool.
TEST(EnvPoolRemoteBatch, NoEpisodeIsLostWhenTheServerDies) {
  auto server = StartServer("household");
  uint16_t port = server->port();
  const int kSlots = 32;
  EnvPool pool(BatchFactory(server->base_url()), kSlots,
               {.num_threads = 1, .max_retries = 1, .backoff = std::chrono::milliseconds(10)});
  std::vector<int> ids;
  std::vector<ResetOptions> resets;
  for (int i = 0; i < kSlots; ++i) {
    ids.push_back(i);
    resets.push_back({.seed = static_cast<uint64_t>(i)});
  }
  pool.SendReset(ids, resets);
  std::set<int> in_flight(ids.begin(), ids.end());
  int results = 0, failed = 0;
  std::map<int, StepResult> last;
  while (!in_flight.empty()) {
    if (results >= 3 * kSlots && server) server.reset();  // mid-run, calls in flight
    std::vector<int> step_ids;
    std::vector<std::string> actions;
    for (EnvResult& r : pool.Recv(1)) {
      ++results;
      ASSERT_EQ(in_flight.erase(r.env_id), 1u) << "a result for a slot with no call";
      if (!r.ok) {
        ++failed;
        EXPECT_EQ(r.error.rfind("env server http://127.0.0.1:", 0), 0u) << r.error;
        continue;  // this episode is closed as aborted, with r.error as its reason
      }
      if (r.step.done()) continue;
      step_ids.push_back(r.env_id);
      actions.push_back(r.step.admissible_actions.at(static_cast<size_t>(results) %
                                                     r.step.admissible_actions.size()));
    }
    pool.Send(step_ids, actions);
    in_flight.insert(step_ids.begin(), step_ids.end());
  }
  EXPECT_FALSE(server);
  EXPECT_GT(failed, 0);
  EXPECT_EQ(pool.Pending(), 0u);
  // Back on the same port: every slot starts a new episode (sessions recreated).
  server = StartServer("household", Json::object(), 2, port);
  pool.SendReset(ids, resets);
  int ok = 0;
  while (ok + 0 < kSlots) {
    auto got = pool.Recv(1);
    for (auto& r : got) {
      EXPECT_TRUE(r.ok) << r.error;
      ok += 1;
    }
  }
  EXPECT_EQ(pool.Pending(), 0u);
}

}  // namespace
}  // namespace turnwise
