#include "training/rollout.h"

#include <chrono>
#include <deque>

#include "agents/prompts.h"
#include "core/error.h"
#include "core/hash.h"
#include "envs/env_pool.h"
#include "envs/registry.h"

namespace turnwise {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// An episode in flight.
struct Live {
  RolloutEpisode out;
  std::string task;
  std::vector<HistoryEntry> history;
  StepResult current;      // the observation waiting for an action
  int slot = -1;
  int64_t index = 0;       // position in the iteration's episode list (for seeds)
  PolicyOutput pending;    // the action sent, while its env call is in flight
  double generate_seconds = 0;
  std::unique_ptr<PolicyMemory> memory;  // the policy's state of this episode (episode layout)
};

}  // namespace

RolloutEngine::RolloutEngine(RolloutOptions options) : options_(std::move(options)) {
  if (options_.group_size < 1) throw ConfigError("rollout.group_size", "must be >= 1");
  if (options_.max_active < 1) throw ConfigError("rollout.max_active", "must be >= 1");
  if (options_.max_turns < 1) throw ConfigError("rollout.max_turns", "must be >= 1");
  // Make one env now so a bad name or config fails here, with the registry's message.
  EnvRegistry::Make(options_.env, options_.env_config);
  EnvPool::Options po;
  po.num_threads = options_.env_threads;
  po.call_timeout = options_.env_call_timeout;
  po.max_retries = options_.env_retries;
  std::string env = options_.env;
  Json config = options_.env_config;
  pool_ = std::make_unique<EnvPool>([env, config] { return EnvRegistry::Make(env, config); }, options_.max_active,
                                    po);
}

RolloutEngine::~RolloutEngine() = default;

std::vector<RolloutTask> MakeTasks(const std::string& split, int64_t count, int64_t iteration, uint64_t seed) {
  std::vector<RolloutTask> tasks;
  for (int64_t k = 0; k < count; ++k) {
    RolloutTask t;
    t.group_id = "i" + std::to_string(iteration) + "-g" + std::to_string(k);
    t.reset.split = split;
    t.reset.seed = Mix64(HashCombine(HashCombine(seed, static_cast<uint64_t>(iteration)), static_cast<uint64_t>(k))) >> 1;
    tasks.push_back(std::move(t));
  }
  return tasks;
}

