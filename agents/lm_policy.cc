#include "agents/lm_policy.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <filesystem>

#include "agents/chat_template.h"
#include "agents/generation.h"
#include "agents/tokenizer.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "core/hash.h"

namespace turnwise {
namespace {

const EncodeOptions kPlainText{.match_added_tokens = false};
constexpr char kActionClose[] = "</action>";

}  // namespace

ConfigSchema LmPolicyOptions::Schema() {
  ConfigSchema s;
  s.Add({.path = "checkpoint", .type = FieldType::kString, .default_value = "",
         .help = "model folder: config.json, model.safetensors[.index.json], tokenizer.json"});
  s.Add({.path = "temperature", .type = FieldType::kNumber, .default_value = 1.0,
         .help = "sampling temperature; 0 = greedy", .min = 0.0});
  s.Add({.path = "top_p", .type = FieldType::kNumber, .default_value = 1.0,
         .help = "nucleus mass in (0, 1]", .min = 1e-9, .max = 1.0});
  s.Add({.path = "top_k", .type = FieldType::kInt, .default_value = 0,
         .help = "keep the k most likely tokens; 0 = off", .min = 0.0});
  s.Add({.path = "max_new_tokens", .type = FieldType::kInt, .default_value = 64,
         .help = "tokens generated per turn at most", .min = 1.0});
  s.Add({.path = "history_length", .type = FieldType::kInt, .default_value = 2,
         .help = "turns of history in the prompt: k, 0 none, -1 all", .min = -1.0});
  s.Add({.path = "restate_task", .type = FieldType::kBool, .default_value = false,
         .help = "repeat the task after the admissible actions (as the model was trained)"});
  s.Add({.path = "compact_prompt", .type = FieldType::kBool, .default_value = false,
         .help = "the observation and admissible actions only, no system message (as the model was trained)"});
  s.Add({.path = "threads", .type = FieldType::kInt, .default_value = 0,
         .help = "LibTorch intra-op threads while acting; 0 = leave as is", .min = 0.0});
  s.Add({.path = "seed", .type = FieldType::kInt, .default_value = 0,
         .help = "mixed into each decision's seed", .min = 0.0});
  s.Add({.path = "layout", .type = FieldType::kString, .default_value = "steps",
         .help = "steps: a fresh prompt every turn (verl-agent); episode: one growing sequence per episode with "
                 "its KV cache",
         .choices = {"steps", "episode"}});
  s.Add({.path = "max_context_tokens", .type = FieldType::kInt, .default_value = 0,
         .help = "episode layout: the longest sequence; a turn that would pass it ends the episode (0 = the "
                 "model's context)", .min = 0.0});
  s.Add({.path = "device", .type = FieldType::kString, .default_value = "cpu",
         .help = "cpu, cuda, cuda:N"});
  s.Add({.path = "dtype", .type = FieldType::kString, .default_value = "float32",
         .help = "runtime dtype", .choices = {"float32", "bfloat16", "float16"}});
  return s;
}

LmPolicyOptions LmPolicyOptions::FromJson(const Json& config) {
  Json c;
  try {
    c = Schema().Validate(config);
  } catch (const ConfigError& e) {
    throw e.Under("policy");
  }
  LmPolicyOptions o;
  o.checkpoint = c["checkpoint"].get<std::string>();
  o.temperature = c["temperature"].get<double>();
  o.top_p = c["top_p"].get<double>();
  o.top_k = c["top_k"].get<int64_t>();
  o.max_new_tokens = c["max_new_tokens"].get<int64_t>();
  o.history_length = c["history_length"].get<int>();
  o.restate_task = c["restate_task"].get<bool>();
  o.compact_prompt = c["compact_prompt"].get<bool>();
  o.threads = c["threads"].get<int>();
  o.seed = c["seed"].get<uint64_t>();
  o.layout = c["layout"].get<std::string>();
  o.max_context_tokens = c["max_context_tokens"].get<int64_t>();
  o.device = c["device"].get<std::string>();
  o.dtype = c["dtype"].get<std::string>();
  return o;
}

Json LmPolicyOptions::ToJson() const {
  return {{"checkpoint", checkpoint},         {"temperature", temperature},
          {"top_p", top_p},                   {"top_k", top_k},
          {"max_new_tokens", max_new_tokens}, {"history_length", history_length},
          {"restate_task", restate_task},      {"compact_prompt", compact_prompt},
          {"threads", threads},               {"seed", seed},
          {"layout", layout},                 {"max_context_tokens", max_context_tokens},
          {"device", device},                 {"dtype", dtype}};
}

const std::string& LmSystemMessage() {
  static const std::string kMessage =
      "You are an agent that completes tasks by acting in an environment. Reply with brief "
      "reasoning in <think></think>, then one admissible action in <action></action>.";
  return kMessage;
}

std::string RenderUserPrompt(const PolicyInput& input, const PromptOptions& options) {
  if (input.step == nullptr) throw InvalidArgument("policy lm: input without a step");
  return RenderStepPrompt(input.env_name, input.task, input.history,
                          input.step->observation.text, input.step->admissible_actions, options);
}

std::vector<int32_t> BuildPromptTokens(const Tokenizer& tokenizer, const std::string& user_message,
                                       bool system_message) {
  const int32_t start = tokenizer.RequireTokenId(kChatMLStart);
  const int32_t end = tokenizer.RequireTokenId(kChatMLEnd);
  std::vector<int32_t> ids;
  ids.reserve(64 + user_message.size() / 3);
  auto message = [&](const std::string& role, const std::string& content) {
    ids.push_back(start);
    tokenizer.EncodeAppend(role + "\n" + content, &ids, kPlainText);
    ids.push_back(end);
    tokenizer.EncodeAppend("\n", &ids, kPlainText);
  };
  if (system_message) message("system", LmSystemMessage());
  message("user", user_message);
  ids.push_back(start);
  tokenizer.EncodeAppend("assistant\n", &ids, kPlainText);
  return ids;
}

std::vector<int32_t> BuildPromptTokens(const Tokenizer& tokenizer, const PolicyInput& input,
                                       const PromptOptions& options) {
  return BuildPromptTokens(tokenizer, RenderUserPrompt(input, options), !options.compact);
}

std::vector<int32_t> BuildFollowUpTokens(const Tokenizer& tokenizer, const std::string& user_message,
                                         bool close_previous) {
  const int32_t start = tokenizer.RequireTokenId(kChatMLStart);
  const int32_t end = tokenizer.RequireTokenId(kChatMLEnd);
  std::vector<int32_t> ids;
  ids.reserve(16 + user_message.size() / 3);
  if (close_previous) ids.push_back(end);
  tokenizer.EncodeAppend("\n", &ids, kPlainText);
  ids.push_back(start);
  tokenizer.EncodeAppend("user\n" + user_message, &ids, kPlainText);
  ids.push_back(end);
  tokenizer.EncodeAppend("\n", &ids, kPlainText);
  ids.push_back(start);
  tokenizer.EncodeAppend("assistant\n", &ids, kPlainText);
  return ids;
}

std::vector<int32_t> BuildTurnContext(const Tokenizer& tokenizer, const PolicyInput& input,
                                      const PromptOptions& options, const std::vector<int32_t>& previous_response,
                                      std::string* user_message) {
  if (input.step == nullptr) throw InvalidArgument("policy lm: input without a step");
  if (input.history.empty()) {
    *user_message = RenderUserPrompt(input, options);
    return BuildPromptTokens(tokenizer, *user_message, !options.compact);
  }
  *user_message = RenderFollowUpPrompt(input.env_name, input.task, static_cast<int>(input.history.size()),
                                       input.step->observation.text, input.step->admissible_actions, options);
  const int32_t end = tokenizer.RequireTokenId(kChatMLEnd);
  const bool closed = !previous_response.empty() && previous_response.back() == end;
  return BuildFollowUpTokens(tokenizer, *user_message, !closed);
}

std::vector<int32_t> EncodeResponse(const Tokenizer& tokenizer, const std::string& response,
                                    bool end_turn) {
  std::vector<int32_t> ids = tokenizer.Encode(response, kPlainText);
  if (end_turn) ids.push_back(tokenizer.RequireTokenId(kChatMLEnd));
  return ids;
}

std::unique_ptr<LmPolicy> LmPolicy::Load(const LmPolicyOptions& options) {
  if (options.checkpoint.empty()) throw ConfigError("policy.checkpoint", "a model folder is required");
  const std::filesystem::path dir(options.checkpoint);
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    throw NotFound("policy lm: checkpoint folder '" + options.checkpoint + "' does not exist");
  }
  const std::filesystem::path tok_path = dir / "tokenizer.json";
  if (!std::filesystem::exists(tok_path, ec)) {
    throw NotFound("policy lm: no tokenizer.json in '" + options.checkpoint + "'");
  }
  auto tokenizer = std::make_shared<const Tokenizer>(Tokenizer::FromFile(tok_path.string()));
  TransformerLMOptions mo;
  mo.device = options.device;
  mo.dtype = options.dtype;
  TransformerLM model = LoadPretrained(options.checkpoint, mo);
  model->eval();
  return std::make_unique<LmPolicy>(model.ptr(), std::move(tokenizer), options);
}

