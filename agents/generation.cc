#include "agents/generation.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <limits>

#include "agents/transformer_lm.h"
#include "core/error.h"

namespace turnwise {
namespace {

void ValidatePrompts(const std::vector<std::vector<int32_t>>& prompts, int64_t vocab,
                     const char* what) {
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) {
      throw InvalidArgument(std::string(what) + " " + std::to_string(i) + " is empty");
    }
    for (int32_t id : prompts[i]) {
      if (id < 0 || id >= vocab) {
        throw InvalidArgument(std::string(what) + " " + std::to_string(i) + " has token id " +
                              std::to_string(id) + " outside [0, " + std::to_string(vocab) + ")");
      }
    }
  }
}

}  // namespace

std::pair<at::Tensor, at::Tensor> TokenLogprobsAndEntropies(const at::Tensor& logits,
                                                            const at::Tensor& targets) {
  at::Tensor logp = at::log_softmax(logits.to(at::kFloat), -1);
  at::Tensor lp = logp.gather(-1, targets.to(at::kLong).unsqueeze(-1)).squeeze(-1);
  at::Tensor ent = -(logp.exp() * logp).sum(-1);
  return {lp, ent};
}

at::Tensor FilterLogits(const at::Tensor& logits, double temperature, int64_t top_k, double top_p) {
  if (!(temperature > 0)) throw InvalidArgument("FilterLogits: temperature must be > 0");
  if (!(top_p > 0 && top_p <= 1)) throw InvalidArgument("top_p must be in (0, 1]");
  const float neg_inf = -std::numeric_limits<float>::infinity();
  at::Tensor out = logits.to(at::kFloat) / temperature;
  const int64_t vocab = out.size(-1);
  if (top_k > 0 && top_k < vocab) {
    at::Tensor kth = std::get<0>(out.topk(top_k, -1)).narrow(-1, top_k - 1, 1);
    out = out.masked_fill(out < kth, neg_inf);
  }
  if (top_p < 1.0) {
    auto [sorted, order] = out.sort(-1, /*descending=*/true);
    at::Tensor probs = at::softmax(sorted, -1);
    at::Tensor mass_before = probs.cumsum(-1) - probs;
    at::Tensor drop_sorted = mass_before >= top_p;
    at::Tensor drop = at::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
    out = out.masked_fill(drop, neg_inf);
  }
  return out;
}

at::Tensor SampleFromFilteredLogits(const at::Tensor& filtered_logits, Rng& rng) {
  std::vector<Rng*> rngs(static_cast<size_t>(filtered_logits.size(0)), &rng);
  return SampleFromFilteredLogits(filtered_logits, rngs);
}

at::Tensor SampleFromFilteredLogits(const at::Tensor& filtered_logits,
                                    const std::vector<Rng*>& rngs) {
  if (static_cast<int64_t>(rngs.size()) != filtered_logits.size(0)) {
    throw InvalidArgument("SampleFromFilteredLogits: " + std::to_string(rngs.size()) +
                          " generators for " + std::to_string(filtered_logits.size(0)) + " rows");
  }
  at::Tensor probs = at::softmax(filtered_logits.to(at::kFloat), -1).to(at::kCPU).contiguous();
  const int64_t rows = probs.size(0), vocab = probs.size(1);
  at::Tensor out = at::empty({rows}, at::TensorOptions().dtype(at::kLong));
  const float* p = probs.data_ptr<float>();
  int64_t* o = out.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = p + r * vocab;
    const double u = rngs[static_cast<size_t>(r)]->UniformDouble();
    double cum = 0;
    int64_t pick = -1, last_nonzero = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      if (row[v] <= 0) continue;
      last_nonzero = v;
      cum += row[v];
      if (u < cum) {
        pick = v;
        break;
      }
    }
    o[r] = pick >= 0 ? pick : last_nonzero;  // u beyond the float-rounded total mass
  }
  return out;
}

