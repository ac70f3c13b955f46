// Regularisers (EPO, LLDS, KL, entropy) against hand-computed worked examples (LLDS's is quoted
// in docs/methods.md "LLDS"), their gradients against finite differences, micro-batch shares
// against the whole minibatch, and the factory's errors.
#include "training/regularizers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/error.h"
#include "training/advantages/seeupo.h"
#include "training/schedules.h"

namespace turnwise {
namespace {

// Rows of different lengths right-padded to a [B, T] float64 tensor and its mask.
std::pair<at::Tensor, at::Tensor> Pad(const std::vector<std::vector<double>>& rows) {
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.size());
  at::Tensor x = torch::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)}, torch::kFloat64);
  at::Tensor m = torch::zeros_like(x);
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) {
      x[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = rows[i][j];
      m[static_cast<int64_t>(i)][static_cast<int64_t>(j)] = 1.0;
    }
  }
  return {x, m};
}

RegularizerBatch Batch(const at::Tensor& mask, const MinibatchLayout& layout) {
  RegularizerBatch b;
  b.mask = mask;
  b.logprobs = torch::zeros_like(mask);
  b.old_logprobs = torch::zeros_like(mask);
  b.entropies = torch::zeros_like(mask);
  b.layout = &layout;
  b.members = layout.AllRows();
  return b;
}

// ---- EPO worked example: two trajectories × two turns ----

struct EpoExample {
  at::Tensor entropies, mask;
  MinibatchLayout layout;
  EpoExample()
      : layout({{.trajectory = 1, .turn = 0, .tokens = 3}, {.trajectory = 1, .turn = 1, .tokens = 2},
                {.trajectory = 2, .turn = 0, .tokens = 2}, {.trajectory = 2, .turn = 1, .tokens = 4}}) {
    std::tie(entropies, mask) = Pad({{0.5, 1.0, 2.5}, {0.2, 0.4}, {1.5, 0.1}, {0.9, 3.0, 0.6, 0.3}});
  }
};

// History of batch means [0.9, 1.1, 1.0] before step k = 3.
void FeedHistory(EpoRegularizer& epo, double current = 5.0) {
  IterationInfo info;
  info.total_steps = 150;
  int k = 0;
  for (double h : {0.9, 1.1, 1.0}) {
    info.step = k++;
    info.entropy_mean = h;
    epo.BeginIteration(info);
  }
  info.step = 3;
  info.entropy_mean = current;  // the paper's reference excludes the current step
  epo.BeginIteration(info);
}

TEST(Epo, PaperWorkedExample) {
  EpoExample ex;
  EpoOptions o;  // λ 0.001, κ 0 / 2, α 0.1, γ 3, K 150
  EpoRegularizer epo(o);
  FeedHistory(epo);
  double ref = 0;
  ASSERT_TRUE(epo.Reference(0, &ref));
  EXPECT_NEAR(ref, 1.0, 1e-12);
  RegularizerBatch b = Batch(ex.mask, ex.layout);
  b.entropies = ex.entropies;
  RegularizerTerm t = epo.Compute(b);
  double l_h = t.metrics[0].second, l_smooth = t.metrics[1].second;
  EXPECT_NEAR(l_h, 0.9083, 1e-4);
  EXPECT_NEAR(l_h, (4.0 / 3.0 + 0.3 + 0.8 + 1.2) / 4, 1e-12);
  EXPECT_NEAR(l_smooth, 0.0104, 1e-4);
  EXPECT_NEAR(l_smooth, (0.1 * 0.5 / 3 + 0.1 * 1.0 / 4) / 4, 1e-12);
  EXPECT_NEAR(EpoPhaseWeight(0, 150, 3.0), 2.0, 1e-12);
  EXPECT_NEAR(EpoPhaseWeight(3, 150, 3.0), 1.8869, 1e-4);
  EXPECT_NEAR(EpoPhaseWeight(75, 150, 3.0), 1.0498, 1e-4);
  EXPECT_NEAR(EpoPhaseWeight(149, 150, 3.0), 1.0026, 1e-4);
  // The block λ(L_H − β L_smooth) = 0.000889 is subtracted from the loss.
  EXPECT_NEAR(-t.loss.item<double>(), 0.000889, 1e-6);
  EXPECT_NEAR(epo.IterationMetrics()[0].second, 1.8869, 1e-4);
}

