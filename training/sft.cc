#include "training/sft.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <numbers>
#include <set>
#include <tuple>

#include "agents/bpe_trainer.h"
#include "agents/chat_template.h"
#include "agents/generation.h"
#include "agents/lm_policy.h"
#include "agents/model_config.h"
#include "agents/safetensors.h"
#include "agents/tokenizer.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "core/text.h"
#include "envs/episode_runner.h"
#include "envs/registry.h"
#include "storage/store.h"
#include "training/checkpoint.h"
#include "training/sft_loss.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

double Now() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string Sci(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2e", v);
  return buf;
}

ConfigSchema BuildSchema() {
  ConfigSchema s;
  s.Add({.path = "seed", .type = FieldType::kInt, .default_value = 0,
         .help = "seed of demonstrations, init, batching and evaluation", .min = 0.0});
  s.Add({.path = "out_dir", .type = FieldType::kString, .default_value = "runs/sft",
         .help = "checkpoints go to <out_dir>/checkpoint-<step> and <out_dir>/final"});
  s.Add({.path = "threads", .type = FieldType::kInt, .default_value = 2,
         .help = "LibTorch intra-op threads for training and evaluation", .min = 1.0});
  s.Add({.path = "env.name", .type = FieldType::kString, .default_value = "household",
         .help = "registered environment"});
  s.Add({.path = "env.config", .type = FieldType::kOpen, .default_value = Json::object(),
         .help = "the environment's own config"});
  s.Add({.path = "data.split", .type = FieldType::kString, .default_value = "train",
         .help = "split the demonstrations come from"});
  s.Add({.path = "data.episodes", .type = FieldType::kInt, .default_value = 500,
         .help = "demonstration episodes", .min = 1.0});
  s.Add({.path = "data.policy", .type = FieldType::kString, .default_value = "noisy_expert",
         .help = "behaviour policy: expert, noisy_expert (labels are the expert's), or random (labels are its own "
                 "uniformly random actions: the format without the task)",
         .choices = {"expert", "noisy_expert", "random"}});
  s.Add({.path = "data.noise", .type = FieldType::kNumber, .default_value = 0.2,
         .help = "noisy_expert: chance of executing a random admissible action", .min = 0.0,
         .max = 1.0});
  s.Add({.path = "data.repeat_noise", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "noisy_expert: chance of repeating the previous action (learn to recover from "
                 "failed actions)", .min = 0.0, .max = 1.0});
  s.Add({.path = "data.invalid_noise", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "noisy_expert: chance of executing the expert's command with one number changed so that it "
                 "is not admissible (learn to recover from copy errors)", .min = 0.0, .max = 1.0});
  s.Add({.path = "data.noise_weights", .type = FieldType::kOpen, .default_value = Json::object(),
         .help = "noisy_expert: weight of random actions by command prefix, e.g. {\"open \": 6}"});
  s.Add({.path = "data.max_turns", .type = FieldType::kInt, .default_value = 0,
         .help = "turns per demonstration episode; 0 = the env's limit", .min = 0.0});
  s.Add({.path = "data.think", .type = FieldType::kString, .default_value = "task",
         .help = "the <think> text of targets: task (restate the goal), verb (a phrase per "
                 "command), observe (the goal and the current observation restated), last_line (the "
                 "observation's last line restated), none",
         .choices = ThinkStyles()});
  s.Add({.path = "prompt.history_length", .type = FieldType::kInt, .default_value = 2,
         .help = "turns of history in each prompt (k, 0 none, -1 all)", .min = -1.0});
  s.Add({.path = "prompt.layout", .type = FieldType::kString, .default_value = "steps",
         .help = "steps: one example per state (verl-agent's rows); episode: one example per demonstration "
                 "episode, the lm policy's growing sequence (match the RL run's rollout.layout)",
         .choices = {"steps", "episode"}});
  s.Add({.path = "prompt.restate_task", .type = FieldType::kBool, .default_value = false,
         .help = "repeat the task after the admissible actions, a few tokens before the response"});
  s.Add({.path = "prompt.compact", .type = FieldType::kBool, .default_value = false,
         .help = "the observation and admissible actions only, no system message or instructions (match the "
                 "RL run's rollout.compact_prompt)"});
  s.Add({.path = "tokenizer.path", .type = FieldType::kString, .default_value = "",
         .help = "tokenizer.json to use; empty = train a BPE on the demonstrations"});
  s.Add({.path = "tokenizer.vocab_size", .type = FieldType::kInt, .default_value = 3000,
         .help = "size of the trained tokenizer (specials + 256 bytes + merges)", .min = 259.0});
  s.Add({.path = "tokenizer.pattern", .type = FieldType::kString, .default_value = "gpt2",
         .help = "pre-tokenizer split pattern of the trained tokenizer",
         .choices = {"gpt2", "qwen2"}});
  s.Add({.path = "tokenizer.max_documents", .type = FieldType::kInt, .default_value = 4000,
         .help = "demonstrations the tokenizer is trained on at most", .min = 1.0});
  s.Add({.path = "model.preset", .type = FieldType::kString, .default_value = "small",
         .help = "architecture preset", .choices = ModelConfig::PresetNames()});
  s.Add({.path = "model.overrides", .type = FieldType::kOpen, .default_value = Json::object(),
         .help = "config.json fields replacing the preset's (num_hidden_layers, hidden_size, ...)"});
  s.Add({.path = "model.init_from", .type = FieldType::kString, .default_value = "",
         .help = "start from this model folder instead of a fresh preset (its tokenizer is used)"});
  s.Add({.path = "model.max_shard_size", .type = FieldType::kString, .default_value = "5GB",
         .help = "largest safetensors shard of a checkpoint (\"0\" = never shard)"});
  s.Add({.path = "train.steps", .type = FieldType::kInt, .default_value = 0,
         .help = "optimizer steps; 0 = train.epochs over the demonstrations", .min = 0.0});
  s.Add({.path = "train.epochs", .type = FieldType::kNumber, .default_value = 1.0,
         .help = "passes over the demonstrations when train.steps is 0", .min = 0.0});
  s.Add({.path = "train.batch_tokens", .type = FieldType::kInt, .default_value = 8192,
         .help = "padded tokens per minibatch at most", .min = 1.0});
  s.Add({.path = "train.lr", .type = FieldType::kNumber, .default_value = 1e-3,
         .help = "peak learning rate", .min = 0.0});
  s.Add({.path = "train.min_lr", .type = FieldType::kNumber, .default_value = 1e-4,
         .help = "learning rate at the end of the cosine decay", .min = 0.0});
  s.Add({.path = "train.warmup_steps", .type = FieldType::kInt, .default_value = 30,
         .help = "linear warm-up steps", .min = 0.0});
  s.Add({.path = "train.weight_decay", .type = FieldType::kNumber, .default_value = 0.01,
         .help = "AdamW decoupled weight decay", .min = 0.0});
  s.Add({.path = "train.beta1", .type = FieldType::kNumber, .default_value = 0.9,
         .help = "AdamW beta1", .min = 0.0, .max = 1.0});
  s.Add({.path = "train.beta2", .type = FieldType::kNumber, .default_value = 0.95,
         .help = "AdamW beta2", .min = 0.0, .max = 1.0});
  s.Add({.path = "train.prompt_loss_weight", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "weight of an auxiliary language-modelling loss on the prompt tokens (0 = "
                 "response tokens only); the logged loss stays the response NLL",
         .min = 0.0});
  s.Add({.path = "train.action_target", .type = FieldType::kString, .default_value = "label",
         .help = "label: the action's tokens are trained toward the demonstration's action; admissible: the "
                 "token where actions begin is trained toward the set of admissible actions (the response "
                 "format without a preference among actions — with data.policy random, a start that "
                 "has not learnt to ignore the observation)",
         .choices = {"label", "admissible"}});
  s.Add({.path = "train.action_label_weight", .type = FieldType::kNumber, .default_value = 0.1,
         .help = "action_target admissible: weight of the label's own log-probability at the choice token (the "
                 "rest on the admissible set); a little keeps the start's choice near the behaviour policy's",
         .min = 0.0, .max = 1.0});
  s.Add({.path = "train.action_balance_weight", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "action_target admissible: weight of a term pulling the batch's average choice among the "
                 "admissible actions toward even, leaving each state's own choice free (use with label weight 0)",
         .min = 0.0});
  s.Add({.path = "train.grad_clip", .type = FieldType::kNumber, .default_value = 1.0,
         .help = "gradient norm clip; 0 = off", .min = 0.0});
  s.Add({.path = "train.log_every", .type = FieldType::kInt, .default_value = 10,
         .help = "steps between progress lines", .min = 1.0});
  s.Add({.path = "train.checkpoint_every", .type = FieldType::kInt, .default_value = 0,
         .help = "steps between checkpoints; 0 = only the final one", .min = 0.0});
  s.Add({.path = "train.max_seconds", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "stop training after this wall time (the schedule is not stretched); 0 = off",
         .min = 0.0});
  s.Add({.path = "eval.enabled", .type = FieldType::kBool, .default_value = true,
         .help = "evaluate the final model with the lm policy (eval.temperature)"});
  s.Add({.path = "eval.split", .type = FieldType::kString, .default_value = "valid_seen",
         .help = "held-out split"});
  s.Add({.path = "eval.episodes", .type = FieldType::kInt, .default_value = 0,
         .help = "episodes; 0 = every task of the split", .min = 0.0});
  s.Add({.path = "eval.max_turns", .type = FieldType::kInt, .default_value = 0,
         .help = "turns per episode; 0 = the env's limit", .min = 0.0});
  s.Add({.path = "eval.batch_size", .type = FieldType::kInt, .default_value = 64,
         .help = "episodes in flight (one batched generation per turn); 0 = all", .min = 0.0});
  s.Add({.path = "eval.temperature", .type = FieldType::kNumber, .default_value = 0.0,
         .help = "sampling temperature of the evaluation (0 = greedy; verl-agent validates "
                 "ALFWorld sampling at 0.4)", .min = 0.0});
  s.Add({.path = "eval.max_new_tokens", .type = FieldType::kInt, .default_value = 48,
         .help = "tokens generated per turn at most", .min = 1.0});
  s.Add({.path = "store.db", .type = FieldType::kString, .default_value = "",
         .help = "trajectory store for metrics and eval episodes; empty = none"});
  s.Add({.path = "store.name", .type = FieldType::kString, .default_value = "",
         .help = "run name in the store"});
  return s;
}