LmPolicy::LmPolicy(std::shared_ptr<TransformerLMImpl> model,
                   std::shared_ptr<const Tokenizer> tokenizer, const LmPolicyOptions& options)
    : model_(std::move(model)), tokenizer_(std::move(tokenizer)) {
  TURNWISE_CHECK(model_ != nullptr && tokenizer_ != nullptr);
  if (tokenizer_->VocabSize() > model_->config().vocab_size) {
    throw InvalidArgument("policy lm: the tokenizer has " + std::to_string(tokenizer_->VocabSize()) +
                          " ids but the model's vocab_size is " +
                          std::to_string(model_->config().vocab_size));
  }
  tokenizer_->RequireTokenId(kChatMLStart);
  im_end_id_ = tokenizer_->RequireTokenId(kChatMLEnd);
  set_options(options);
}

LmPolicy::~LmPolicy() = default;

void LmPolicy::set_options(const LmPolicyOptions& options) {
  // Round-trip through the schema: the same checks (and messages) as a config file gets.
  options_ = LmPolicyOptions::FromJson(options.ToJson());
}

PromptOptions LmPolicy::prompt_options() const {
  PromptOptions p;
  p.history_length = options_.history_length;
  p.restate_task = options_.restate_task;
  p.compact = options_.compact_prompt;
  return p;
}

