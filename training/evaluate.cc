#include "training/evaluate.h"

#include <chrono>
#include <deque>
#include <memory>

#include "agents/prompts.h"
#include "core/error.h"
#include "core/hash.h"
#include "envs/registry.h"

namespace turnwise {
namespace {

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

// One episode in flight.
struct Slot {
  std::unique_ptr<Env> env;
  bool active = false;
  int64_t index = 0;  // episode number in [0, episodes)
  StepResult last;
  std::string task;
  std::vector<HistoryEntry> history;
  EpisodeRecord record;
  std::unique_ptr<PolicyMemory> memory;  // the policy's state of this episode (episode layout)
};

}  // namespace

Json EvalResult::ToJson() const {
  Json types = Json::object();
  for (const auto& [type, t] : by_task_type) {
    types[type] = {{"episodes", t.episodes}, {"successes", t.successes},
                   {"success_rate", t.success_rate()}};
  }
  return {{"env", env},
          {"split", split},
          {"episodes", episodes},
          {"aborted", aborted},
          {"success_rate", success_rate},
          {"mean_return", mean_return},
          {"mean_length", mean_length},
          {"invalid_action_rate", invalid_action_rate},
          {"format_error_rate", format_error_rate},
          {"by_task_type", types},
          {"seconds", seconds},
          {"policy_calls", policy_calls}};
}

EvalResult EvaluatePolicy(Policy& policy, const std::string& env_name, const Json& env_config,
                          const std::string& split, int64_t episodes, int64_t max_turns,
                          int64_t batch_size, uint64_t seed, const EpisodeSink& sink) {
  if (episodes < 0 || max_turns < 0 || batch_size < 0) {
    throw InvalidArgument("EvaluatePolicy: episodes, max_turns and batch_size must be >= 0");
  }
  const double t0 = Now();
  std::unique_ptr<Env> first = EnvRegistry::Make(env_name, env_config);
  const EnvSpec spec = first->Spec();
  auto split_it = spec.splits.find(split);
  if (split_it == spec.splits.end()) {
    std::vector<std::string> known;
    for (const auto& [name, n] : spec.splits) known.push_back(name);
    throw NotFound(UnknownNameMessage("split of " + env_name, split, known));
  }
  const int64_t split_size = split_it->second;
  if (split_size <= 0) throw FailedPrecondition("split '" + split + "' of " + env_name + " is empty");
  if (episodes == 0) episodes = split_size;
  if (batch_size == 0 || batch_size > episodes) batch_size = episodes;

  EvalResult result;
  result.env = env_name;
  result.split = split;
  int64_t total_turns = 0, invalid_turns = 0, format_errors = 0, successes = 0;
  double total_return = 0;

  std::vector<Slot> slots(static_cast<size_t>(batch_size));
  slots[0].env = std::move(first);
  int64_t next_episode = 0;

  auto finish = [&](Slot& s, EpisodeStatus status, const std::string& reason) {
    EpisodeRecord& e = s.record;
    if (status == EpisodeStatus::kAborted) {
      e.status = status;
      e.abort_reason = reason;
      result.aborted++;
    } else if (status == EpisodeStatus::kTruncated || s.last.truncated) {
      e.status = EpisodeStatus::kTruncated;
    }
    e.success = status != EpisodeStatus::kAborted && s.last.info.value("won", false);
    e.num_turns = static_cast<int64_t>(e.turns.size());
    e.info["final_observation"] = s.last.observation.text;
    result.episodes++;
    successes += e.success;
    total_return += e.episode_return;
    total_turns += e.num_turns;
    TaskTypeResult& type = result.by_task_type[e.task_type];
    type.episodes++;
    type.successes += e.success;
    s.active = false;
    s.memory.reset();
    if (sink) sink(std::move(e));
    s.record = EpisodeRecord();
  };

  // Starts the next episode in `s`; returns false when none is left.
  auto start = [&](Slot& s) -> bool {
    while (next_episode < episodes) {
      const int64_t i = next_episode++;
      if (!s.env) s.env = EnvRegistry::Make(env_name, env_config);
      s.index = i;
      s.history.clear();
      s.record = EpisodeRecord();
      s.record.env = env_name;
      s.record.split = split;
      s.record.seed = i;
      s.record.policy = policy.name();
      s.record.task_id = split + "/" + std::to_string(i % split_size);
      s.record.group_id = s.record.task_id;
      s.active = true;
      try {
        s.last = s.env->Reset({.seed = static_cast<uint64_t>(i), .task_id = s.record.task_id,
                               .split = split});
      } catch (const std::exception& ex) {
        s.last = StepResult();
        finish(s, EpisodeStatus::kAborted, std::string("reset failed: ") + ex.what());
        s.env.reset();
        continue;
      }
      s.record.task_id = s.env->TaskId().empty() ? s.record.task_id : s.env->TaskId();
      s.record.task_type = s.env->TaskType();
      s.task = ExtractTask(s.last.observation.text);
      if (!s.last.done()) return true;
      finish(s, EpisodeStatus::kOk, "");
    }
    return false;
  };

  for (Slot& s : slots) start(s);
  while (true) {
    std::vector<Slot*> waiting;
    for (Slot& s : slots) {
      if (!s.active) continue;
      if (max_turns > 0 && static_cast<int64_t>(s.record.turns.size()) >= max_turns) {
        finish(s, EpisodeStatus::kTruncated, "");
        if (!start(s)) continue;
      }
      waiting.push_back(&s);
    }
    if (waiting.empty()) break;
    std::vector<PolicyInput> inputs;
    inputs.reserve(waiting.size());
    for (Slot* s : waiting) {
      PolicyInput in;
      in.env_name = env_name;
      in.task = s->task;
      in.history = s->history;
      in.step = &s->last;
      in.env = s->env.get();
      in.seed = HashCombine(HashCombine(seed, static_cast<uint64_t>(s->index)),
                            static_cast<uint64_t>(s->record.turns.size()));
      in.memory = &s->memory;
      inputs.push_back(std::move(in));
    }
    std::vector<PolicyOutput> outputs;
    const double g0 = Now();
    try {
      outputs = policy.Act(inputs);
      result.policy_calls++;
      if (outputs.size() != inputs.size()) {
        throw InvalidArgument("policy " + policy.name() + " answered " +
                              std::to_string(outputs.size()) + " of " +
                              std::to_string(inputs.size()) + " inputs");
      }
    } catch (const std::exception& ex) {
      for (Slot* s : waiting) {
        finish(*s, EpisodeStatus::kAborted, std::string("policy failed: ") + ex.what());
        start(*s);
      }
      continue;
    }
    const double generate_s = (Now() - g0) / double(waiting.size());
    for (size_t k = 0; k < waiting.size(); ++k) {
      Slot& s = *waiting[k];
      PolicyOutput& o = outputs[k];
      if (o.context_exhausted) {  // the episode layout's context limit ends the episode
        s.record.info["truncated_by"] = "context_limit";
        finish(s, EpisodeStatus::kTruncated, "");
        start(s);
        continue;
      }
      TurnRecord turn;
      turn.turn_index = static_cast<int64_t>(s.record.turns.size());
      turn.observation = s.last.observation.text;
      turn.anchor_key = s.last.anchor_key;
      turn.prompt = o.prompt;
      turn.response = o.response;
      turn.action = o.action;
      turn.token_ids = std::move(o.response_tokens);
      turn.logprobs = std::move(o.logprobs);
      turn.entropies = std::move(o.entropies);
      const double e0 = Now();
      try {
        s.last = s.env->Step(o.action);
      } catch (const std::exception& ex) {
        s.record.turns.push_back(std::move(turn));
        finish(s, EpisodeStatus::kAborted, std::string("env step failed: ") + ex.what());
        s.env.reset();
        start(s);
        continue;
      }
      turn.action_valid = IsValidTurn(o, s.last);
      turn.reward = s.last.reward;
      turn.terminated = s.last.terminated;
      turn.truncated = s.last.truncated;
      turn.info = s.last.info;
      turn.timings = {{"generate", generate_s}, {"env", Now() - e0}};
      invalid_turns += !turn.action_valid;
      format_errors += !o.format_valid;
      s.record.episode_return += s.last.reward;
      s.history.push_back({turn.observation, o.action});
      s.record.turns.push_back(std::move(turn));
      if (s.last.done()) {
        finish(s, EpisodeStatus::kOk, "");
        start(s);
      }
    }
  }

  const double n = std::max<double>(1.0, double(result.episodes));
  result.success_rate = double(successes) / n;
  result.mean_return = total_return / n;
  result.mean_length = double(total_turns) / n;
  result.invalid_action_rate = total_turns ? double(invalid_turns) / double(total_turns) : 0.0;
  result.format_error_rate = total_turns ? double(format_errors) / double(total_turns) : 0.0;
  result.seconds = Now() - t0;
  return result;
}

}  // namespace turnwise