void CheckSplit(const EnvSpec& spec, const std::string& split, const std::string& key) {
  if (spec.splits.count(split)) return;
  std::vector<std::string> known;
  for (const auto& [name, n] : spec.splits) known.push_back(name);
  throw ConfigError(key, UnknownNameMessage("split", split, known));
}

// A random admissible action, weighted by the first matching prefix of `weights` (else 1).
std::string RandomAction(const std::vector<std::string>& actions,
                         const std::map<std::string, double>& weights, Rng& rng) {
  if (weights.empty()) return actions[rng.Uniform(actions.size())];
  std::vector<double> cumulative;
  double total = 0;
  for (const std::string& a : actions) {
    double w = 1.0;
    for (const auto& [prefix, weight] : weights) {
      if (StartsWith(a, prefix)) {
        w = weight;
        break;
      }
    }
    total += std::max(0.0, w);
    cumulative.push_back(total);
  }
  if (total <= 0) return actions[rng.Uniform(actions.size())];
  const double u = rng.UniformDouble() * total;
  for (size_t i = 0; i < actions.size(); ++i) {
    if (u < cumulative[i]) return actions[i];
  }
  return actions.back();
}

PolicyInput InputOf(const Demonstration& demo, StepResult* step) {
  step->observation.text = demo.observation;
  step->admissible_actions = demo.admissible;
  PolicyInput in;
  in.env_name = demo.env_name;
  in.task = demo.task;
  in.history = demo.history;
  in.step = step;
  return in;
}

}  // namespace

const ConfigSchema& SftConfigSchema() {
  static const ConfigSchema kSchema = BuildSchema();
  return kSchema;
}

std::optional<std::string> CorruptCommand(const std::string& command, const std::vector<std::string>& admissible,
                                          Rng& rng) {
  // Whole-word digit runs: [start, end) of each.
  auto numbers = [](const std::string& text) {
    std::vector<std::pair<size_t, size_t>> out;
    for (size_t i = 0; i < text.size();) {
      if (std::isdigit(static_cast<unsigned char>(text[i])) && (i == 0 || text[i - 1] == ' ')) {
        size_t j = i;
        while (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) ++j;
        if (j == text.size() || text[j] == ' ') out.emplace_back(i, j);
        i = j;
      } else {
        ++i;
      }
    }
    return out;
  };
  const auto spans = numbers(command);
  if (spans.empty()) return std::nullopt;
  int64_t largest = 0;
  for (const std::string& a : admissible) {
    for (const auto& [b, e] : numbers(a)) {
      if (e - b <= 6) largest = std::max<int64_t>(largest, std::stoll(a.substr(b, e - b)));
    }
  }
  const std::set<std::string> allowed(admissible.begin(), admissible.end());
  const auto [b, e] = spans[rng.Uniform(spans.size())];
  std::vector<std::string> candidates;
  const int64_t top = std::max<int64_t>(9, largest + 2);
  for (int64_t n = 1; n <= top; ++n) {
    std::string c = command.substr(0, b) + std::to_string(n) + command.substr(e);
    if (c != command && !allowed.count(c)) candidates.push_back(std::move(c));
  }
  if (candidates.empty()) return std::nullopt;
  return candidates[rng.Uniform(candidates.size())];
}

