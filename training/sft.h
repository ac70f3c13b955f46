// Supervised fine-tuning of the policy model on scripted-expert demonstrations
// (`turnwise sft --config FILE [--set k=v ...]`).
//
//   1. Demonstrations: episodes of any registered env (default household, train split) played by
//      the env's scripted expert, or by a noisy expert that executes a uniformly random
//      admissible action with probability `noise`. The LABEL of every visited state is always
//      the expert's action from that state — the noise only changes which states are visited,
//      so the model also learns to recover from mistakes.
//   2. Each (state, label) becomes one training row in the lm policy's exact layout:
//      prompt = BuildPromptTokens(state) (agents/lm_policy.h), response = EncodeResponse(
//      "<think>" + ThinkText(...) + "</think><action>" + label + "</action>") + <|im_end|>.
//   3. Tokenizer: the config's tokenizer.json, or a byte-level BPE trained on the demonstration
//      text (ChatML special tokens added). Model: a preset (agents/model_config.h) sized to the
//      tokenizer, with optional config.json field overrides, or an existing checkpoint folder.
//   4. Training: loss = mean negative log-likelihood over response tokens only (the mask of
//      Score(): prompt and padding excluded), AdamW, linear warm-up then cosine decay, gradient
//      norm clipping, minibatches filled up to a token budget (padded tokens), fixed seed.
//   5. Checkpoints every `checkpoint_every` steps and at the end, each an HF-layout folder
//      (config.json, model.safetensors[.index.json], tokenizer.json) plus optimizer.pt,
//      trainer_state.json and sft_config.json; the last one is `<out_dir>/final`.
//   6. Evaluation: success rate on a held-out split (valid_seen) with the lm policy at greedy
//      decoding (training/evaluate.h); written to `<out_dir>/final/eval_results.json`.
//
// Torch-free header (the loss is in training/sft_loss.h). Runs on the calling thread.
#ifndef TURNWISE_TRAINING_SFT_H_
#define TURNWISE_TRAINING_SFT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "agents/episode_tokens.h"
#include "agents/prompts.h"
#include "core/config.h"
#include "core/json.h"
#include "core/rng.h"
#include "training/evaluate.h"