TEST(Epo, NoHistoryMeansNoSmoothing) {
  EpoExample ex;
  EpoRegularizer epo(EpoOptions{});
  IterationInfo info;
  info.entropy_mean = 1.0;
  epo.BeginIteration(info);  // k = 0: the paper's reference is empty
  RegularizerBatch b = Batch(ex.mask, ex.layout);
  b.entropies = ex.entropies;
  RegularizerTerm t = epo.Compute(b);
  EXPECT_EQ(t.metrics[1].second, 0.0);
  EXPECT_NEAR(-t.loss.item<double>(), 0.001 * 0.9083, 1e-6);
}

TEST(Epo, CodeWorkedExample) {
  EXPECT_NEAR(EpoCodeEpochWeight(3, 150), 0.9846, 1e-4);
  EXPECT_NEAR(EpoCodeEpochWeight(75, 150), 0.8271, 1e-4);
  EXPECT_NEAR(EpoCodeEpochWeight(100, 150), 0.2943, 1e-4);
  EXPECT_NEAR(EpoCodeEpochWeight(150, 150), 0.0398, 1e-4);
  EpoExample ex;
  EpoOptions o;
  o.form = EpoForm::kCode;
  o.history = EpoHistory::kScalar;  // the example's scalar history [0.9, 1.1, 1.0]
  o.late_turn = 0;
  EpoRegularizer epo(o);
  FeedHistory(epo);
  at::Tensor h = ex.entropies.clone().set_requires_grad(true);
  RegularizerBatch b = Batch(ex.mask, ex.layout);
  b.entropies = h;
  RegularizerTerm t = epo.Compute(b);
  EXPECT_NEAR(t.metrics[0].second, 1.0, 1e-12);  // token-mean entropy
  EXPECT_NEAR(t.metrics[1].second, 0.0182, 1e-4);
  EXPECT_NEAR(-t.loss.item<double>(), 0.001 * (1.0 - 0.1 * 2 / 11 * EpoCodeEpochWeight(3, 150)), 1e-12);
  EXPECT_NEAR(-t.loss.item<double>(), 0.000982, 1e-6);
  // Only the plain entropy bonus carries a gradient: −λ/11 on every token.
  t.loss.backward();
  at::Tensor expected = -0.001 / 11 * ex.mask;
  EXPECT_TRUE(torch::allclose(h.grad(), expected, 0, 1e-15));
}

TEST(Epo, CodeSmoothsOnlyMicroBatchesWithLateTurns) {
  EpoExample ex;
  EpoOptions o;
  o.form = EpoForm::kCode;
  o.history = EpoHistory::kScalar;
  o.late_turn = 2;  // no row reaches turn 2
  EpoRegularizer epo(o);
  FeedHistory(epo);
  RegularizerBatch b = Batch(ex.mask, ex.layout);
  b.entropies = ex.entropies;
  EXPECT_EQ(epo.Compute(b).metrics[1].second, 0.0);
}