std::vector<Demonstration> CollectDemonstrations(const DemoCollectionOptions& o, DemoStats* stats) {
  if (o.policy != "expert" && o.policy != "noisy_expert" && o.policy != "random") {
    throw NotFound(UnknownNameMessage("demonstration policy", o.policy, {"expert", "noisy_expert", "random"}));
  }
  const bool random_policy = o.policy == "random";
  std::unique_ptr<Env> env = EnvRegistry::Make(o.env, o.env_config);
  const EnvSpec spec = env->Spec();
  auto split = spec.splits.find(o.split);
  if (split == spec.splits.end() || split->second <= 0) {
    std::vector<std::string> known;
    for (const auto& [name, n] : spec.splits) known.push_back(name);
    throw NotFound(UnknownNameMessage("split of " + o.env, o.split, known));
  }
  const double noise = o.policy == "noisy_expert" ? o.noise : 0.0;
  const double repeat_noise = o.policy == "noisy_expert" ? o.repeat_noise : 0.0;
  const double invalid_noise = o.policy == "noisy_expert" ? o.invalid_noise : 0.0;
  DemoStats local;
  std::vector<Demonstration> demos;
  RngStreams streams(o.seed);
  for (int64_t i = 0; i < o.episodes; ++i) {
    Rng rng = streams.Stream("sft/demo", static_cast<uint64_t>(i));
    const std::string task_id = o.split + "/" + std::to_string(i % split->second);
    StepResult last = env->Reset({.seed = static_cast<uint64_t>(i), .task_id = task_id, .split = o.split});
    const std::string task = ExtractTask(last.observation.text);
    const std::string task_type = env->TaskType();
    std::vector<HistoryEntry> history;
    int64_t turns = 0;
    while (!last.done() && (o.max_turns <= 0 || turns < o.max_turns)) {
      std::optional<std::string> label;
      if (random_policy) {
        if (last.admissible_actions.empty()) {
          throw FailedPrecondition("the random demonstration policy needs admissible actions; '" + o.env +
                                   "' lists none for " + task_id);
        }
        label = last.admissible_actions[rng.Uniform(last.admissible_actions.size())];
      } else {
        label = env->ExpertAction();
      }
      if (!label) {
        throw FailedPrecondition("environment '" + o.env + "' has no scripted expert for " + task_id);
      }
      Demonstration d;
      d.env_name = o.env;
      d.task = task;
      d.task_type = task_type;
      d.history = history;
      d.observation = last.observation.text;
      d.admissible = last.admissible_actions;
      d.action = *label;
      std::string executed = *label;
      std::optional<std::string> corrupted;
      if (repeat_noise > 0 && !history.empty() && rng.Bernoulli(repeat_noise)) {
        executed = history.back().action;
        local.repeated_actions += executed != *label;
      } else if (invalid_noise > 0 && rng.Bernoulli(invalid_noise) &&
                 (corrupted = CorruptCommand(*label, last.admissible_actions, rng))) {
        executed = *corrupted;
        ++local.corrupted_actions;
      } else if (noise > 0 && rng.Bernoulli(noise) && !last.admissible_actions.empty()) {
        executed = RandomAction(last.admissible_actions, o.noise_weights, rng);
      }
      local.random_actions += executed != *label;
      d.executed = executed;
      d.episode = i;
      demos.push_back(std::move(d));
      history.push_back({last.observation.text, executed});
      last = env->Step(executed);
      ++turns;
    }
    local.episodes++;
    local.successes += last.info.value("won", false);
  }
  local.states = static_cast<int64_t>(demos.size());
  if (stats) *stats = local;
  return demos;
}

const std::vector<std::string>& ThinkStyles() {
  static const std::vector<std::string> kStyles = {"task", "verb", "observe", "last_line", "none"};
  return kStyles;
}

std::string ThinkText(const std::string& style, const std::string& task, const std::string& action,
                      const std::string& observation) {
  if (style == "none") return "";
  if (style == "last_line") {
    // The observation's last line restated (frozenlake's `describe` line, say): what the action
    // depends on, a few tokens before it, whatever the action is.
    const std::string_view text = Trim(observation);
    const size_t newline = text.find_last_of('\n');
    return std::string(Trim(newline == std::string_view::npos ? text : text.substr(newline + 1)));
  }
  if (style == "observe") {
    // The goal, then the current observation restated (one line): a small model copies the
    // receptacle and object numbers from its own reasoning, a few tokens back, instead of
    // finding them in a long prompt. The first observation (the room and the goal) is not
    // restated.
    std::string think = task.empty() ? std::string() : "My task: " + task + ".";
    std::string now(Trim(observation));
    if (now.empty() || now.find("Your task is to:") != std::string::npos) return think;
    for (char& c : now) {
      if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    }
    return think.empty() ? "Now: " + now : think + " Now: " + now;
  }
  if (style == "task" && !task.empty()) return "My task: " + task + ".";
  if (style != "task" && style != "verb") {
    throw InvalidArgument(UnknownNameMessage("think style", style, ThinkStyles()));
  }
  auto starts = [&](const char* prefix) { return StartsWith(action, prefix); };
  if (starts("go to ")) return "The next thing I need is elsewhere.";
  if (starts("open ")) return "It is closed; open it.";
  if (starts("take ")) return "Pick it up.";
  if (starts("move ") || starts("put ")) return "Put it here.";
  if (starts("clean ")) return "Clean it here.";
  if (starts("heat ")) return "Heat it here.";
  if (starts("cool ")) return "Cool it here.";
  if (starts("use ")) return "Turn on the light.";
  if (starts("close ")) return "Close it.";
  return "Look around.";
}

std::string TargetResponse(const std::string& think, const std::string& action) {
  return "<think>" + think + "</think><action>" + action + "</action>";
}

SftExample SftExample::Turn(std::vector<int32_t> prompt, std::vector<int32_t> response) {
  SftExample e;
  e.turns.push_back({std::move(prompt), std::move(response)});
  e.trained = {1};
  return e;
}