std::vector<GeneratedSequence> Generate(TransformerLMImpl& model,
                                        const std::vector<std::vector<int32_t>>& prompts,
                                        const SamplingParams& params,
                                        const Detokenizer& detokenize) {
  const ModelConfig& config = model.config();
  ValidatePrompts(prompts, config.vocab_size, "prompt");
  if (params.max_new_tokens < 1) throw InvalidArgument("max_new_tokens must be >= 1");
  if (params.temperature < 0) throw InvalidArgument("temperature must be >= 0");
  if (!(params.top_p > 0 && params.top_p <= 1)) throw InvalidArgument("top_p must be in (0, 1]");
  if (params.top_k < 0) throw InvalidArgument("top_k must be >= 0");
  if (!params.stop_strings.empty() && !detokenize) {
    throw InvalidArgument("stop_strings need a detokenizer");
  }
  if (!params.row_seeds.empty() && params.row_seeds.size() != prompts.size()) {
    throw InvalidArgument("row_seeds has " + std::to_string(params.row_seeds.size()) +
                          " seeds for " + std::to_string(prompts.size()) + " prompts");
  }
  const int64_t batch = static_cast<int64_t>(prompts.size());
  std::vector<GeneratedSequence> results(batch);
  if (batch == 0) return results;

  c10::InferenceMode inference_mode;
  const at::Device dev = model.device();
  size_t max_stop_bytes = 0;
  for (const auto& s : params.stop_strings) max_stop_bytes = std::max(max_stop_bytes, s.size());

  // Left-padded prompts.
  int64_t prompt_len = 0;
  for (const auto& p : prompts) prompt_len = std::max<int64_t>(prompt_len, p.size());
  std::vector<int64_t> id_data(batch * prompt_len, params.pad_token_id),
      mask_data(batch * prompt_len, 0);
  for (int64_t r = 0; r < batch; ++r) {
    const auto& p = prompts[r];
    const int64_t off = r * prompt_len + prompt_len - static_cast<int64_t>(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      id_data[off + i] = p[i];
      mask_data[off + i] = 1;
    }
  }
  auto lopt = at::TensorOptions().dtype(at::kLong);
  at::Tensor ids = at::tensor(id_data, lopt).view({batch, prompt_len});
  at::Tensor mask = at::tensor(mask_data, lopt).view({batch, prompt_len});
  ids = ids.to(dev);
  mask = mask.to(dev);

  // Row state: rows[i] is the original index of the i-th running row.
  std::vector<int64_t> rows(batch);
  for (int64_t r = 0; r < batch; ++r) rows[r] = r;
  Rng rng(params.seed);
  std::vector<Rng> row_rngs;
  for (uint64_t s : params.row_seeds) row_rngs.emplace_back(s);
  std::unique_ptr<KVCache> cache;
  if (params.use_kv_cache)
    cache = std::make_unique<KVCache>(model.NewCache(batch, prompt_len + params.max_new_tokens));
  at::Tensor next_pos = mask.sum(1, /*keepdim=*/true);  // [B, 1] position of the next token
  at::Tensor seq = ids;  // the uncached path re-feeds the whole sequence

  // Without padding the mask only repeats causality, which the model applies anyway.
  bool padded = false;
  for (const auto& p : prompts) padded |= static_cast<int64_t>(p.size()) < prompt_len;
  auto mask_arg = [&] { return padded ? mask : at::Tensor(); };

  at::Tensor logits =
      model.Logits(model.ForwardHidden(ids, mask_arg(), {}, cache.get()).select(1, -1));  // [B, V]
  for (int64_t step = 0; step < params.max_new_tokens; ++step) {
    at::Tensor tokens;
    if (params.temperature == 0) {
      tokens = logits.argmax(-1).to(at::kCPU);
    } else {
      at::Tensor filtered = FilterLogits(logits, params.temperature, params.top_k, params.top_p);
      if (row_rngs.empty()) {
        tokens = SampleFromFilteredLogits(filtered, rng);
      } else {
        std::vector<Rng*> rngs;
        for (int64_t r : rows) rngs.push_back(&row_rngs[static_cast<size_t>(r)]);
        tokens = SampleFromFilteredLogits(filtered, rngs);
      }
    }
    auto [lp, ent] = TokenLogprobsAndEntropies(logits, tokens.to(dev));
    lp = lp.to(at::kCPU);
    ent = ent.to(at::kCPU);
    const int64_t* tok = tokens.data_ptr<int64_t>();
    const float* lpp = lp.data_ptr<float>();
    const float* entp = ent.data_ptr<float>();
    std::vector<int64_t> keep;
    const int64_t running = static_cast<int64_t>(rows.size());
    for (int64_t i = 0; i < running; ++i) {
      GeneratedSequence& out = results[rows[i]];
      const int32_t t = static_cast<int32_t>(tok[i]);
      out.tokens.push_back(t);
      out.logprobs.push_back(lpp[i]);
      out.entropies.push_back(entp[i]);
      bool done = false;
      if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), t) !=
          params.stop_token_ids.end()) {
        out.finish_reason = FinishReason::kStopToken;
        done = true;
      } else if (max_stop_bytes > 0) {
        const size_t window = std::min(out.tokens.size(), max_stop_bytes + 4);
        std::vector<int32_t> tail(out.tokens.end() - static_cast<std::ptrdiff_t>(window),
                                  out.tokens.end());
        const std::string text = detokenize(tail);
        for (const auto& s : params.stop_strings) {
          if (!s.empty() && text.find(s) != std::string::npos) {
            out.finish_reason = FinishReason::kStopString;
            done = true;
            break;
          }
        }
      }
      if (!done && step + 1 == params.max_new_tokens) {
        out.finish_reason = FinishReason::kLength;
        done = true;
      }
      if (!done) keep.push_back(i);
    }
    if (keep.empty()) break;
    at::Tensor new_tokens = tokens.to(dev).unsqueeze(1);
    if (static_cast<int64_t>(keep.size()) < running) {
      at::Tensor index = at::tensor(keep, at::TensorOptions().dtype(at::kLong)).to(dev);
      std::vector<int64_t> next_rows;
      for (int64_t i : keep) next_rows.push_back(rows[i]);
      rows.swap(next_rows);
      new_tokens = new_tokens.index_select(0, index);
      mask = mask.index_select(0, index);
      next_pos = next_pos.index_select(0, index);
      seq = seq.index_select(0, index);
      if (cache) cache->SelectRows(index);
    }
    mask = at::cat({mask, at::ones_like(next_pos)}, 1);
    if (cache) {
      logits = model.Logits(
          model.ForwardHidden(new_tokens, mask_arg(), next_pos, cache.get()).select(1, -1));
    } else {
      seq = at::cat({seq, new_tokens}, 1);
      logits = model.Logits(model.ForwardHidden(seq, mask_arg()).select(1, -1));
    }
    next_pos = next_pos + 1;
  }
  return results;
}