TEST(Epo, PerTurnHistoryComparesEachRowWithItsTurn) {
  EpoOptions o;
  o.history = EpoHistory::kPerTurn;
  o.kappa_low = 0.5;
  o.kappa_high = 1.5;
  EpoRegularizer epo(o);
  IterationInfo info;
  info.turn_entropy_mean = {{0, 2.0}, {1, 0.2}};
  epo.BeginIteration(info);
  info.step = 1;
  info.turn_entropy_mean = {{0, 4.0}};  // turn 1 absent this step: its reference keeps one sample
  epo.BeginIteration(info);
  info.step = 2;
  epo.BeginIteration(info);
  double r0 = 0, r1 = 0, r2 = 0;
  ASSERT_TRUE(epo.Reference(0, &r0));
  ASSERT_TRUE(epo.Reference(1, &r1));
  EXPECT_FALSE(epo.Reference(2, &r2));
  EXPECT_NEAR(r0, 3.0, 1e-12);
  EXPECT_NEAR(r1, 0.2, 1e-12);
  // One trajectory, turn 0 tokens [1.0] (below 0.5·3 → P 0.5) and turn 1 [1.0] (above 1.5·0.2 → P 0.7).
  MinibatchLayout layout({{.trajectory = 0, .turn = 0, .tokens = 1}, {.trajectory = 0, .turn = 1, .tokens = 1}});
  auto [h, mask] = Pad({{1.0}, {1.0}});
  RegularizerBatch b = Batch(mask, layout);
  b.entropies = h;
  EXPECT_NEAR(epo.Compute(b).metrics[1].second, 0.1 * (0.5 + 0.7) / 2, 1e-12);
  // State round trip (resume).
  EpoRegularizer copy(o);
  copy.LoadState(epo.State());
  info.step = 3;
  info.turn_entropy_mean = {{0, 1.0}};
  copy.BeginIteration(info);
  epo.BeginIteration(info);
  EXPECT_EQ(copy.State(), epo.State());
  ASSERT_TRUE(copy.Reference(0, &r0));
  EXPECT_NEAR(r0, (2.0 + 4.0 + 4.0) / 3, 1e-12);
}

// ---- LLDS worked example (λ = 0.2) ----

// A preserving response with two actions, Δ = [0.3, −0.1, 0.2] and [−0.2, 0.1]; a second response
// with Â < 0 and 4 tokens. Δ = logπ_old − logπ, so logπ = −Δ with logπ_old = 0.
struct LldsExample {
  at::Tensor logprobs, mask;
  MinibatchLayout layout;
  LldsExample()
      : layout({{.trajectory = 0, .turn = 0, .tokens = 3, .advantage = 1.0},
                {.trajectory = 0, .turn = 1, .tokens = 2, .advantage = 1.0, .last_turn = true},
                {.trajectory = 1, .turn = 0, .tokens = 4, .advantage = -1.0, .last_turn = true}}) {
    std::tie(logprobs, mask) = Pad({{-0.3, 0.1, -0.2}, {0.2, -0.1}, {-0.5, -0.5, -0.5, -0.5}});
  }
  double Value(LldsOptions o) const {
    RegularizerBatch b = Batch(mask, layout);
    b.logprobs = logprobs;
    return LldsRegularizer(o).Compute(b).loss.item<double>();
  }
};

TEST(Llds, WorkedExampleBothNormalisations) {
  LldsExample ex;
  LldsOptions paper;
  paper.normalization = LldsNormalization::kPaper;
  EXPECT_NEAR(ex.Value(paper), 0.02, 1e-12);  // λ · 0.5 / 5
  LldsOptions code;                           // defaults: A-gate, code normalisation
  EXPECT_NEAR(ex.Value(code), 0.2 * 0.5 / 9, 1e-12);
  EXPECT_NEAR(ex.Value(code), 0.0111, 1e-4);
  LldsOptions rgate = paper;
  rgate.gate = LldsGate::kResponse;  // Σ Δ = 0.3 > 0 → every positive Δ: 0.6 / 5 = 0.12
  EXPECT_NEAR(ex.Value(rgate) / 0.2, 0.12, 1e-12);
  LldsOptions token = paper;
  token.gate = LldsGate::kToken;
  EXPECT_NEAR(ex.Value(token) / 0.2, 0.12, 1e-12);
}

TEST(Llds, AnswerMaskingPaperAndCode) {
  LldsExample ex;
  // Make the final action active: Δ = [0.3, 0.1].
  ex.logprobs[1][0] = -0.3;
  LldsOptions paper;
  paper.normalization = LldsNormalization::kPaper;
  paper.answer_masking = true;
  paper.answer_weight = 0.5;
  // Paper: λ(0.5 + β · 0.4)/5.
  EXPECT_NEAR(ex.Value(paper), 0.2 * (0.5 + 0.5 * 0.4) / 5, 1e-12);
  LldsOptions code;
  code.answer_masking = true;
  code.answer_weight = 0.5;  // min(β, λ) = λ: no change
  EXPECT_NEAR(ex.Value(code), 0.2 * (0.5 + 0.4) / 9, 1e-12);
  code.answer_weight = 0.05;  // min(β, λ) = 0.05 replaces λ on the answer
  EXPECT_NEAR(ex.Value(code), (0.2 * 0.5 + 0.05 * 0.4) / 9, 1e-12);
}