ActionChoice FindActionChoice(const Tokenizer& tokenizer, const std::vector<int32_t>& response,
                              const std::string& label, const Demonstration& demo, const std::string& think_style) {
  ActionChoice choice;
  std::set<int32_t> tokens;
  for (const std::string& action : demo.admissible) {
    if (action == label) continue;
    const std::vector<int32_t> other = EncodeResponse(
        tokenizer, TargetResponse(ThinkText(think_style, demo.task, action, demo.observation), action), true);
    size_t k = 0;
    while (k < other.size() && k < response.size() && other[k] == response[k]) ++k;
    if (k == other.size() || k == response.size()) return {};
    if (choice.position >= 0 && choice.position != static_cast<int64_t>(k)) return {};
    choice.position = static_cast<int64_t>(k);
    tokens.insert(other[k]);
  }
  if (choice.position < 0) return {};
  tokens.insert(response[static_cast<size_t>(choice.position)]);
  choice.tokens.assign(tokens.begin(), tokens.end());
  return choice;
}

SftExample MakeSftExample(const Tokenizer& tokenizer, const Demonstration& demo,
                          const PromptOptions& prompt_options, const std::string& think_style,
                          bool action_choice) {
  StepResult step;
  SftExample e = SftExample::Turn(
      BuildPromptTokens(tokenizer, InputOf(demo, &step), prompt_options),
      EncodeResponse(tokenizer,
                     TargetResponse(ThinkText(think_style, demo.task, demo.action, demo.observation), demo.action),
                     /*end_turn=*/true));
  if (action_choice) {
    e.choices.push_back(FindActionChoice(tokenizer, e.turns[0].response, demo.action, demo, think_style));
  }
  return e;
}

SftExample MakeEpisodeSftExample(const Tokenizer& tokenizer, const std::vector<const Demonstration*>& episode,
                                 const PromptOptions& prompt_options, const std::string& think_style,
                                 bool action_choice) {
  SftExample e;
  std::vector<int32_t> previous;
  for (const Demonstration* demo : episode) {
    StepResult step;
    std::string message;
    TurnTokens turn;
    turn.context = BuildTurnContext(tokenizer, InputOf(*demo, &step), prompt_options, previous, &message);
    const std::string& done = demo->executed.empty() ? demo->action : demo->executed;
    turn.response = EncodeResponse(
        tokenizer, TargetResponse(ThinkText(think_style, demo->task, done, demo->observation), done), true);
    previous = turn.response;
    if (action_choice) e.choices.push_back(FindActionChoice(tokenizer, turn.response, done, *demo, think_style));
    e.turns.push_back(std::move(turn));
    e.trained.push_back(done == demo->action ? 1 : 0);
  }
  return e;
}

std::string DemonstrationText(const Demonstration& demo, const PromptOptions& prompt_options,
                              const std::string& think_style) {
  StepResult step;
  const std::string user = RenderUserPrompt(InputOf(demo, &step), prompt_options);
  std::vector<ChatMessage> messages;
  if (!prompt_options.compact) messages.push_back({"system", LmSystemMessage()});
  messages.push_back({"user", user});
  return RenderChatML(messages, true) +
         TargetResponse(ThinkText(think_style, demo.task, demo.action, demo.observation), demo.action) +
         std::string(kChatMLEnd) + "\n";
}

Tokenizer TrainDemoTokenizer(const std::vector<Demonstration>& demos,
                             const PromptOptions& prompt_options, int32_t vocab_size,
                             const std::string& pattern, int64_t max_documents,
                             const std::string& think_style) {
  BpeTrainerOptions o;
  o.vocab_size = vocab_size;
  o.special_tokens = {"<|endoftext|>", std::string(kChatMLStart), std::string(kChatMLEnd)};
  o.min_frequency = 2;
  if (pattern == "gpt2") {
    o.pattern = PreTokenizerPattern::kGpt2;
  } else if (pattern == "qwen2") {
    o.pattern = PreTokenizerPattern::kQwen2;
  } else {
    throw InvalidArgument(UnknownNameMessage("tokenizer pattern", pattern, {"gpt2", "qwen2"}));
  }
  std::vector<std::string> docs;
  const size_t n = demos.size();
  const size_t take = std::min<size_t>(n, static_cast<size_t>(std::max<int64_t>(1, max_documents)));
  for (size_t k = 0; k < take; ++k) {
    docs.push_back(DemonstrationText(demos[k * n / take], prompt_options, think_style));
  }
  return TrainBpeTokenizerOnTexts(docs, o);
}

std::vector<std::vector<size_t>> TokenBudgetBatches(const std::vector<int64_t>& lengths,
                                                    int64_t token_budget, Rng& rng) {
  std::vector<size_t> order(lengths.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  rng.Shuffle(order);
  constexpr size_t kWindow = 32;
  for (size_t w = 0; w < order.size(); w += kWindow) {
    auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), w + kWindow));
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(w), end,
                     [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  }
  std::vector<std::vector<size_t>> batches;
  std::vector<size_t> current;
  int64_t longest = 0;
  for (size_t idx : order) {
    const int64_t len = std::max<int64_t>(1, lengths[idx]);
    const int64_t longer = std::max(longest, len);
    if (!current.empty() && longer * static_cast<int64_t>(current.size() + 1) > token_budget) {
      batches.push_back(std::move(current));
      current.clear();
      longest = 0;
    }
    current.push_back(idx);
    longest = std::max(longest, len);
  }
  if (!current.empty()) batches.push_back(std::move(current));
  rng.Shuffle(batches);
  return batches;
}