SamplingParams LmPolicy::sampling_params() const {
  SamplingParams p;
  p.temperature = options_.temperature;
  p.top_p = options_.top_p;
  p.top_k = options_.top_k;
  p.max_new_tokens = options_.max_new_tokens;
  p.stop_token_ids = {im_end_id_};
  p.stop_strings = {kActionClose};
  p.seed = options_.seed;
  p.pad_token_id = im_end_id_;
  return p;
}

namespace {

// The episode layout's memory: the episode's sequence, its cache and the last response.
class EpisodeMemory : public PolicyMemory {
 public:
  CachedSequence sequence;
  std::vector<int32_t> last_response;
};

}  // namespace

std::vector<PolicyOutput> LmPolicy::Act(const std::vector<PolicyInput>& batch) {
  if (batch.empty()) return {};
  if (options_.threads > 0) at::set_num_threads(options_.threads);
  return options_.layout == "episode" ? ActEpisode(batch) : ActSteps(batch);
}

void LmPolicy::FillFromGenerated(const PolicyInput& input, GeneratedSequence& g, PolicyOutput& o) const {
  o.response = tokenizer_->Decode(g.tokens, /*skip_special_tokens=*/true);
  o.response_tokens = std::move(g.tokens);
  o.logprobs = std::move(g.logprobs);
  o.entropies = std::move(g.entropies);
  ProjectedAction p = ProjectAction(o.response, input.step->admissible_actions);
  o.action = p.action;
  o.format_valid = p.format_valid;
  o.admissible = p.admissible;
}