TEST(Llds, SilentBeforeThePolicyMovesAndOnNegativeRows) {
  LldsExample ex;
  RegularizerBatch b = Batch(ex.mask, ex.layout);  // logπ = logπ_old
  EXPECT_EQ(LldsRegularizer({}).Compute(b).loss.item<double>(), 0.0);
  // Only the negative row lost likelihood: nothing.
  b.logprobs = torch::zeros_like(ex.mask);
  b.logprobs[2] = -1.0;
  EXPECT_EQ(LldsRegularizer({}).Compute(b).loss.item<double>(), 0.0);
}

// ---- micro-batch shares ----

TEST(Regularizers, MicroBatchSharesAddUpToTheMinibatch) {
  LldsExample ex;
  at::Tensor ent = ex.logprobs.abs() + 0.5;
  at::Tensor ref = ex.logprobs - 0.3;
  std::vector<std::unique_ptr<Regularizer>> terms;
  for (auto norm : {LldsNormalization::kPaper, LldsNormalization::kCode}) {
    for (auto gate : {LldsGate::kAction, LldsGate::kToken}) {
      LldsOptions o;
      o.normalization = norm;
      o.gate = gate;
      terms.push_back(std::make_unique<LldsRegularizer>(o));
    }
  }
  EpoOptions epo;
  epo.kappa_low = 0.9;
  epo.kappa_high = 1.1;
  terms.push_back(std::make_unique<EpoRegularizer>(epo));
  terms.push_back(std::make_unique<EntropyBonus>(0.01, TermAggregation{false, LossAggregation::kSeqMeanTokenMean}));
  terms.push_back(std::make_unique<KlRegularizer>(0.1, KlEstimator::kK3, TermAggregation{}));
  IterationInfo info;
  info.entropy_mean = 1.0;
  for (auto& t : terms) {
    t->BeginIteration(info);
    info.step = 1;
    t->BeginIteration(info);
  }
  for (auto& t : terms) {
    RegularizerBatch whole = Batch(ex.mask, ex.layout);
    whole.logprobs = ex.logprobs;
    whole.entropies = ent;
    whole.ref_logprobs = ref;
    double all = t->Compute(whole).loss.item<double>();
    double parts = 0;
    for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, 1}, {1, 3}}) {
      RegularizerBatch micro = whole;
      micro.logprobs = ex.logprobs.slice(0, lo, hi);
      micro.old_logprobs = whole.old_logprobs.slice(0, lo, hi);
      micro.entropies = ent.slice(0, lo, hi);
      micro.ref_logprobs = ref.slice(0, lo, hi);
      micro.mask = ex.mask.slice(0, lo, hi);
      micro.members.clear();
      for (int64_t i = lo; i < hi; ++i) micro.members.push_back(static_cast<size_t>(i));
      parts += t->Compute(micro).loss.item<double>();
    }
    EXPECT_NEAR(all, parts, 1e-12) << t->Config().dump();
    EXPECT_NE(all, 0.0) << t->Config().dump();
  }
}

// ---- gradients against central differences (float64) ----

void GradCheck(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& point) {
  at::Tensor x = point.clone().set_requires_grad(true);
  f(x).backward();
  at::Tensor analytic = x.grad().reshape({-1});
  const double h = 1e-6;
  at::Tensor flat = point.reshape({-1});
  for (int64_t i = 0; i < flat.numel(); ++i) {
    at::Tensor up = flat.clone(), down = flat.clone();
    up[i] += h;
    down[i] -= h;
    double numeric =
        (f(up.reshape(point.sizes())).item<double>() - f(down.reshape(point.sizes())).item<double>()) / (2 * h);
    EXPECT_NEAR(analytic[i].item<double>(), numeric, 1e-8) << "element " << i;
  }
}