double CosineLearningRate(int64_t step, int64_t total, int64_t warmup, double lr, double min_lr) {
  if (warmup > 0 && step < warmup) return lr * double(step + 1) / double(warmup);
  const int64_t decay = std::max<int64_t>(1, total - warmup);
  const double progress = std::clamp(double(step - warmup) / double(decay), 0.0, 1.0);
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

namespace {

bool HasChoices(const std::vector<const SftExample*>& batch) {
  for (const SftExample* e : batch) {
    for (const ActionChoice& c : e->choices) {
      if (c.position >= 0) return true;
    }
  }
  return false;
}

// Teacher-forced response NLL from ScoreEpisodes (no prompt term, no choices).
SftBatchLoss ResponseOnlyLoss(TransformerLMImpl& model, const std::vector<const SftExample*>& batch, int64_t total) {
  std::vector<const EpisodeTokens*> episodes;
  std::vector<float> trained;
  for (const SftExample* e : batch) {
    episodes.push_back(&e->turns);
    for (size_t t = 0; t < e->turns.size(); ++t) trained.push_back(t < e->trained.size() ? e->trained[t] : 1);
  }
  TokenScores scores = ScoreEpisodes(model, episodes);
  at::Tensor mask = scores.mask * at::tensor(trained, at::TensorOptions().dtype(at::kFloat))
                                      .view({-1, 1})
                                      .to(scores.mask.device());
  at::Tensor count = mask.sum();
  const int64_t n = static_cast<int64_t>(count.item<float>());
  at::Tensor loss = -(scores.logprobs * mask).sum() / count.clamp_min(1.0);
  return {loss, loss.item<double>(), n, total};
}

// The padded batch of the full-logits loss: one right-padded sequence per example; position t
// predicts token t+1, weighted as a response token when that token belongs to a trained response,
// as a prompt token when it is context, 0 otherwise (padding, untrained responses). A trained
// turn's choice position adds a row to `choice_at` (flat index of the predicting position) and
// its token set to `choice_tokens` (padded with -1 to `choice_width`).
struct PaddedSftBatch {
  int64_t rows = 0, len = 0;
  std::vector<int64_t> ids, targets;
  std::vector<float> is_response, is_prompt;
  std::vector<int64_t> choice_at;
  std::vector<std::vector<int32_t>> choice_tokens;
};

PaddedSftBatch PadSftBatch(const std::vector<const SftExample*>& batch) {
  PaddedSftBatch p;
  p.rows = static_cast<int64_t>(batch.size());
  for (const SftExample* e : batch) p.len = std::max(p.len, e->length());
  p.ids.assign(static_cast<size_t>(p.rows * p.len), 0);
  p.targets.assign(static_cast<size_t>(p.rows * (p.len - 1)), 0);
  p.is_response.assign(p.targets.size(), 0.f);
  p.is_prompt.assign(p.targets.size(), 0.f);
  for (int64_t r = 0; r < p.rows; ++r) {
    const SftExample& e = *batch[static_cast<size_t>(r)];
    int64_t t = 0;
    auto put = [&](int32_t id, std::vector<float>* weight) {
      p.ids[static_cast<size_t>(r * p.len + t)] = id;
      if (t > 0) {
        const size_t k = static_cast<size_t>(r * (p.len - 1) + t - 1);
        p.targets[k] = id;
        if (weight) (*weight)[k] = 1.f;
      }
      ++t;
    };
    for (size_t turn = 0; turn < e.turns.size(); ++turn) {
      const bool trained = turn >= e.trained.size() || e.trained[turn];
      for (int32_t id : e.turns[turn].context) put(id, &p.is_prompt);
      const int64_t choice = trained && turn < e.choices.size() ? e.choices[turn].position : -1;
      for (size_t i = 0; i < e.turns[turn].response.size(); ++i) {
        if (static_cast<int64_t>(i) == choice && t > 0) {
          p.choice_at.push_back(r * (p.len - 1) + t - 1);
          p.choice_tokens.push_back(e.choices[turn].tokens);
        }
        put(e.turns[turn].response[i], trained ? &p.is_response : nullptr);
      }
    }
  }
  return p;
}

// The log-probabilities of each choice position's tokens, [n choices, widest choice], -inf where
// a choice has fewer tokens; `all` is [B, len-1, V].
at::Tensor ChoiceTokenLogProbs(const at::Tensor& all, const PaddedSftBatch& p) {
  size_t width = 0;
  for (const auto& c : p.choice_tokens) width = std::max(width, c.size());
  const auto n = static_cast<int64_t>(p.choice_at.size());
  std::vector<int64_t> tokens(static_cast<size_t>(n) * width, 0);
  std::vector<uint8_t> pad(tokens.size(), 1);
  for (size_t i = 0; i < p.choice_tokens.size(); ++i) {
    for (size_t j = 0; j < p.choice_tokens[i].size(); ++j) {
      tokens[i * width + j] = p.choice_tokens[i][j];
      pad[i * width + j] = 0;
    }
  }
  const at::Device dev = all.device();
  const auto w = static_cast<int64_t>(width);
  at::Tensor at_t = at::tensor(p.choice_at, at::TensorOptions().dtype(at::kLong)).to(dev);
  at::Tensor tok_t = at::tensor(tokens, at::TensorOptions().dtype(at::kLong)).view({n, w}).to(dev);
  at::Tensor pad_t = at::tensor(pad, at::TensorOptions().dtype(at::kByte)).to(at::kBool).view({n, w}).to(dev);
  return all.reshape({p.rows * (p.len - 1), -1})
      .index_select(0, at_t)
      .gather(-1, tok_t)
      .masked_fill(pad_t, -std::numeric_limits<float>::infinity());
}

// `logp` ([B, len-1], the targets' log-probabilities) with each choice position's entry replaced
// by (1 - label_weight) * log sum_c p(c) + label_weight * (the label's own).
at::Tensor WithChoiceTargets(const at::Tensor& choice_logp, const at::Tensor& logp, const PaddedSftBatch& p,
                             double label_weight) {
  at::Tensor at_t = at::tensor(p.choice_at, at::TensorOptions().dtype(at::kLong)).to(logp.device());
  at::Tensor flat = logp.reshape({-1});
  at::Tensor label_logp = flat.index_select(0, at_t);
  return flat.index_put({at_t}, (1.0 - label_weight) * choice_logp.logsumexp(-1) + label_weight * label_logp)
      .view(logp.sizes());
}

// SftLoss's balance term: per group of choice positions offering the same tokens,
// -mean_c log q̄(c) - log |choice| with q̄ the group's mean distribution within the choice,
// weighted by the group's share of the positions.
at::Tensor ChoiceBalance(const at::Tensor& choice_logp, const PaddedSftBatch& p) {
  std::map<std::vector<int32_t>, std::vector<int64_t>> same_tokens;
  for (size_t i = 0; i < p.choice_tokens.size(); ++i) same_tokens[p.choice_tokens[i]].push_back(static_cast<int64_t>(i));
  const double n = static_cast<double>(p.choice_tokens.size());
  at::Tensor balance = at::zeros({}, choice_logp.options());
  for (const auto& [choice, rows] : same_tokens) {
    const auto w = static_cast<int64_t>(choice.size());
    if (w < 2) continue;
    at::Tensor index = at::tensor(rows, at::TensorOptions().dtype(at::kLong)).to(choice_logp.device());
    at::Tensor mean_q = choice_logp.index_select(0, index).narrow(1, 0, w).log_softmax(-1).exp().mean(0);
    balance = balance + (-mean_q.log().mean() - std::log(static_cast<double>(w))) * (static_cast<double>(rows.size()) / n);
  }
  return balance;
}

}  // namespace

SftBatchLoss SftLoss(TransformerLMImpl& model, const std::vector<const SftExample*>& batch,
                     double prompt_weight, double label_weight, double balance_weight) {
  int64_t total = 0;
  for (const SftExample* e : batch) total += e->length();
  if (prompt_weight <= 0 && !HasChoices(batch)) return ResponseOnlyLoss(model, batch, total);
  const PaddedSftBatch p = PadSftBatch(batch);
  const int64_t b = p.rows, len = p.len;
  const at::Device dev = model.device();
  auto lopt = at::TensorOptions().dtype(at::kLong);
  auto fopt = at::TensorOptions().dtype(at::kFloat);
  at::Tensor ids_t = at::tensor(p.ids, lopt).view({b, len}).to(dev);
  at::Tensor target_t = at::tensor(p.targets, lopt).view({b, len - 1}).to(dev);
  at::Tensor resp_t = at::tensor(p.is_response, fopt).view({b, len - 1}).to(dev);
  at::Tensor prompt_t = at::tensor(p.is_prompt, fopt).view({b, len - 1}).to(dev);
  // Right padding needs no mask: no real token attends to a later pad.
  at::Tensor hidden = model.ForwardHidden(ids_t).narrow(1, 0, len - 1);
  at::Tensor all = at::log_softmax(model.Logits(hidden).to(at::kFloat), -1);  // [B, len-1, V]
  at::Tensor logp = all.gather(-1, target_t.unsqueeze(-1)).squeeze(-1);    // [B, len-1]
  at::Tensor balance;
  if (!p.choice_at.empty()) {
    const at::Tensor choice_logp = ChoiceTokenLogProbs(all, p);
    logp = WithChoiceTargets(choice_logp, logp, p, label_weight);
    if (balance_weight > 0) balance = ChoiceBalance(choice_logp, p);
  }
  at::Tensor n_resp = resp_t.sum(), n_prompt = prompt_t.sum();
  at::Tensor response_nll = -(logp * resp_t).sum() / n_resp.clamp_min(1.0);
  at::Tensor prompt_nll = -(logp * prompt_t).sum() / n_prompt.clamp_min(1.0);
  at::Tensor loss = response_nll + prompt_weight * prompt_nll;
  if (balance.defined()) loss = loss + balance_weight * balance;
  return {loss, response_nll.item<double>(),
          static_cast<int64_t>(n_resp.item<float>()), total};
}

std::vector<SftExample> BuildSftExamples(const Tokenizer& tokenizer, const std::vector<Demonstration>& demos,
                                         const PromptOptions& prompt_options, const std::string& think_style,
                                         const std::string& layout, bool action_choice) {
  std::vector<SftExample> examples;
  if (layout != "episode") {
    examples.reserve(demos.size());
    for (const Demonstration& d : demos) {
      examples.push_back(MakeSftExample(tokenizer, d, prompt_options, think_style, action_choice));
    }
    return examples;
  }
  std::vector<const Demonstration*> episode;
  for (size_t i = 0; i <= demos.size(); ++i) {
    if (!episode.empty() && (i == demos.size() || demos[i].episode != episode.back()->episode)) {
      examples.push_back(MakeEpisodeSftExample(tokenizer, episode, prompt_options, think_style, action_choice));
      episode.clear();
    }
    if (i < demos.size()) episode.push_back(&demos[i]);
  }
  return examples;
}

SftResult RunSft(const Json& raw_config, std::ostream& log) {
  const Json c = SftConfigSchema().Validate(raw_config);
  const double t_start = Now();
  SftResult result;
  const uint64_t seed = c["seed"].get<uint64_t>();
  const int threads = c["threads"].get<int>();
  at::set_num_threads(threads);
  const std::string out_dir = c["out_dir"].get<std::string>();
  const std::string env_name = c["env"]["name"].get<std::string>();
  const Json env_config = c["env"]["config"];
  const uint64_t max_shard_bytes = ParseByteSize(c["model"]["max_shard_size"].get<std::string>());

  // Fail on a bad env, split or output folder before spending minutes on data and training.
  const EnvSpec spec = EnvRegistry::Make(env_name, env_config)->Spec();
  CheckSplit(spec, c["data"]["split"].get<std::string>(), "data.split");
  if (c["eval"]["enabled"].get<bool>()) CheckSplit(spec, c["eval"]["split"].get<std::string>(), "eval.split");
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw IoError("cannot create out_dir '" + out_dir + "': " + ec.message());
  {
    std::ofstream out(fs::path(out_dir) / "sft_config.json", std::ios::trunc);
    out << DumpJson(c, 2) << "\n";
    if (!out.flush()) throw IoError("cannot write into out_dir '" + out_dir + "'");
  }

  std::unique_ptr<StoreWriter> store;
  int64_t run_id = 0;
  if (const fs::path db = c["store"]["db"].get<std::string>(); !db.empty()) {
    if (db.has_parent_path()) fs::create_directories(db.parent_path(), ec);  // Open names the failure
    store = StoreWriter::Open(db.string());
    std::string name = c["store"]["name"].get<std::string>();
    run_id = store->CreateRun({.name = name.empty() ? "sft on " + env_name : name,
                               .env = env_name, .method = "sft",
                               .seed = static_cast<int64_t>(seed), .config = c});
  }

  // 1. Demonstrations.
  DemoCollectionOptions dopt;
  dopt.env = env_name;
  dopt.env_config = env_config;
  dopt.split = c["data"]["split"].get<std::string>();
  dopt.episodes = c["data"]["episodes"].get<int64_t>();
  dopt.policy = c["data"]["policy"].get<std::string>();
  dopt.noise = c["data"]["noise"].get<double>();
  dopt.repeat_noise = c["data"]["repeat_noise"].get<double>();
  dopt.invalid_noise = c["data"]["invalid_noise"].get<double>();
  for (const auto& [prefix, weight] : c["data"]["noise_weights"].items()) {
    if (!weight.is_number() || weight.get<double>() < 0) {
      throw ConfigError("data.noise_weights." + prefix, "expected a number >= 0, got " + DumpJson(weight));
    }
    dopt.noise_weights[prefix] = weight.get<double>();
  }
  dopt.max_turns = c["data"]["max_turns"].get<int64_t>();
  dopt.seed = seed;
  DemoStats dstats;
  double t0 = Now();
  std::vector<Demonstration> demos = CollectDemonstrations(dopt, &dstats);
  log << "sft: " << dstats.states << " demonstrations from " << dstats.episodes << " " << dopt.policy
      << " episodes on " << env_name << "/" << dopt.split << " (behaviour won "
      << dstats.successes << ", " << dstats.random_actions << " actions off the label, "
      << dstats.repeated_actions << " of them repetitions, " << dstats.corrupted_actions
      << " corrupted commands) in "
      << Fixed(Now() - t0, 1) << "s\n";
  if (demos.empty()) throw FailedPrecondition("sft: the demonstration episodes visited no state");
  result.demonstrations = static_cast<int64_t>(demos.size());

  PromptOptions prompt_options;
  prompt_options.history_length = c["prompt"]["history_length"].get<int>();
  prompt_options.restate_task = c["prompt"]["restate_task"].get<bool>();
  prompt_options.compact = c["prompt"]["compact"].get<bool>();
  const std::string think_style = c["data"]["think"].get<std::string>();

  // 2. Tokenizer and model.
  const std::string init_from = c["model"]["init_from"].get<std::string>();
  std::shared_ptr<const Tokenizer> tokenizer;
  t0 = Now();
  std::string tokenizer_path = c["tokenizer"]["path"].get<std::string>();
  if (tokenizer_path.empty() && !init_from.empty()) {
    tokenizer_path = (fs::path(init_from) / "tokenizer.json").string();
  }
  if (!tokenizer_path.empty()) {
    tokenizer = std::make_shared<const Tokenizer>(Tokenizer::FromFile(tokenizer_path));
    log << "sft: tokenizer " << tokenizer_path << " (vocabulary " << tokenizer->VocabSize() << ")\n";
  } else {
    tokenizer = std::make_shared<const Tokenizer>(TrainDemoTokenizer(
        demos, prompt_options, c["tokenizer"]["vocab_size"].get<int32_t>(),
        c["tokenizer"]["pattern"].get<std::string>(), c["tokenizer"]["max_documents"].get<int64_t>(),
        think_style));
    log << "sft: trained a " << c["tokenizer"]["pattern"].get<std::string>()
        << "-pattern BPE tokenizer on the demonstrations (vocabulary " << tokenizer->VocabSize()
        << ") in " << Fixed(Now() - t0, 1) << "s\n";
  }

  TransformerLM model{nullptr};
  try {
    if (!init_from.empty()) {
      model = LoadPretrained(init_from);
    } else {
      Json mc = ModelConfig::Preset(c["model"]["preset"].get<std::string>(), tokenizer->VocabSize())
                    .ToJson();
      for (const auto& [k, v] : c["model"]["overrides"].items()) mc[k] = v;
      ModelConfig config;
      try {
        config = ModelConfig::FromJson(mc);
      } catch (const ConfigError& e) {
        throw e.Under("model.overrides");
      }
      TransformerLMOptions mo;
      mo.seed = seed;
      model = TransformerLM(config, mo);
    }
  } catch (const c10::Error& e) {
    throw InvalidArgument(std::string("sft: cannot build the model: ") + e.what_without_backtrace());
  }
  const ModelConfig& mcfg = model->config();
  if (tokenizer->VocabSize() > mcfg.vocab_size) {
    throw InvalidArgument("sft: the tokenizer has " + std::to_string(tokenizer->VocabSize()) +
                          " ids but the model's vocab_size is " + std::to_string(mcfg.vocab_size));
  }
  result.parameters = mcfg.NumParameters();
  log << "sft: model " << mcfg.model_type << " " << mcfg.num_hidden_layers << " layers, hidden "
      << mcfg.hidden_size << ", heads " << mcfg.num_attention_heads << "/"
      << mcfg.num_key_value_heads << ", vocab " << mcfg.vocab_size << ": "
      << HumanCount(double(result.parameters)) << " parameters (" << result.parameters << ")\n";

  // 3. Training rows: one per state (steps) or per demonstration episode (episode).
  const std::string layout = c["prompt"]["layout"].get<std::string>();
  const bool action_choice = c["train"]["action_target"].get<std::string>() == "admissible";
  std::vector<SftExample> examples =
      BuildSftExamples(*tokenizer, demos, prompt_options, think_style, layout, action_choice);
  std::vector<int64_t> lengths;
  int64_t dropped = 0, prompt_tokens = 0, response_tokens = 0;
  {
    std::vector<SftExample> kept;
    for (SftExample& e : examples) {
      const int64_t len = e.length();
      if (len > mcfg.max_position_embeddings) {
        ++dropped;
        continue;
      }
      for (const TurnTokens& t : e.turns) {
        prompt_tokens += static_cast<int64_t>(t.context.size());
        response_tokens += static_cast<int64_t>(t.response.size());
      }
      lengths.push_back(len);
      kept.push_back(std::move(e));
    }
    examples.swap(kept);
  }
  if (examples.empty()) throw FailedPrecondition("sft: every demonstration is longer than the model's context");
  log << "sft: " << examples.size() << (layout == "episode" ? " episode" : "") << " rows, mean context "
      << prompt_tokens / int64_t(examples.size()) << " tokens, mean response "
      << Fixed(double(response_tokens) / double(examples.size()), 1) << " tokens"
      << (dropped ? ", " + std::to_string(dropped) + " longer than the context dropped" : "") << "\n";

  // 4. Optimisation.
  const Json& tc = c["train"];
  const int64_t budget = tc["batch_tokens"].get<int64_t>();
  Rng batch_rng = RngStreams(seed).Stream("sft/batches");
  std::vector<std::vector<size_t>> batches = TokenBudgetBatches(lengths, budget, batch_rng);
  int64_t total_steps = tc["steps"].get<int64_t>();
  if (total_steps == 0) {
    total_steps = std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(tc["epochs"].get<double>() * double(batches.size()))));
  }
  const double lr = tc["lr"].get<double>(), min_lr = tc["min_lr"].get<double>();
  const int64_t warmup = tc["warmup_steps"].get<int64_t>();
  const double clip = tc["grad_clip"].get<double>();
  const double prompt_weight = tc["prompt_loss_weight"].get<double>();
  const double label_weight = tc["action_label_weight"].get<double>();
  const double balance_weight = tc["action_balance_weight"].get<double>();
  const int64_t log_every = tc["log_every"].get<int64_t>();
  const int64_t ckpt_every = tc["checkpoint_every"].get<int64_t>();
  const double max_seconds = tc["max_seconds"].get<double>();
  torch::optim::AdamW optimizer(
      model->parameters(),
      torch::optim::AdamWOptions(lr)
          .betas(std::make_tuple(tc["beta1"].get<double>(), tc["beta2"].get<double>()))
          .weight_decay(tc["weight_decay"].get<double>()));
  log << "sft: " << total_steps << " steps (" << batches.size() << " minibatches of <= " << budget
      << " tokens per epoch), lr " << Sci(lr) << " -> " << Sci(min_lr) << " cosine, warm-up "
      << warmup << ", " << threads << " threads\n";

  auto save = [&](const std::string& dir, int64_t step, double loss) {
    CheckpointContents cc;
    cc.model = model.ptr();
    cc.tokenizer = tokenizer.get();
    cc.optimizer = &optimizer;
    cc.max_shard_bytes = max_shard_bytes;
    cc.json_files["sft_config.json"] = c;
    cc.json_files["trainer_state.json"] = {{"step", step}, {"total_steps", total_steps},
                                           {"loss", loss}, {"batch_rng", batch_rng.StateString()},
                                           {"seconds", Now() - t_start}};
    SaveCheckpoint(dir, cc);
    if (store) store->AddCheckpoint({.run_id = run_id, .iter = step, .path = dir});
  };

  model->train();
  const double t_train = Now();
  double window_loss = 0, window_start = Now();
  int64_t window_steps = 0, window_tokens = 0, window_resp = 0;
  size_t next_batch = 0;
  int64_t step = 0;
  double last_loss = 0;
  for (; step < total_steps; ++step) {
    if (max_seconds > 0 && Now() - t_train > max_seconds) {
      log << "sft: train.max_seconds reached after " << step << " steps\n";
      break;
    }
    if (next_batch == batches.size()) {
      batches = TokenBudgetBatches(lengths, budget, batch_rng);
      next_batch = 0;
    }
    std::vector<const SftExample*> batch;
    for (size_t i : batches[next_batch++]) batch.push_back(&examples[i]);
    const double step_lr = CosineLearningRate(step, total_steps, warmup, lr, min_lr);
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(step_lr);
    }
    double grad_norm = 0;
    try {
      optimizer.zero_grad();
      SftBatchLoss l = SftLoss(*model, batch, prompt_weight, label_weight, balance_weight);
      l.loss.backward();
      grad_norm = clip > 0 ? torch::nn::utils::clip_grad_norm_(model->parameters(), clip)
                           : torch::nn::utils::clip_grad_norm_(model->parameters(), 1e30);
      optimizer.step();
      last_loss = l.response_nll;
      window_tokens += l.total_tokens;
      window_resp += l.response_tokens;
      result.train_tokens += l.total_tokens;
    } catch (const c10::Error& e) {
      throw InvalidArgument("sft: training step " + std::to_string(step) + " failed: " +
                            e.what_without_backtrace());
    }
    result.losses.push_back(last_loss);
    window_loss += last_loss;
    ++window_steps;
    if ((step + 1) % log_every == 0 || step + 1 == total_steps) {
      const double mean = window_loss / double(window_steps);
      const double secs = std::max(1e-9, Now() - window_start);
      if (result.first_loss == 0) result.first_loss = mean;
      result.final_loss = mean;
      log << "sft: step " << step + 1 << "/" << total_steps << " loss " << Fixed(mean, 4) << " lr "
          << Sci(step_lr) << " grad " << Fixed(grad_norm, 2) << " tokens/s "
          << Fixed(double(window_tokens) / secs, 0) << " (response "
          << Fixed(double(window_resp) / secs, 0) << ") elapsed " << Fixed(Now() - t_start, 0)
          << "s\n";
      log.flush();
      if (store) {
        store->AppendMetrics(run_id, step + 1,
                             {{"loss", mean}, {"lr", step_lr}, {"grad_norm", grad_norm},
                              {"tokens_per_s", double(window_tokens) / secs}});
      }
      window_loss = 0;
      window_steps = 0;
      window_tokens = window_resp = 0;
      window_start = Now();
    }
    if (ckpt_every > 0 && (step + 1) % ckpt_every == 0 && step + 1 < total_steps) {
      char name[32];
      std::snprintf(name, sizeof(name), "checkpoint-%06lld", static_cast<long long>(step + 1));
      save((fs::path(out_dir) / name).string(), step + 1, last_loss);
    }
  }
  if (window_steps > 0) {
    const double mean = window_loss / double(window_steps);
    if (result.first_loss == 0) result.first_loss = mean;
    result.final_loss = mean;
  }
  result.steps = step;
  result.train_seconds = Now() - t_train;
  model->eval();
  result.final_checkpoint = (fs::path(out_dir) / "final").string();
  save(result.final_checkpoint, step, last_loss);
  log << "sft: trained " << step << " steps in " << Fixed(result.train_seconds, 0)
      << "s; checkpoint " << result.final_checkpoint << "\n";

  // 5. Held-out evaluation with the lm policy (greedy unless eval.temperature > 0).
  if (c["eval"]["enabled"].get<bool>()) {
    LmPolicyOptions po;
    po.temperature = c["eval"]["temperature"].get<double>();
    po.max_new_tokens = c["eval"]["max_new_tokens"].get<int64_t>();
    po.history_length = prompt_options.history_length;
    po.restate_task = prompt_options.restate_task;
    po.compact_prompt = prompt_options.compact;
    po.layout = layout;
    po.threads = threads;
    po.seed = seed;
    LmPolicy policy(model.ptr(), tokenizer, po);
    const std::string split = c["eval"]["split"].get<std::string>();
    EpisodeSink sink;
    if (store) {
      sink = [&](EpisodeRecord&& e) {
        e.run_id = run_id;
        e.iteration = step;
        store->AppendEpisode(std::move(e));
      };
    }
    t0 = Now();
    log << "sft: evaluating on " << env_name << "/" << split
        << (po.temperature > 0 ? " (temperature " + Fixed(po.temperature, 2) + ")" : " (greedy)") << "\n";
    log.flush();
    result.eval = EvaluatePolicy(policy, env_name, env_config, split,
                                 c["eval"]["episodes"].get<int64_t>(),
                                 c["eval"]["max_turns"].get<int64_t>(),
                                 c["eval"]["batch_size"].get<int64_t>(), seed, sink);
    result.evaluated = true;
    const EvalResult& r = result.eval;
    log << "sft: eval " << split << ": success " << Fixed(100 * r.success_rate, 1) << "% of "
        << r.episodes << " episodes, mean return " << Fixed(r.mean_return, 2) << ", mean length "
        << Fixed(r.mean_length, 1) << ", invalid actions " << Fixed(100 * r.invalid_action_rate, 1)
        << "%, " << Fixed(r.seconds, 0) << "s\n";
    for (const auto& [type, t] : r.by_task_type) {
      log << "sft:   " << type << ": " << t.successes << "/" << t.episodes << "\n";
    }
    std::ofstream out(fs::path(result.final_checkpoint) / "eval_results.json", std::ios::trunc);
    out << DumpJson(r.ToJson(), 2) << "\n";
    if (store) {
      store->AppendMetrics(run_id, step,
                           {{"success/" + split, r.success_rate},
                            {"return/" + split, r.mean_return},
                            {"episode_length/" + split, r.mean_length},
                            {"invalid_actions/" + split, r.invalid_action_rate}});
    }
  }
  result.total_seconds = Now() - t_start;
  if (store) {
    store->UpdateRunStatus(run_id, "finished");
    store->Close();
  }
  log << "sft: done in " << Fixed(result.total_seconds, 0) << "s\n";
  return result;
}

}  // namespace turnwise