RolloutStats RolloutEngine::Run(Policy& policy, const std::vector<RolloutTask>& tasks, int64_t iteration,
                                uint64_t seed, const std::function<void(RolloutEpisode&&)>& on_episode) {
  RolloutStats stats;
  auto t_start = Clock::now();
  // The queue of episodes to play: each task G times.
  struct Queued {
    const RolloutTask* task;
    int64_t index;
  };
  std::deque<Queued> queue;
  int64_t n = 0;
  for (const auto& t : tasks) {
    for (int g = 0; g < options_.group_size; ++g) queue.push_back({&t, n++});
  }
  std::vector<std::unique_ptr<Live>> slots(static_cast<size_t>(pool_->size()));
  std::vector<int> free_slots;
  for (int i = pool_->size() - 1; i >= 0; --i) free_slots.push_back(i);
  std::vector<int> waiting;  // slots whose episode waits for an action
  int64_t act_inputs = 0;
  // Calls sent and not yet received. (EnvPool::Pending() counts calls still running only, not
  // results waiting to be received, so the loop keeps its own count.)
  size_t outstanding = 0;

  auto finish = [&](int slot, EpisodeStatus status, const std::string& reason) {
    std::unique_ptr<Live> live = std::move(slots[static_cast<size_t>(slot)]);
    EpisodeRecord& r = live->out.record;
    r.status = status;
    r.abort_reason = reason;
    r.num_turns = static_cast<int64_t>(r.turns.size());
    if (!r.turns.empty()) r.success = r.turns.back().info.value("won", false);
    stats.episodes += 1;
    stats.aborted += status == EpisodeStatus::kAborted ? 1 : 0;
    free_slots.push_back(slot);
    on_episode(std::move(live->out));
  };

  auto launch = [&] {
    std::vector<int> ids;
    std::vector<ResetOptions> resets;
    while (!queue.empty() && !free_slots.empty()) {
      Queued q = queue.front();
      queue.pop_front();
      int slot = free_slots.back();
      free_slots.pop_back();
      auto live = std::make_unique<Live>();
      live->slot = slot;
      live->index = q.index;
      EpisodeRecord& r = live->out.record;
      r.iteration = iteration;
      r.group_id = q.task->group_id;
      r.env = options_.env;
      r.seed = static_cast<int64_t>(q.task->reset.seed);
      r.split = q.task->reset.split;
      r.policy = policy.name();
      slots[static_cast<size_t>(slot)] = std::move(live);
      ids.push_back(slot);
      resets.push_back(q.task->reset);
    }
    if (!ids.empty()) pool_->SendReset(ids, resets);
    outstanding += ids.size();
  };

  // Applies one env answer to its episode.
  auto on_result = [&](EnvResult& res) {
    Live* live = slots[static_cast<size_t>(res.env_id)].get();
    if (live == nullptr) return;
    if (!res.ok) {
      finish(res.env_id, EpisodeStatus::kAborted, res.error);
      return;
    }
    EpisodeRecord& r = live->out.record;
    if (res.is_reset) {
      Env& env = pool_->EnvAt(res.env_id);
      r.task_id = env.TaskId();
      r.task_type = env.TaskType();
      live->task = ExtractTask(res.step.observation.text);
      live->current = std::move(res.step);
      waiting.push_back(res.env_id);
      return;
    }
    stats.env_steps += 1;
    TurnRecord t;
    t.turn_index = static_cast<int64_t>(r.turns.size());
    t.observation = live->current.observation.text;
    t.anchor_key = live->current.anchor_key;
    PolicyOutput& out = live->pending;
    t.prompt = std::move(out.prompt);
    t.response = std::move(out.response);
    t.action = out.action;
    t.action_valid = IsValidTurn(out, res.step);
    t.token_ids = std::move(out.response_tokens);
    t.logprobs = std::move(out.logprobs);
    t.entropies = std::move(out.entropies);
    stats.generated_tokens += static_cast<int64_t>(t.token_ids.size());
    t.reward = res.step.reward;
    t.terminated = res.step.terminated;
    t.truncated = res.step.truncated;
    t.info = res.step.info;
    t.timings = {{"generate", live->generate_seconds}, {"env", res.seconds}};
    r.episode_return += t.reward;
    live->out.prompt_tokens.push_back(std::move(out.prompt_tokens));
    live->history.push_back({live->current.observation.text, out.action});
    r.turns.push_back(std::move(t));
    live->current = std::move(res.step);
    if (live->current.done()) {
      finish(res.env_id, live->current.truncated ? EpisodeStatus::kTruncated : EpisodeStatus::kOk, "");
    } else if (static_cast<int64_t>(r.turns.size()) >= options_.max_turns) {
      r.turns.back().truncated = true;
      finish(res.env_id, EpisodeStatus::kTruncated, "");
    } else {
      waiting.push_back(res.env_id);
    }
  };

  launch();
  while (true) {
    size_t pending = outstanding;
    if (pending == 0 && waiting.empty()) {
      launch();
      if (outstanding == 0) break;
      continue;
    }
    if (pending > 0) {
      // Continuous: take what is ready, blocking only when nobody waits for an action.
      // Synchronous: wait for every call in flight.
      size_t min_batch = options_.synchronous ? pending : (waiting.empty() ? 1 : 0);
      auto t0 = Clock::now();
      std::vector<EnvResult> results = pool_->Recv(min_batch);
      stats.env_wait_seconds += Since(t0);
      outstanding -= results.size();
      for (auto& res : results) on_result(res);
      launch();
      if (options_.synchronous && outstanding > 0) continue;
    }
    if (waiting.empty()) continue;

    std::vector<PolicyInput> inputs;
    inputs.reserve(waiting.size());
    for (int slot : waiting) {
      Live* live = slots[static_cast<size_t>(slot)].get();
      PolicyInput in;
      in.env_name = options_.env;
      in.task = live->task;
      in.history = live->history;
      in.step = &live->current;
      in.env = &pool_->EnvAt(slot);
      in.seed = HashCombine(HashCombine(seed, static_cast<uint64_t>(iteration)),
                            HashCombine(static_cast<uint64_t>(live->index), live->out.record.turns.size()));
      in.memory = &live->memory;
      inputs.push_back(std::move(in));
    }
    std::vector<int> acting;
    acting.swap(waiting);
    auto t0 = Clock::now();
    std::vector<PolicyOutput> outputs;
    std::string failure;
    try {
      outputs = policy.Act(inputs);
      if (outputs.size() != inputs.size()) {
        failure = "policy " + policy.name() + " answered " + std::to_string(outputs.size()) + " of " +
                  std::to_string(inputs.size()) + " inputs";
      }
    } catch (const std::exception& e) {
      failure = std::string("policy ") + policy.name() + " failed: " + e.what();
    }
    double act_seconds = Since(t0);
    stats.policy_seconds += act_seconds;
    stats.policy_calls += 1;
    act_inputs += static_cast<int64_t>(inputs.size());
    if (!failure.empty()) {
      for (int slot : acting) finish(slot, EpisodeStatus::kAborted, failure);
      launch();
      continue;
    }
    std::vector<std::string> actions;
    std::vector<int> sending;
    actions.reserve(acting.size());
    for (size_t i = 0; i < acting.size(); ++i) {
      Live* live = slots[static_cast<size_t>(acting[i])].get();
      if (outputs[i].context_exhausted) {
        // The episode's sequence is full (rollout.max_context_tokens): it ends here, truncated.
        EpisodeRecord& r = live->out.record;
        r.info["truncated_by"] = "context_limit";
        if (!r.turns.empty()) r.turns.back().truncated = true;
        finish(acting[i], EpisodeStatus::kTruncated, "");
        continue;
      }
      live->generate_seconds = act_seconds;
      live->pending = std::move(outputs[i]);
      actions.push_back(live->pending.action);
      sending.push_back(acting[i]);
    }
    if (sending.size() < acting.size()) launch();
    if (!sending.empty()) pool_->Send(sending, actions);
    outstanding += sending.size();
  }
  stats.mean_act_batch = stats.policy_calls ? static_cast<double>(act_inputs) / static_cast<double>(stats.policy_calls) : 0;
  stats.seconds = Since(t_start);
  return stats;
}

}  // namespace turnwise