TEST(Gradients, RegularizersMatchFiniteDifferences) {
  LldsExample ex;
  // LLDS w.r.t. log-probs (away from Δ = 0 and from a row sum of 0).
  at::Tensor logp = ex.logprobs + 0.013;
  for (auto norm : {LldsNormalization::kPaper, LldsNormalization::kCode}) {
    for (auto gate : {LldsGate::kAction, LldsGate::kResponse, LldsGate::kToken}) {
      LldsOptions o;
      o.normalization = norm;
      o.gate = gate;
      o.answer_masking = true;
      o.answer_weight = 0.07;
      LldsRegularizer llds(o);
      GradCheck([&](const at::Tensor& x) {
        RegularizerBatch b = Batch(ex.mask, ex.layout);
        b.logprobs = x;
        return llds.Compute(b).loss;
      }, logp);
    }
  }
  // EPO (both forms, both histories) w.r.t. the token entropies, which carry its gradient.
  EpoExample ep;
  for (auto form : {EpoForm::kPaper, EpoForm::kCode}) {
    for (auto history : {EpoHistory::kScalar, EpoHistory::kPerTurn}) {
      EpoOptions o;
      o.form = form;
      o.history = history;
      o.late_turn = 0;
      o.kappa_low = 0.4;  // both sides of the corridor active
      EpoRegularizer epo(o);
      IterationInfo info;
      info.entropy_mean = 1.0;
      info.turn_entropy_mean = {{0, 1.0}, {1, 0.8}};
      epo.BeginIteration(info);
      info.step = 1;
      epo.BeginIteration(info);
      GradCheck([&](const at::Tensor& x) {
        RegularizerBatch b = Batch(ep.mask, ep.layout);
        b.entropies = x;
        return epo.Compute(b).loss;
      }, ep.entropies + 0.011);
    }
  }
  // KL and entropy bonus.
  at::Tensor ref = ex.logprobs - 0.2;
  KlRegularizer kl(0.3, KlEstimator::kK3, TermAggregation{true, LossAggregation::kTokenMean});
  GradCheck([&](const at::Tensor& x) {
    RegularizerBatch b = Batch(ex.mask, ex.layout);
    b.logprobs = x;
    b.ref_logprobs = ref;
    b.policy_aggregation = LossAggregation::kSeqMeanTokenMean;
    return kl.Compute(b).loss;
  }, logp);
  EntropyBonus bonus(0.01, TermAggregation{});
  GradCheck([&](const at::Tensor& x) {
    RegularizerBatch b = Batch(ex.mask, ex.layout);
    b.entropies = x;
    return bonus.Compute(b).loss;
  }, ex.logprobs.abs());
}

// ---- factory ----

std::string KeyOf(const Json& spec) {
  try {
    MakeRegularizer(spec, {});
  } catch (const ConfigError& e) {
    return e.key_path();
  }
  return "(no error)";
}

