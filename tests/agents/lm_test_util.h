// Shared helpers for tests that need a whole (tiny) language-model policy: a BPE tokenizer
// trained on a few household prompts and a random 2-layer model saved as an HF folder.
#ifndef TURNWISE_TESTS_AGENTS_LM_TEST_UTIL_H_
#define TURNWISE_TESTS_AGENTS_LM_TEST_UTIL_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agents/bpe_trainer.h"
#include "agents/chat_template.h"
#include "agents/lm_policy.h"
#include "agents/model_config.h"
#include "agents/prompts.h"
#include "agents/tokenizer.h"
#include "agents/transformer_lm.h"
#include "envs/registry.h"

namespace turnwise::testing_util {

// User prompts of the first steps of a few household episodes played by the expert.
inline std::vector<std::string> HouseholdPromptCorpus(int episodes = 6) {
  std::vector<std::string> docs;
  auto env = EnvRegistry::Make("household");
  for (int i = 0; i < episodes; ++i) {
    StepResult s = env->Reset({.seed = static_cast<uint64_t>(i), .split = "train"});
    const std::string task = ExtractTask(s.observation.text);
    std::vector<HistoryEntry> history;
    while (!s.done()) {
      docs.push_back(RenderChatML(
          {{"system", LmSystemMessage()},
           {"user", RenderStepPrompt("household", task, history, s.observation.text,
                                     s.admissible_actions, PromptOptions{})}},
          true));
      const std::string a = *env->ExpertAction();
      docs.back() += "<think>Pick it up.</think><action>" + a + "</action><|im_end|>";
      history.push_back({s.observation.text, a});
      s = env->Step(a);
    }
  }
  return docs;
}

inline Tokenizer TinyHouseholdTokenizer(int32_t vocab_size = 600) {
  BpeTrainerOptions o;
  o.vocab_size = vocab_size;
  o.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  o.pattern = PreTokenizerPattern::kGpt2;
  return TrainBpeTokenizerOnTexts(HouseholdPromptCorpus(), o);
}

// qwen2, 2 layers, hidden 32, GQA 4/2 heads, tied embeddings, room for long prompts.
inline ModelConfig TinyLmConfig(int64_t vocab_size) {
  ModelConfig c = ModelConfig::Preset("tiny", vocab_size);
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 8;
  c.initializer_range = 0.2;  // far from uniform logits: sampling choices matter
  return c;
}

// Writes config.json, model.safetensors and tokenizer.json into `dir`.
inline void WriteTinyLmFolder(const std::filesystem::path& dir, const Tokenizer& tokenizer,
                              uint64_t seed = 1) {
  TransformerLMOptions o;
  o.seed = seed;
  TransformerLM model(TinyLmConfig(tokenizer.VocabSize()), o);
  SavePretrained(model, dir.string());
  tokenizer.Save((dir / "tokenizer.json").string());
}

}  // namespace turnwise::testing_util

#endif  // TURNWISE_TESTS_AGENTS_LM_TEST_UTIL_H_
