// The environment interface: what every Turnwise environment is, in process or behind a server.
//
// An Env plays one episode at a time: Reset() starts one and returns the first observation,
// Step(action) applies one action (text) and returns what followed. Environments are
// deterministic: the same ResetOptions and the same actions give the same episode, byte for
// byte (so G rollouts of one task form a GRPO/GiGPO group, and runs reproduce).
//
// Thread safety: an Env instance is used by one thread at a time (EnvPool gives each its own).
// Errors: Step() before Reset() or after the episode ended throws FailedPrecondition; a
// malformed action is NOT an error — the env answers it (household: "Nothing happens.") and
// reports info.is_action_valid = false.
#ifndef TURNWISE_ENVS_ENV_H_
#define TURNWISE_ENVS_ENV_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace turnwise {

struct ResetOptions {
  uint64_t seed = 0;
  // A task of the env's own naming ("train/12"); empty = chosen from the seed within `split`.
  std::string task_id;
  std::string split = "train";  // train, valid_seen, valid_unseen
};

struct Observation {
  std::string text;
  std::string image_png;       // PNG bytes, empty when the env has no image
  std::vector<float> vector;   // numeric observation, empty when none
};

struct StepResult {
  Observation observation;
  double reward = 0;           // reward of this step (0 at reset)
  bool terminated = false;     // ended by the task (won or lost)
  bool truncated = false;      // ended by a limit (max turns)
  // The valid actions in this state, sorted, when the env knows them; empty otherwise.
  std::vector<std::string> admissible_actions;
  // State identity for GiGPO step groups (household: the observation text).
  std::string anchor_key;
  // Always has "won" (bool), "is_action_valid" (bool), "task_score" (number); env extras too.
  Json info = Json::object();
  int64_t turn = 0;            // steps taken in this episode (0 after reset)

  bool done() const { return terminated || truncated; }
  // The protocol v1 JSON shape (docs/protocol.md); image as base64.
  Json ToJson() const;
  // The same document as DumpJson(ToJson()), written directly (no Json tree): the env server's
  // hot path.
  std::string ToJsonText() const;
  // Inverse of ToJson. Throws InvalidArgument naming the missing or mistyped field.
  static StepResult FromJson(const Json& json);
  // FromJson(parse(text)): the same result and the same errors (InvalidArgument, also for text
  // that is not JSON), but the common shape — text observation, flat info — is read straight
  // from the text without building a Json tree (a remote client's hot path).
  static StepResult FromJsonText(std::string_view text);
};

struct EnvSpec {
  std::string name;
  std::string version;
  std::string description;
  std::map<std::string, int64_t> splits;     // split name -> number of tasks
  int64_t max_turns = 0;
  std::vector<std::string> observation_kinds = {"text"};
  std::string action_format;                 // a hint for prompts and people
  Json config_defaults = Json::object();     // the env's config keys with their defaults

  Json ToJson() const;
  static EnvSpec FromJson(const Json& json);
};

class Env {
 public:
  virtual ~Env() = default;
  virtual StepResult Reset(const ResetOptions& options) = 0;
  virtual StepResult Step(const std::string& action) = 0;
  virtual EnvSpec Spec() const = 0;
  // The scripted expert's next action from the current state, when the env has one (used for
  // SFT demonstrations, the `expert` policy and tests). nullopt when it has none or the
  // episode is over.
  virtual std::optional<std::string> ExpertAction() { return std::nullopt; }
  // Task identity of the current episode ("train/12") and its type, for the store.
  virtual std::string TaskId() const { return ""; }
  virtual std::string TaskType() const { return ""; }
};

}  // namespace turnwise

#endif  // TURNWISE_ENVS_ENV_H_