namespace turnwise {

class Tokenizer;

// The `turnwise sft` config: every key, its type, default and help (docs/sft.md lists them).
const ConfigSchema& SftConfigSchema();

// One supervised decision: the state as the policy would see it and the expert's label.
struct Demonstration {
  std::string env_name;
  std::string task;                    // ExtractTask of the first observation
  std::string task_type;
  std::vector<HistoryEntry> history;   // executed (observation, action) pairs before this state
  std::string observation;
  std::vector<std::string> admissible;
  std::string action;                  // the expert's action from this state (the label)
  std::string executed;                // the action the behaviour policy took (= action without noise)
  int64_t episode = 0;                 // the demonstration episode it belongs to
};

struct DemoCollectionOptions {
  std::string env = "household";
  Json env_config = Json::object();
  std::string split = "train";
  int64_t episodes = 100;
  // "expert" | "noisy_expert" | "random": the uniform random policy, whose label is the action
  // it took — imitating it teaches the prompt, the tags and the action words, not the task.
  std::string policy = "noisy_expert";
  double noise = 0.2;                   // noisy_expert: chance of executing a random action
  // noisy_expert: chance of executing the previous action again instead (checked first; a
  // typical model mistake, usually invalid — household answers "Nothing happens."), so the
  // model also learns what to do after a failed action.
  double repeat_noise = 0.0;
  // noisy_expert: chance of executing a corrupted copy of the expert's command instead (checked
  // after repeat_noise): one of its numbers replaced so that the command is not admissible —
  // the copy error small models make ("go to drawer 7" where there are four drawers). The env
  // answers "Nothing happens." and the next state's label is the expert's command again, so
  // the model learns not to repeat a failed command. Commands without a number are executed
  // as they are.
  double invalid_noise = 0.0;
  // noisy_expert: relative weights of the random action by command prefix ({"open ": 6}: an
  // "open ..." action is 6 times as likely as any other); unlisted prefixes weigh 1. Lets the
  // noise reach the states a model gets into (household: a wrong container opened).
  std::map<std::string, double> noise_weights;
  int64_t max_turns = 0;                // 0 = the env's limit
  uint64_t seed = 0;
};

struct DemoStats {
  int64_t episodes = 0;
  int64_t successes = 0;       // episodes the (noisy) behaviour still won
  int64_t states = 0;          // demonstrations returned
  int64_t random_actions = 0;  // executed actions that were not the label
  int64_t repeated_actions = 0;  // of those, repetitions of the previous action
  int64_t corrupted_actions = 0;  // of those, corrupted expert commands (invalid_noise)
};

// `command` with one of its numbers (a whole-word run of digits, chosen uniformly) replaced by
// another number in [1, max(9, largest number in `admissible` + 2)] such that the result is
// not in `admissible`; nullopt when the command has no number or no such replacement exists.
std::optional<std::string> CorruptCommand(const std::string& command, const std::vector<std::string>& admissible,
                                          Rng& rng);

// Plays options.episodes episodes on tasks "<split>/<i mod size>" (i = 0..episodes-1, reset seed
// i) and returns one Demonstration per visited state. Deterministic given the options. Throws
// NotFound for an unknown env, policy or split, FailedPrecondition when the env has no expert.
std::vector<Demonstration> CollectDemonstrations(const DemoCollectionOptions& options,
                                                 DemoStats* stats = nullptr);

// The short reasoning placed in <think></think> for a label, kept to a few tokens (CPU generation
// is slow). `style`:
//   "task"  "My task: <task>." — restating the goal right before the action lets a small model
//           copy the object and receptacle names from a few tokens back instead of hundreds
//           (falls back to "verb" when the task is empty);
//   "verb"  a fixed phrase per command verb ("go to" -> "The next thing I need is elsewhere.");
//   "observe" "My task: <task>. Now: <observation>" — the goal and the current observation
//           (one line; not on the first turn, whose observation is the room) so that the
//           numbers of the next command are copied from a few tokens back;
//   "last_line" the observation's last line (frozenlake's `describe` line): the words the
//           action depends on, restated right before it — with any action, so it teaches
//           reading, not choosing;
//   "none"  empty.
// Throws InvalidArgument for another style.
std::string ThinkText(const std::string& style, const std::string& task, const std::string& action,
                      const std::string& observation = "");
const std::vector<std::string>& ThinkStyles();
// "<think>" + think + "</think><action>" + action + "</action>".
std::string TargetResponse(const std::string& think, const std::string& action);

// One training example in the lm policy's exact token layout. Steps layout: one turn — the
// prompt ids of one state and the target ids (ending in <|im_end|>). Episode layout: a whole
// demonstration episode as the policy's growing sequence (agents/episode_tokens.h); a turn
// whose executed action was not the label (noise) stays in the sequence as what happened but is
// no target (`trained` 0), so the model learns the expert's answer to the state noise led to.
// Where a response's action begins, and which tokens may begin it: the first token at which the
// target of the label and the targets of the other admissible actions differ (the text before —
// tags, think — is the same for all of them).
struct ActionChoice {
  int64_t position = -1;        // index into the turn's response; -1: no choice (label target)
  std::vector<int32_t> tokens;  // the distinct tokens admissible actions begin with there
};

struct SftExample {
  EpisodeTokens turns;
  std::vector<uint8_t> trained;  // per turn: its response is a target
  // Per turn (empty: none). With `train.action_target: "admissible"` the loss at a turn's choice
  // position is -log of the probability of the whole set — the model learns to answer with some
  // admissible action, and nothing about which one.
  std::vector<ActionChoice> choices;

