// Policies: what chooses the next action of an episode. The rollout engine (training/), `turnwise
// eval` and SFT data collection all act through this one interface, so scripted, local-model and
// served-model policies are interchangeable and produce the same turn records.
//
// Act() takes every episode currently waiting for an action and answers them together (the LM
// policy generates for all of them in one batched call — continuous batching across episodes).
// Policies that need no model answer each input on its own.
//
// Thread safety: one caller at a time per Policy instance.
#ifndef TURNWISE_AGENTS_POLICY_H_
#define TURNWISE_AGENTS_POLICY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agents/prompts.h"
#include "core/json.h"
#include "envs/env.h"

namespace turnwise {

// What a policy carries from one turn of an episode to the next (the lm policy's episode layout
// keeps the episode's token sequence and KV cache here). The caller owns one slot per episode,
// empty when the episode starts, passes it with every input of that episode, and drops it when
// the episode ends (which frees the cache); the policy fills it. Policies that need no memory
// ignore it.
class PolicyMemory {
 public:
  virtual ~PolicyMemory() = default;
};

// One decision: an episode waiting for its next action.
struct PolicyInput {
  std::string env_name;               // selects the prompt template ("household", …)
  std::string task;                   // the task text (ExtractTask of the first observation)
  std::vector<HistoryEntry> history;  // every earlier (observation, action) of the episode
  const StepResult* step = nullptr;   // the current observation and admissible actions
  Env* env = nullptr;                 // the in-process env (the expert asks it); may be null
  uint64_t seed = 0;                  // per-decision seed: same seed, same input → same output
  std::unique_ptr<PolicyMemory>* memory = nullptr;  // the episode's slot (episode layout); may be null
};

// What a policy answered. Model policies fill the token fields (token-in/token-out: the learner
// trains on exactly these ids); scripted ones leave them empty.
struct PolicyOutput {
  std::string prompt;                  // the user message the policy was shown (rendered template)
  // Model policies: the chat-formatted prompt, tokenised — in the episode layout only the tokens
  // this turn appended to the episode's sequence (agents/episode_tokens.h).
  std::vector<int32_t> prompt_tokens;
  std::string response;                // the generated text (scripted: the action itself)
  std::vector<int32_t> response_tokens;
  std::vector<float> logprobs;         // per response token, at sampling time
  std::vector<float> entropies;        // per response token
  std::string action;                  // the projected action sent to the env
  bool format_valid = true;            // <think>/<action> format respected (model policies)
  bool admissible = true;              // the action is in the admissible list (when known)
  // The episode layout's context limit: this turn would not fit, nothing was generated and no
  // action is given; the caller ends the episode as truncated.
  bool context_exhausted = false;
};

// Whether a turn counts as valid (TurnRecord::action_valid, the invalid-action penalty): the
// answer kept the <think>/<action> format, and the env accepted the action — its
// info.is_action_valid when it reports one (it is the authority: sokoban reads "move up" as up,
// as verl-agent's projection does), else the policy's admissibility check.
bool IsValidTurn(const PolicyOutput& output, const StepResult& answer);

class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string name() const = 0;
  // One output per input, in order. Throws on failures the caller cannot recover from (a
  // model server that stays down: Unavailable); the rollout engine aborts those episodes.
  virtual std::vector<PolicyOutput> Act(const std::vector<PolicyInput>& batch) = 0;
};

// Policies by name with their config (a JSON object; unknown keys are ConfigErrors naming
// "policy.<key>"):
//   expert        {}                      the env's scripted expert (needs PolicyInput::env)
//   noisy_expert  {"noise": 0.3}          expert, or a uniformly random admissible action with
//                                         probability `noise`
//   random        {}                      uniform over the admissible actions
//   lm            agents/lm_policy.h      a TransformerLM checkpoint folder
//   openai        agents/openai_policy.h  a chat-completions server (vLLM, SGLang, llama.cpp)
// An unknown name throws NotFound listing the known ones.
std::unique_ptr<Policy> MakePolicy(const std::string& name, const Json& config = Json::object());
std::vector<std::string> PolicyNames();

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_POLICY_H_
