#include "envs/episode_runner.h"

#include <chrono>

#include "core/error.h"

namespace turnwise {
namespace {

double Seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string RandomAction(const StepResult& last, Rng& rng) {
  if (last.admissible_actions.empty()) {
    throw FailedPrecondition("the random policy needs admissible actions; this env lists none");
  }
  return last.admissible_actions[rng.Uniform(last.admissible_actions.size())];
}

std::string ExpertAction(Env& env) {
  auto action = env.ExpertAction();
  if (!action) throw FailedPrecondition("environment '" + env.Spec().name + "' has no expert");
  return *action;
}

}  // namespace

const std::vector<std::string>& ScriptedPolicyNames() {
  static const std::vector<std::string> kNames = {"expert", "noisy_expert", "random"};
  return kNames;
}

ActionChooser MakeScriptedPolicy(const std::string& name, double noise) {
  if (name == "expert") {
    return [](const StepResult&, Env& env, Rng&) { return ExpertAction(env); };
  }
  if (name == "random") {
    return [](const StepResult& last, Env&, Rng& rng) { return RandomAction(last, rng); };
  }
  if (name == "noisy_expert") {
    if (noise < 0 || noise > 1) {
      throw InvalidArgument("noise must be between 0 and 1, got " + std::to_string(noise));
    }
    return [noise](const StepResult& last, Env& env, Rng& rng) {
      return rng.Bernoulli(noise) ? RandomAction(last, rng) : ExpertAction(env);
    };
  }
  throw NotFound(UnknownNameMessage("scripted policy", name, ScriptedPolicyNames()));
}

EpisodeRecord PlayEpisode(Env& env, const EpisodeRunOptions& options, const ActionChooser& choose,
                          Rng& rng) {
  EpisodeRecord e;
  e.env = env.Spec().name;
  e.seed = static_cast<int64_t>(options.reset.seed);
  e.split = options.reset.split;
  StepResult last;
  try {
    last = env.Reset(options.reset);
  } catch (const std::exception& ex) {
    e.status = EpisodeStatus::kAborted;
    e.abort_reason = std::string("reset failed: ") + ex.what();
    return e;
  }
  e.task_id = env.TaskId();
  e.task_type = env.TaskType();
  while (!last.done()) {
    if (options.max_turns > 0 && static_cast<int64_t>(e.turns.size()) >= options.max_turns) {
      e.status = EpisodeStatus::kTruncated;
      break;
    }
    TurnRecord turn;
    turn.turn_index = static_cast<int64_t>(e.turns.size());
    turn.observation = last.observation.text;
    turn.anchor_key = last.anchor_key;
    try {
      double t0 = Seconds();
      turn.action = choose(last, env, rng);
      double t1 = Seconds();
      last = env.Step(turn.action);
      turn.timings = {{"policy", t1 - t0}, {"env", Seconds() - t1}};
    } catch (const std::exception& ex) {
      e.status = EpisodeStatus::kAborted;
      e.abort_reason = ex.what();
      break;
    }
    turn.response = turn.action;
    turn.action_valid = last.info.value("is_action_valid", true);
    turn.reward = last.reward;
    turn.terminated = last.terminated;
    turn.truncated = last.truncated;
    turn.info = last.info;
    e.episode_return += last.reward;
    e.turns.push_back(std::move(turn));
  }
  if (e.status != EpisodeStatus::kAborted && last.truncated) e.status = EpisodeStatus::kTruncated;
  e.success = last.info.value("won", false);
  e.info = {{"final_observation", last.observation.text}};
  return e;
}

}  // namespace turnwise