  // A one-turn example (steps layout).
  static SftExample Turn(std::vector<int32_t> prompt, std::vector<int32_t> response);
  int64_t length() const { return EpisodeLength(turns); }
};
SftExample MakeSftExample(const Tokenizer& tokenizer, const Demonstration& demo,
                          const PromptOptions& prompt_options, const std::string& think_style = "task",
                          bool action_choice = false);
// The ActionChoice of a target response `response` (token ids of the target of `label`) against
// the targets of every action in `admissible`; position -1 when they do not share one divergence
// point (e.g. a think text that depends on the action) or when only one action is admissible.
ActionChoice FindActionChoice(const Tokenizer& tokenizer, const std::vector<int32_t>& response,
                              const std::string& label, const Demonstration& demo, const std::string& think_style);
// The episode layout's example of one demonstration episode (its states in order): turn 0's
// context is the first prompt, later turns' the follow-up messages (BuildTurnContext), each
// response the target text of the executed action with <|im_end|>.
SftExample MakeEpisodeSftExample(const Tokenizer& tokenizer, const std::vector<const Demonstration*>& episode,
                                 const PromptOptions& prompt_options, const std::string& think_style = "task",
                                 bool action_choice = false);

// Every example of `demos` in `layout` ("steps": one per state; "episode": one per
// demonstration episode, states grouped by Demonstration::episode in order). `action_choice`
// fills SftExample::choices (train.action_target "admissible").
std::vector<SftExample> BuildSftExamples(const Tokenizer& tokenizer, const std::vector<Demonstration>& demos,
                                         const PromptOptions& prompt_options, const std::string& think_style,
                                         const std::string& layout, bool action_choice = false);

// The whole text of a row (ChatML rendering of prompt + response), used as tokenizer corpus.
std::string DemonstrationText(const Demonstration& demo, const PromptOptions& prompt_options,
                              const std::string& think_style = "task");

// Trains a byte-level BPE (special tokens <|endoftext|>, <|im_start|>, <|im_end|>) on the text
// of `demos` (at most `max_documents`, spread evenly). Throws InvalidArgument for a bad size.
Tokenizer TrainDemoTokenizer(const std::vector<Demonstration>& demos,
                             const PromptOptions& prompt_options, int32_t vocab_size,
                             const std::string& pattern, int64_t max_documents,
                             const std::string& think_style = "task");

// Minibatches of row indices whose padded size (rows x longest row) stays within
// `token_budget` (a row longer than the budget forms a batch alone). Rows are shuffled with
// `rng`, then sorted by length inside windows of 32 rows to limit padding, then packed; batch
// order is shuffled again. Every index appears exactly once.
std::vector<std::vector<size_t>> TokenBudgetBatches(const std::vector<int64_t>& lengths,
                                                    int64_t token_budget, Rng& rng);

// Linear warm-up over `warmup` steps to `lr`, then cosine decay to `min_lr` at `total` steps.
// `step` is 0-based (the step about to be taken).
double CosineLearningRate(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr);

struct SftResult {
  int64_t steps = 0;
  int64_t parameters = 0;
  int64_t demonstrations = 0;
  int64_t train_tokens = 0;       // prompt + response tokens processed (all epochs)
  double first_loss = 0;          // mean loss of the first logging interval
  double final_loss = 0;          // mean loss of the last logging interval
  std::vector<double> losses;     // per step
  double train_seconds = 0;
  double total_seconds = 0;
  std::string final_checkpoint;   // "<out_dir>/final"
  bool evaluated = false;
  EvalResult eval;
};

// Runs the whole pipeline for `config` (validated here against SftConfigSchema(); ConfigError
// names the key path). Progress (loss, learning rate, tokens/s) goes to `log` as plain lines.
// Throws turnwise::Error subclasses for expected failures (bad config, unreadable tokenizer,
// unwritable out_dir); LibTorch errors inside a step are rethrown as InvalidArgument.
SftResult RunSft(const Json& config, std::ostream& log);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_SFT_H_