std::vector<PolicyOutput> LmPolicy::ActSteps(const std::vector<PolicyInput>& batch) {
  std::vector<PolicyOutput> out(batch.size());
  const PromptOptions prompt = prompt_options();
  std::vector<std::vector<int32_t>> prompts;
  prompts.reserve(batch.size());
  SamplingParams params = sampling_params();
  for (size_t i = 0; i < batch.size(); ++i) {
    out[i].prompt = RenderUserPrompt(batch[i], prompt);
    out[i].prompt_tokens = BuildPromptTokens(*tokenizer_, out[i].prompt, !prompt.compact);
    prompts.push_back(out[i].prompt_tokens);
    params.row_seeds.push_back(HashCombine(options_.seed, batch[i].seed));
  }
  const Tokenizer& tok = *tokenizer_;
  Detokenizer detok = [&tok](const std::vector<int32_t>& ids) { return tok.DecodeBytes(ids); };
  std::vector<GeneratedSequence> generated;
  try {
    generated = Generate(*model_, prompts, params, detok);
  } catch (const c10::Error& e) {
    throw InvalidArgument(std::string("policy lm: generation failed: ") + e.what_without_backtrace());
  }
  for (size_t i = 0; i < batch.size(); ++i) FillFromGenerated(batch[i], generated[i], out[i]);
  return out;
}

std::vector<PolicyOutput> LmPolicy::ActEpisode(const std::vector<PolicyInput>& batch) {
  std::vector<PolicyOutput> out(batch.size());
  const PromptOptions prompt = prompt_options();
  const int64_t limit = options_.max_context_tokens > 0 ? options_.max_context_tokens
                                                        : model_->config().max_position_embeddings;
  SamplingParams params = sampling_params();
  std::vector<CachedSequence*> sequences;
  std::vector<std::vector<int32_t>> segments;
  std::vector<size_t> rows;  // batch index of each generated row
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].memory == nullptr) {
      throw InvalidArgument("policy lm: the episode layout needs each input's episode memory");
    }
    std::unique_ptr<PolicyMemory>& slot = *batch[i].memory;
    if (!slot) slot = std::make_unique<EpisodeMemory>();
    auto* memory = dynamic_cast<EpisodeMemory*>(slot.get());
    if (memory == nullptr) throw InvalidArgument("policy lm: the episode memory belongs to another policy");
    std::vector<int32_t> segment =
        BuildTurnContext(*tokenizer_, batch[i], prompt, memory->last_response, &out[i].prompt);
    const int64_t needed = static_cast<int64_t>(memory->sequence.tokens.size() + segment.size()) +
                           options_.max_new_tokens;
    if (needed > limit) {
      out[i].context_exhausted = true;
      continue;
    }
    out[i].prompt_tokens = segment;
    sequences.push_back(&memory->sequence);
    segments.push_back(std::move(segment));
    rows.push_back(i);
    params.row_seeds.push_back(HashCombine(options_.seed, batch[i].seed));
  }
  if (rows.empty()) return out;
  const Tokenizer& tok = *tokenizer_;
  Detokenizer detok = [&tok](const std::vector<int32_t>& ids) { return tok.DecodeBytes(ids); };
  std::vector<GeneratedSequence> generated;
  try {
    generated = GenerateContinuations(*model_, sequences, segments, params, detok);
  } catch (const c10::Error& e) {
    throw InvalidArgument(std::string("policy lm: generation failed: ") + e.what_without_backtrace());
  }
  for (size_t k = 0; k < rows.size(); ++k) {
    const size_t i = rows[k];
    static_cast<EpisodeMemory*>(batch[i].memory->get())->last_response = generated[k].tokens;
    FillFromGenerated(batch[i], generated[k], out[i]);
  }
  return out;
}

std::unique_ptr<Policy> MakeLmPolicy(const Json& config) {
  return LmPolicy::Load(LmPolicyOptions::FromJson(config));
}

}  // namespace turnwise