TEST(RegularizerFactory, DefaultsAndErrors) {
  auto epo = MakeRegularizer({{"name", "epo"}}, {.total_steps = 40, .max_turns = 30});
  EXPECT_EQ(epo->Config()["history"], "scalar");
  EXPECT_EQ(epo->Config()["include_current"], false);
  EXPECT_EQ(epo->Config()["total_steps"], 40);
  auto code = MakeRegularizer({{"name", "epo"}, {"form", "code"}}, {.total_steps = 40, .max_turns = 30});
  EXPECT_EQ(code->Config()["history"], "per_turn");
  EXPECT_EQ(code->Config()["include_current"], true);
  EXPECT_EQ(code->Config()["late_turn"], 15);
  EXPECT_EQ(MakeRegularizer({{"name", "llds"}}, {})->Config()["coef"], 0.2);
  EXPECT_TRUE(MakeRegularizer({{"name", "kl"}, {"coef", 0.01}}, {})->NeedsReference());
  EXPECT_TRUE(MakeRegularizer({{"name", "llds"}, {"gate", "response"}}, {})->NeedsWholeTrajectories());

  EXPECT_EQ(KeyOf({{"name", "epoo"}}), "name");
  EXPECT_EQ(KeyOf({{"coef", 1.0}}), "name");
  EXPECT_EQ(KeyOf({{"name", "epo"}, {"kapa_low", 0.1}}), "kapa_low");
  EXPECT_EQ(KeyOf({{"name", "epo"}, {"smooth_coeff", 2.0}}), "smooth_coeff");  // code-form key, paper form
  EXPECT_EQ(KeyOf({{"name", "epo"}, {"form", "code"}, {"beta_gamma", 2.0}}), "beta_gamma");
  EXPECT_EQ(KeyOf({{"name", "epo"}, {"kappa_low", 2.0}, {"kappa_high", 1.0}}), "kappa_high");
  EXPECT_EQ(KeyOf({{"name", "llds"}, {"gate", "chunk"}}), "gate");
  EXPECT_EQ(KeyOf({{"name", "llds"}, {"answer_weight", 0.1}}), "answer_weight");
  EXPECT_EQ(KeyOf({{"name", "kl"}, {"estimator", "k4"}}), "estimator");
  EXPECT_EQ(KeyOf({{"name", "entropy"}, {"coef", -1.0}}), "coef");
}

// ---- SeeUPO's schedule (worked example): reverse turns, corrections keyed by trajectory ----

TEST(SeeUpoSchedule, WorkedExampleWithShuffledRows) {
  const std::vector<std::string> group = {"A", "A", "A", "B", "B", "B"};
  const std::vector<double> score = {1, 0, 0, 1, 1, 1};
  const std::vector<int> turns = {3, 2, 3, 2, 2, 3};
  std::vector<AdvantageRow> rows;
  for (int i = 0; i < 6; ++i) {
    for (int t = 0; t < turns[i]; ++t) {
      AdvantageRow r;
      r.group_id = group[i];
      r.trajectory_id = "tau" + std::to_string(i + 1);
      r.turn = t;
      r.reward = t + 1 == turns[i] ? score[i] : 0.0;
      r.done = t + 1 == turns[i];
      rows.push_back(r);
    }
  }
  // Rows in a scrambled order: the correction must follow the trajectory, not the position.
  std::reverse(rows.begin(), rows.end());
  std::vector<RowAdvantage> base = SeeUpoEstimator().Compute(rows);
  std::vector<int> all_turns;
  for (const auto& r : rows) all_turns.push_back(r.turn);
  const std::map<int, std::vector<double>> log_ratio = {{2, {0.05, 0.0, -0.30, 0.0, 0.0, 0.10}},
                                                        {1, {0.25, -0.02, 0.0, 0.03, -0.40, 0.0}}};
  const std::map<int, std::vector<double>> expected = {{2, {1.8257, 0, -0.9129, 0, 0, 0}},
                                                       {1, {1.9193, -0.9129, -0.7303, 0, 0, 0}},
                                                       {0, {2.1909, -0.8948, -0.7303, 0, 0, 0}}};
  SeeUpoCorrection correction(0.2, 0.2);
  std::vector<int> order = ReverseTurnOrder(all_turns);
  ASSERT_EQ(order, (std::vector<int>{2, 1, 0}));
  for (int m : order) {
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].turn != m) continue;
      int tau = std::stoi(rows[i].trajectory_id.substr(3)) - 1;
      double a = base[i].advantage * correction.Factor(rows[i].trajectory_id);
      EXPECT_NEAR(a, expected.at(m)[static_cast<size_t>(tau)], 1e-4) << "turn " << m << " tau" << tau + 1;
    }
    if (!log_ratio.count(m)) continue;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].turn != m) continue;
      int tau = std::stoi(rows[i].trajectory_id.substr(3)) - 1;
      correction.Update(rows[i].trajectory_id, log_ratio.at(m)[static_cast<size_t>(tau)]);
    }
  }
  EXPECT_NEAR(correction.Factor("tau1"), 1.2, 1e-12);  // 1.0513 · 1.2 clipped
  EXPECT_NEAR(correction.Factor("tau3"), 0.8, 1e-12);
}

}  // namespace
}  // namespace turnwise
