#include "agents/generation.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <memory>

#include "agents/transformer_lm.h"
#include "agents/episode_tokens.h"
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

namespace {

void ValidateParams(const SamplingParams& params, size_t rows) {
  if (params.max_new_tokens < 1) throw InvalidArgument("max_new_tokens must be >= 1");
  if (params.temperature < 0) throw InvalidArgument("temperature must be >= 0");
  if (!(params.top_p > 0 && params.top_p <= 1)) throw InvalidArgument("top_p must be in (0, 1]");
  if (params.top_k < 0) throw InvalidArgument("top_k must be >= 0");
  if (!params.row_seeds.empty() && params.row_seeds.size() != rows) {
    throw InvalidArgument("row_seeds has " + std::to_string(params.row_seeds.size()) + " seeds for " +
                          std::to_string(rows) + " prompts");
  }
}

// A batched decode in progress: the running rows, their cache, attention mask and positions,
// and the logits of each running row's next token.
struct DecodeState {
  std::vector<int64_t> rows;       // original index of each running row
  std::unique_ptr<KVCache> cache;  // null: the uncached reference path
  at::Tensor mask;                 // [running, columns fed so far]
  at::Tensor next_pos;             // [running, 1] position of the next token
  at::Tensor seq;                  // uncached path: every column fed so far
  at::Tensor logits;               // [running, vocab]
  bool padded = false;             // the mask is needed (some column is padding)
};

// Samples until every row has finished. `on_finish(i, row)` runs for running row i (original
// index `row`) right after its last token, while the cache still holds it (before the batch
// shrinks): columns [0, mask.size(1)) of the cache are the row's fed tokens.
void Decode(TransformerLMImpl& model, DecodeState& st, const SamplingParams& params, const Detokenizer& detokenize,
            std::vector<GeneratedSequence>& results, const std::function<void(int64_t, int64_t)>& on_finish) {
  const at::Device dev = model.device();
  size_t max_stop_bytes = 0;
  for (const auto& s : params.stop_strings) max_stop_bytes = std::max(max_stop_bytes, s.size());
  Rng rng(params.seed);
  std::vector<Rng> row_rngs;
  for (uint64_t s : params.row_seeds) row_rngs.emplace_back(s);
  auto mask_arg = [&] { return st.padded ? st.mask : at::Tensor(); };
  for (int64_t step = 0; step < params.max_new_tokens; ++step) {
    at::Tensor tokens;
    if (params.temperature == 0) {
      tokens = st.logits.argmax(-1).to(at::kCPU);
    } else {
      at::Tensor filtered = FilterLogits(st.logits, params.temperature, params.top_k, params.top_p);
      if (row_rngs.empty()) {
        tokens = SampleFromFilteredLogits(filtered, rng);
      } else {
        std::vector<Rng*> rngs;
        for (int64_t r : st.rows) rngs.push_back(&row_rngs[static_cast<size_t>(r)]);
        tokens = SampleFromFilteredLogits(filtered, rngs);
      }
    }
    auto [lp, ent] = TokenLogprobsAndEntropies(st.logits, tokens.to(dev));
    lp = lp.to(at::kCPU);
    ent = ent.to(at::kCPU);
    const int64_t* tok = tokens.data_ptr<int64_t>();
    const float* lpp = lp.data_ptr<float>();
    const float* entp = ent.data_ptr<float>();
    std::vector<int64_t> keep;
    const int64_t running = static_cast<int64_t>(st.rows.size());
    for (int64_t i = 0; i < running; ++i) {
      GeneratedSequence& out = results[static_cast<size_t>(st.rows[static_cast<size_t>(i)])];
      const int32_t t = static_cast<int32_t>(tok[i]);
      out.tokens.push_back(t);
      out.logprobs.push_back(lpp[i]);
      out.entropies.push_back(entp[i]);
      bool done = false;
      if (std::find(params.stop_token_ids.begin(), params.stop_token_ids.end(), t) != params.stop_token_ids.end()) {
        out.finish_reason = FinishReason::kStopToken;
        done = true;
      } else if (max_stop_bytes > 0) {
        const size_t window = std::min(out.tokens.size(), max_stop_bytes + 4);
        std::vector<int32_t> tail(out.tokens.end() - static_cast<std::ptrdiff_t>(window), out.tokens.end());
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
      if (done) {
        if (on_finish) on_finish(i, st.rows[static_cast<size_t>(i)]);
      } else {
        keep.push_back(i);
      }
    }
    if (keep.empty()) break;
    at::Tensor new_tokens = tokens.to(dev).unsqueeze(1);
    if (static_cast<int64_t>(keep.size()) < running) {
      at::Tensor index = at::tensor(keep, at::TensorOptions().dtype(at::kLong)).to(dev);
      std::vector<int64_t> next_rows;
      for (int64_t i : keep) next_rows.push_back(st.rows[static_cast<size_t>(i)]);
      st.rows.swap(next_rows);
      new_tokens = new_tokens.index_select(0, index);
      st.mask = st.mask.index_select(0, index);
      st.next_pos = st.next_pos.index_select(0, index);
      if (st.seq.defined()) st.seq = st.seq.index_select(0, index);
      if (st.cache) st.cache->SelectRows(index);
    }
    st.mask = at::cat({st.mask, at::ones_like(st.next_pos)}, 1);
    if (st.cache) {
      st.logits =
          model.Logits(model.ForwardHidden(new_tokens, mask_arg(), st.next_pos, st.cache.get()).select(1, -1));
    } else {
      st.seq = at::cat({st.seq, new_tokens}, 1);
      st.logits = model.Logits(model.ForwardHidden(st.seq, mask_arg()).select(1, -1));
    }
    st.next_pos = st.next_pos + 1;
  }
}

}  // namespace

std::vector<GeneratedSequence> Generate(TransformerLMImpl& model,
                                        const std::vector<std::vector<int32_t>>& prompts,
                                        const SamplingParams& params,
                                        const Detokenizer& detokenize) {
  const ModelConfig& config = model.config();
  ValidatePrompts(prompts, config.vocab_size, "prompt");
  ValidateParams(params, prompts.size());
  if (!params.stop_strings.empty() && !detokenize) {
    throw InvalidArgument("stop_strings need a detokenizer");
  }
  const int64_t batch = static_cast<int64_t>(prompts.size());
  std::vector<GeneratedSequence> results(static_cast<size_t>(batch));
  if (batch == 0) return results;

  c10::InferenceMode inference_mode;
  const at::Device dev = model.device();
  // Left-padded prompts.
  int64_t prompt_len = 0;
  for (const auto& p : prompts) prompt_len = std::max<int64_t>(prompt_len, static_cast<int64_t>(p.size()));
  std::vector<int64_t> id_data(static_cast<size_t>(batch * prompt_len), params.pad_token_id),
      mask_data(static_cast<size_t>(batch * prompt_len), 0);
  for (int64_t r = 0; r < batch; ++r) {
    const auto& p = prompts[static_cast<size_t>(r)];
    const int64_t off = r * prompt_len + prompt_len - static_cast<int64_t>(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      id_data[static_cast<size_t>(off) + i] = p[i];
      mask_data[static_cast<size_t>(off) + i] = 1;
    }
  }
  auto lopt = at::TensorOptions().dtype(at::kLong);
  at::Tensor ids = at::tensor(id_data, lopt).view({batch, prompt_len}).to(dev);
  DecodeState st;
  st.mask = at::tensor(mask_data, lopt).view({batch, prompt_len}).to(dev);
  for (int64_t r = 0; r < batch; ++r) st.rows.push_back(r);
  if (params.use_kv_cache) {
    st.cache = std::make_unique<KVCache>(model.NewCache(batch, prompt_len + params.max_new_tokens));
  } else {
    st.seq = ids;
  }
  st.next_pos = st.mask.sum(1, /*keepdim=*/true);
  // Without padding the mask only repeats causality, which the model applies anyway.
  for (const auto& p : prompts) st.padded |= static_cast<int64_t>(p.size()) < prompt_len;
  st.logits = model.Logits(model.ForwardHidden(ids, st.padded ? st.mask : at::Tensor(), {}, st.cache.get())
                               .select(1, -1));  // [B, V]
  Decode(model, st, params, detokenize, results, nullptr);
  return results;
}

namespace {

// The number of leading tokens all `rows` have in common, short of each row's last token; 0 for
// fewer than two rows.
int64_t CommonPrefixShortOfLast(const std::vector<const std::vector<int32_t>*>& rows) {
  if (rows.size() < 2) return 0;
  const std::vector<int32_t>& first = *rows[0];
  int64_t shared = static_cast<int64_t>(first.size()) - 1;
  for (size_t k = 1; k < rows.size() && shared > 0; ++k) {
    const std::vector<int32_t>& other = *rows[k];
    shared = std::min<int64_t>(shared, static_cast<int64_t>(other.size()) - 1);
    int64_t n = 0;
    while (n < shared && first[static_cast<size_t>(n)] == other[static_cast<size_t>(n)]) ++n;
    shared = n;
  }
  return std::max<int64_t>(shared, 0);
}

// Episodes that start in this call (nothing cached yet) usually begin with the same tokens (the
// prompt template's header): run those once and give every such row their keys and values as
// its cache, so only the rest is fed per row. Returns whether it did; `fresh` loses the shared
// tokens of those rows.
bool ShareFirstPrefix(TransformerLMImpl& model, const std::vector<CachedSequence*>& sequences,
                      std::vector<std::vector<int32_t>>& fresh) {
  std::vector<size_t> starting;
  for (size_t r = 0; r < sequences.size(); ++r) {
    if (sequences[r]->cached() == 0) starting.push_back(r);
  }
  std::vector<const std::vector<int32_t>*> rows;
  for (size_t r : starting) rows.push_back(&fresh[r]);
  const int64_t shared = CommonPrefixShortOfLast(rows);  // every row keeps one token to feed
  if (shared < kMinSharedPrefix) return false;
  const std::vector<int32_t>& first = fresh[starting[0]];
  KVCache prefix = model.NewCache(1, shared);
  at::Tensor ids = at::tensor(std::vector<int64_t>(first.begin(), first.begin() + shared),
                              at::TensorOptions().dtype(at::kLong))
                       .view({1, shared})
                       .to(model.device());
  model.ForwardHidden(ids, {}, {}, &prefix);
  for (size_t r : starting) {
    CachedSequence& seq = *sequences[r];
    seq.keys.clear();
    seq.values.clear();
    for (int64_t l = 0; l < prefix.num_layers(); ++l) {
      seq.keys.push_back(prefix.keys(l)[0].narrow(1, 0, shared));
      seq.values.push_back(prefix.values(l)[0].narrow(1, 0, shared));
    }
    fresh[r].erase(fresh[r].begin(), fresh[r].begin() + shared);
  }
  return true;
}

}  // namespace

int64_t CachedSequence::cached() const { return keys.empty() ? 0 : keys[0].size(1); }

std::vector<GeneratedSequence> GenerateContinuations(TransformerLMImpl& model,
                                                     const std::vector<CachedSequence*>& sequences,
                                                     const std::vector<std::vector<int32_t>>& appended,
                                                     const SamplingParams& params, const Detokenizer& detokenize) {
  const ModelConfig& config = model.config();
  const int64_t batch = static_cast<int64_t>(sequences.size());
  if (appended.size() != sequences.size()) {
    throw InvalidArgument("GenerateContinuations: " + std::to_string(appended.size()) + " appended segments for " +
                          std::to_string(batch) + " sequences");
  }
  ValidateParams(params, sequences.size());
  if (!params.stop_strings.empty() && !detokenize) throw InvalidArgument("stop_strings need a detokenizer");
  // The tokens each row feeds now: what the cache lacks (the last sampled token of the previous
  // turn) and the appended segment.
  std::vector<std::vector<int32_t>> fresh(static_cast<size_t>(batch));
  int64_t past = 0, width = 0;
  for (int64_t r = 0; r < batch; ++r) {
    CachedSequence& seq = *sequences[static_cast<size_t>(r)];
    const int64_t cached = seq.cached();
    if (cached > static_cast<int64_t>(seq.tokens.size())) {
      throw InvalidArgument("GenerateContinuations: sequence " + std::to_string(r) + " caches more tokens than it has");
    }
    fresh[static_cast<size_t>(r)].assign(seq.tokens.begin() + cached, seq.tokens.end());
    const auto& more = appended[static_cast<size_t>(r)];
    fresh[static_cast<size_t>(r)].insert(fresh[static_cast<size_t>(r)].end(), more.begin(), more.end());
    past = std::max(past, cached);
    width = std::max<int64_t>(width, static_cast<int64_t>(fresh[static_cast<size_t>(r)].size()));
  }
  ValidatePrompts(fresh, config.vocab_size, "continuation");
  std::vector<GeneratedSequence> results(static_cast<size_t>(batch));
  if (batch == 0) return results;

  c10::InferenceMode inference_mode;
  if (ShareFirstPrefix(model, sequences, fresh)) {
    past = width = 0;
    for (int64_t r = 0; r < batch; ++r) {
      past = std::max(past, sequences[static_cast<size_t>(r)]->cached());
      width = std::max<int64_t>(width, static_cast<int64_t>(fresh[static_cast<size_t>(r)].size()));
    }
  }
  const at::Device dev = model.device();
  // Columns: [left pad | row's cached positions] (past columns), then [left pad | fresh tokens]
  // (width columns), then one column per generated token. Padding is masked out; positions
  // continue each row's own sequence.
  DecodeState st;
  st.padded = true;
  st.cache = std::make_unique<KVCache>(model.NewCache(batch, past + width + params.max_new_tokens));
  for (int64_t l = 0; l < st.cache->num_layers(); ++l) {
    st.cache->keys(l).narrow(2, 0, past).zero_();
    st.cache->values(l).narrow(2, 0, past).zero_();
  }
  std::vector<int64_t> id_data(static_cast<size_t>(batch * width), params.pad_token_id);
  std::vector<int64_t> mask_data(static_cast<size_t>(batch * (past + width)), 0);
  std::vector<int64_t> pos_data(static_cast<size_t>(batch * width), 0);
  for (int64_t r = 0; r < batch; ++r) {
    CachedSequence& seq = *sequences[static_cast<size_t>(r)];
    const int64_t cached = seq.cached();
    for (int64_t l = 0; l < st.cache->num_layers() && cached > 0; ++l) {
      st.cache->keys(l)[r].narrow(1, past - cached, cached).copy_(seq.keys[static_cast<size_t>(l)]);
      st.cache->values(l)[r].narrow(1, past - cached, cached).copy_(seq.values[static_cast<size_t>(l)]);
    }
    for (int64_t c = past - cached; c < past; ++c) mask_data[static_cast<size_t>(r * (past + width) + c)] = 1;
    const auto& f = fresh[static_cast<size_t>(r)];
    const int64_t n = static_cast<int64_t>(f.size());
    for (int64_t j = 0; j < n; ++j) {
      const int64_t col = width - n + j;
      id_data[static_cast<size_t>(r * width + col)] = f[static_cast<size_t>(j)];
      mask_data[static_cast<size_t>(r * (past + width) + past + col)] = 1;
      pos_data[static_cast<size_t>(r * width + col)] = cached + j;
    }
    st.rows.push_back(r);
  }
  st.cache->SetLength(past);
  auto lopt = at::TensorOptions().dtype(at::kLong);
  at::Tensor ids = at::tensor(id_data, lopt).view({batch, width}).to(dev);
  at::Tensor pos = at::tensor(pos_data, lopt).view({batch, width}).to(dev);
  st.mask = at::tensor(mask_data, lopt).view({batch, past + width}).to(dev);
  st.next_pos = pos.select(1, width - 1).unsqueeze(1) + 1;
  st.logits = model.Logits(model.ForwardHidden(ids, st.mask, pos, st.cache.get()).select(1, -1));

  // A finished row keeps the keys and values of its real columns; its sequence gains the fresh
  // and generated tokens.
  auto keep_cache = [&](int64_t i, int64_t row) {
    CachedSequence& seq = *sequences[static_cast<size_t>(row)];
    at::Tensor columns = st.mask[i].nonzero().squeeze(1);
    seq.keys.resize(static_cast<size_t>(st.cache->num_layers()));
    seq.values.resize(static_cast<size_t>(st.cache->num_layers()));
    for (int64_t l = 0; l < st.cache->num_layers(); ++l) {
      seq.keys[static_cast<size_t>(l)] = st.cache->keys(l)[i].index_select(1, columns);
      seq.values[static_cast<size_t>(l)] = st.cache->values(l)[i].index_select(1, columns);
    }
  };
  Decode(model, st, params, detokenize, results, keep_cache);
  for (int64_t r = 0; r < batch; ++r) {
    CachedSequence& seq = *sequences[static_cast<size_t>(r)];
    const auto& more = appended[static_cast<size_t>(r)];
    seq.tokens.insert(seq.tokens.end(), more.begin(), more.end());
    const auto& gen = results[static_cast<size_t>(r)].tokens;
    seq.tokens.insert(seq.tokens.end(), gen.begin(), gen.end());
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

namespace turnwise {

int64_t SharedPrefixLength(const std::vector<const EpisodeTokens*>& episodes) {
  // Short of each first context's last token: never the position whose hidden state predicts a
  // first response token.
  std::vector<const std::vector<int32_t>*> contexts;
  for (const EpisodeTokens* e : episodes) contexts.push_back(&(*e)[0].context);
  return CommonPrefixShortOfLast(contexts);
}

TokenScores ScoreEpisodes(TransformerLMImpl& model, const std::vector<const EpisodeTokens*>& episodes,
                          double temperature) {
  if (!(temperature > 0.0)) {
    throw InvalidArgument("ScoreEpisodes: temperature must be > 0, got " + std::to_string(temperature));
  }
  const int64_t vocab = model.config().vocab_size;
  const int64_t batch = static_cast<int64_t>(episodes.size());
  int64_t length = 0, rows = 0, width = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const EpisodeTokens& e = *episodes[static_cast<size_t>(b)];
    if (e.empty() || e[0].context.empty()) {
      throw InvalidArgument("ScoreEpisodes: episode " + std::to_string(b) + " has no first context");
    }
    int64_t n = 0;
    for (const TurnTokens& t : e) {
      for (const auto* part : {&t.context, &t.response}) {
        for (int32_t id : *part) {
          if (id < 0 || id >= vocab) {
            throw InvalidArgument("episode " + std::to_string(b) + " has token id " + std::to_string(id) +
                                  " outside [0, " + std::to_string(vocab) + ")");
          }
        }
      }
      n += static_cast<int64_t>(t.context.size() + t.response.size());
      width = std::max<int64_t>(width, static_cast<int64_t>(t.response.size()));
      ++rows;
    }
    length = std::max(length, n);
  }
  const at::Device dev = model.device();
  auto fopt = at::TensorOptions().dtype(at::kFloat).device(dev);
  if (rows == 0 || width == 0) {
    at::Tensor z = at::zeros({rows, width}, fopt);
    return {z, z.clone(), z.clone()};
  }
  // Right-padded sequences (padding after every real token never reaches one through causal
  // attention, so no mask); the hidden state before each response token predicts it.
  std::vector<int64_t> ids(static_cast<size_t>(batch * length), 0);
  std::vector<int64_t> source, target, dest;
  std::vector<float> mask(static_cast<size_t>(rows * width), 0.f);
  int64_t row = 0;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t p = 0;
    for (const TurnTokens& t : *episodes[static_cast<size_t>(b)]) {
      for (int32_t id : t.context) ids[static_cast<size_t>(b * length + p++)] = id;
      for (size_t j = 0; j < t.response.size(); ++j) {
        source.push_back(b * length + p - 1);
        target.push_back(t.response[j]);
        dest.push_back(row * width + static_cast<int64_t>(j));
        mask[static_cast<size_t>(row * width) + j] = 1.f;
        ids[static_cast<size_t>(b * length + p++)] = t.response[j];
      }
      ++row;
    }
  }
  auto lopt = at::TensorOptions().dtype(at::kLong);
  at::Tensor ids_t = at::tensor(ids, lopt).view({batch, length}).to(dev);
  // Positions [0, shared) are the same in every episode: run them once and let every episode's
  // remaining positions attend to their keys and values (gradients flow back through them).
  const int64_t shared = SharedPrefixLength(episodes);
  at::Tensor hidden;
  if (shared >= kMinSharedPrefix) {
    KVCache prefix = model.NewCache(1, shared);
    model.ForwardHidden(ids_t.narrow(0, 0, 1).narrow(1, 0, shared), {}, {}, &prefix);
    KVCache cache = model.NewCache(batch, length);
    for (int64_t l = 0; l < cache.num_layers(); ++l) {
      cache.keys(l).narrow(2, 0, shared).copy_(prefix.keys(l).narrow(2, 0, shared).expand({batch, -1, -1, -1}));
      cache.values(l).narrow(2, 0, shared).copy_(prefix.values(l).narrow(2, 0, shared).expand({batch, -1, -1, -1}));
    }
    cache.SetLength(shared);
    hidden = model.ForwardHidden(ids_t.narrow(1, shared, length - shared), {}, {}, &cache);
    for (int64_t& s : source) s -= (s / length) * shared + shared;  // into the [batch, length - shared] layout
  } else {
    hidden = model.ForwardHidden(ids_t);
  }
  hidden = hidden.reshape({-1, hidden.size(-1)});
  at::Tensor logits = model.Logits(hidden.index_select(0, at::tensor(source, lopt).to(dev)));
  if (temperature != 1.0) logits = logits / temperature;
  auto [lp, ent] = TokenLogprobsAndEntropies(logits, at::tensor(target, lopt).to(dev));
  at::Tensor index = at::tensor(dest, lopt).to(dev);
  at::Tensor lp_rows = at::zeros({rows * width}, fopt).index_put({index}, lp).view({rows, width});
  at::Tensor ent_rows = at::zeros({rows * width}, fopt).index_put({index}, ent).view({rows, width});
  return {lp_rows, ent_rows, at::tensor(mask, at::TensorOptions().dtype(at::kFloat)).view({rows, width}).to(dev)};
}

}  // namespace turnwise