TokenScores Score(TransformerLMImpl& model, const std::vector<std::vector<int32_t>>& prompts,
                  const std::vector<std::vector<int32_t>>& responses, double temperature) {
  const ModelConfig& config = model.config();
  if (!(temperature > 0.0)) {
    throw InvalidArgument("Score: temperature must be > 0, got " + std::to_string(temperature));
  }
  if (prompts.size() != responses.size()) {
    throw InvalidArgument("Score: " + std::to_string(prompts.size()) + " prompts but " +
                          std::to_string(responses.size()) + " responses");
  }
  ValidatePrompts(prompts, config.vocab_size, "prompt");
  for (size_t i = 0; i < responses.size(); ++i) {
    for (int32_t id : responses[i]) {
      if (id < 0 || id >= config.vocab_size) {
        throw InvalidArgument("response " + std::to_string(i) + " has token id " +
                              std::to_string(id) + " outside [0, " +
                              std::to_string(config.vocab_size) + ")");
      }
    }
  }
  const int64_t batch = static_cast<int64_t>(prompts.size());
  int64_t plen = 0, rlen = 0;
  for (int64_t r = 0; r < batch; ++r) {
    plen = std::max<int64_t>(plen, prompts[r].size());
    rlen = std::max<int64_t>(rlen, responses[r].size());
  }
  const at::Device dev = model.device();
  auto fopt = at::TensorOptions().dtype(at::kFloat).device(dev);
  if (batch == 0 || rlen == 0) {
    at::Tensor z = at::zeros({batch, rlen}, fopt);
    return {z, z.clone(), z.clone()};
  }
  // [left pad | prompt | response | right pad]
  std::vector<int64_t> ids(batch * (plen + rlen), 0), mask(batch * (plen + rlen), 0);
  std::vector<int64_t> targets(batch * rlen, 0);
  std::vector<float> rmask(batch * rlen, 0.f);
  for (int64_t r = 0; r < batch; ++r) {
    const auto& p = prompts[r];
    const auto& y = responses[r];
    int64_t* row = ids.data() + r * (plen + rlen);
    int64_t* mrow = mask.data() + r * (plen + rlen);
    const int64_t off = plen - static_cast<int64_t>(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      row[off + i] = p[i];
      mrow[off + i] = 1;
    }
    for (size_t i = 0; i < y.size(); ++i) {
      row[plen + i] = y[i];
      mrow[plen + i] = 1;
      targets[r * rlen + i] = y[i];
      rmask[r * rlen + i] = 1.f;
    }
  }
  auto lopt = at::TensorOptions().dtype(at::kLong);
  at::Tensor ids_t = at::tensor(ids, lopt).view({batch, plen + rlen}).to(dev);
  at::Tensor mask_t = at::tensor(mask, lopt).view({batch, plen + rlen}).to(dev);
  at::Tensor target_t = at::tensor(targets, lopt).view({batch, rlen}).to(dev);
  at::Tensor rmask_t =
      at::tensor(rmask, at::TensorOptions().dtype(at::kFloat)).view({batch, rlen}).to(dev);
  // Hidden state at position plen-1+i predicts response token i; lm_head runs only there.
  at::Tensor hidden = model.ForwardHidden(ids_t, mask_t).narrow(1, plen - 1, rlen);
  at::Tensor logits = model.Logits(hidden);
  if (temperature != 1.0) logits = logits / temperature;
  auto [lp, ent] = TokenLogprobsAndEntropies(logits, target_t);
  return {lp * rmask_t, ent * rmask_t, rmask_t};
}

}  // namespace turnwise
