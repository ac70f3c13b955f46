#include "training/regularizers.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"

namespace turnwise {
namespace {

at::Tensor Share(const at::Tensor& per_token, const RegularizerBatch& b, const TermAggregation& agg) {
  LossAggregation mode = agg.follow_policy ? b.policy_aggregation : agg.mode;
  return AggregateShare(per_token, b.mask, mode, *b.layout, b.members, b.norm_length);
}

std::string AggregationName(const TermAggregation& a) {
  return a.follow_policy ? "policy" : AggregationNames()[static_cast<size_t>(a.mode)];
}

// Per tensor row: the row's token mean of `x` (0 for an empty row).
at::Tensor RowMean(const at::Tensor& x, const at::Tensor& mask) {
  return (x * mask).sum(1) / mask.sum(1).clamp_min(1.0);
}

at::Tensor RowTensor(const std::vector<double>& v, const at::Tensor& like) {
  return torch::tensor(v, like.options().requires_grad(false));
}

double Scalar(const at::Tensor& t) { return t.detach().item<double>(); }

}  // namespace

// ---- entropy and KL ----

Json EntropyBonus::Config() const { return {{"name", "entropy"}, {"coef", coef_}, {"aggregation", AggregationName(aggregation_)}}; }

RegularizerTerm EntropyBonus::Compute(const RegularizerBatch& b) const {
  at::Tensor h = Share(b.entropies, b, aggregation_);
  return {-coef_ * h, {{"entropy", Scalar(h)}}};
}

Json KlRegularizer::Config() const {
  static const char* names[] = {"k1", "k2", "k3", "k3+"};
  return {{"name", "kl"},
          {"coef", coef_},
          {"estimator", names[static_cast<int>(estimator_)]},
          {"aggregation", AggregationName(aggregation_)}};
}

RegularizerTerm KlRegularizer::Compute(const RegularizerBatch& b) const {
  TORCH_CHECK(b.ref_logprobs.defined(), "the KL term needs reference log-probs");
  at::Tensor kl = Share(KlPenalty(b.logprobs, b.ref_logprobs, estimator_), b, aggregation_);
  return {coef_ * kl, {{"kl", Scalar(kl)}}};
}

// ---- EPO ----

double EpoPhaseWeight(int64_t k, int64_t total_steps, double gamma) {
  double mid = std::max<int64_t>(1, total_steps / 2);
  return 1.0 + std::exp(-gamma * static_cast<double>(k) / mid);
}

double EpoCodeEpochWeight(int64_t epoch, int64_t max_epochs) {
  int64_t half = std::max<int64_t>(1, max_epochs / 2);
  double e = static_cast<double>(epoch);
  if (epoch <= half) return 1.0 - 0.2 * (1.0 - std::exp(-2.0 * e / static_cast<double>(half)));
  double rest = static_cast<double>(std::max<int64_t>(1, max_epochs - half));
  return 0.8 * std::exp(-3.0 * (e - static_cast<double>(half)) / rest);
}

Json EpoRegularizer::Config() const {
  const EpoOptions& o = options_;
  Json j = {{"name", "epo"},
            {"coef", o.coef},
            {"form", o.form == EpoForm::kPaper ? "paper" : "code"},
            {"smoothing", o.smoothing},
            {"kappa_low", o.kappa_low},
            {"kappa_high", o.kappa_high},
            {"alpha", o.alpha},
            {"total_steps", o.total_steps},
            {"history", o.history == EpoHistory::kScalar ? "scalar" : "per_turn"},
            {"include_current", o.include_current}};
  if (o.form == EpoForm::kPaper) {
    j["beta_gamma"] = o.beta_gamma;
  } else {
    j["smooth_coeff"] = o.smooth_coeff;
    j["epoch_weights"] = o.epoch_weights;
    j["max_epochs"] = o.max_epochs;
    j["late_turn"] = o.late_turn;
  }
  return j;
}

void EpoRegularizer::BeginIteration(const IterationInfo& info) {
  step_ = info.step;
  auto fix_reference = [&] {
    has_scalar_reference_ = !history_.empty();
    scalar_reference_ = 0;
    for (double h : history_) scalar_reference_ += h;
    if (has_scalar_reference_) scalar_reference_ /= static_cast<double>(history_.size());
    std::map<int, std::pair<double, int>> sums;
    for (const auto& step : turn_history_) {
      for (const auto& [turn, h] : step) {
        sums[turn].first += h;
        sums[turn].second += 1;
      }
    }
    turn_reference_.clear();
    for (const auto& [turn, s] : sums) turn_reference_[turn] = s.first / s.second;
  };
  auto record = [&] {
    history_.push_back(info.entropy_mean);
    turn_history_.push_back(info.turn_entropy_mean);
  };
  if (options_.include_current) {
    record();
    fix_reference();
  } else {
    fix_reference();
    record();
  }
}

bool EpoRegularizer::Reference(int turn, double* value) const {
  if (options_.history == EpoHistory::kScalar) {
    *value = scalar_reference_;
    return has_scalar_reference_;
  }
  auto it = turn_reference_.find(turn);
  if (it == turn_reference_.end()) return false;
  *value = it->second;
  return true;
}

std::vector<std::pair<std::string, double>> EpoRegularizer::IterationMetrics() const {
  std::vector<std::pair<std::string, double>> m;
  if (options_.form == EpoForm::kPaper) {
    m.emplace_back("beta", EpoPhaseWeight(step_, options_.total_steps, options_.beta_gamma));
  } else if (options_.epoch_weights) {
    m.emplace_back("epoch_weight", EpoCodeEpochWeight(step_, options_.max_epochs));
  }
  if (has_scalar_reference_) m.emplace_back("reference_entropy", scalar_reference_);
  return m;
}

RegularizerTerm EpoRegularizer::Compute(const RegularizerBatch& b) const {
  const EpoOptions& o = options_;
  const MinibatchLayout& layout = *b.layout;
  const int64_t rows = b.mask.size(0);
  // Each row's reference entropy (or none).
  std::vector<double> reference(static_cast<size_t>(rows), 0.0), has_reference(static_cast<size_t>(rows), 0.0);
  bool late = false;
  for (int64_t i = 0; i < rows; ++i) {
    const MinibatchRow& r = layout.rows().at(b.members[static_cast<size_t>(i)]);
    double h = 0;
    if (Reference(r.turn, &h)) {
      reference[static_cast<size_t>(i)] = h;
      has_reference[static_cast<size_t>(i)] = 1.0;
    }
    late = late || (r.turn >= o.late_turn && r.tokens > 0);
  }
  at::Tensor ref = RowTensor(reference, b.entropies).unsqueeze(1);
  at::Tensor ref_present = RowTensor(has_reference, b.entropies).unsqueeze(1);
  RegularizerTerm term;
  if (o.form == EpoForm::kPaper) {
    // 1 / (B · T_j): trajectories of the minibatch, turns of this row's trajectory.
    std::vector<double> w(static_cast<size_t>(rows), 0.0);
    for (int64_t i = 0; i < rows; ++i) {
      const MinibatchRow& r = layout.rows().at(b.members[static_cast<size_t>(i)]);
      double turns = layout.TrajectoryRows(r.trajectory);
      if (r.tokens > 0 && turns > 0) w[static_cast<size_t>(i)] = 1.0 / (layout.trajectories() * turns);
    }
    at::Tensor weights = RowTensor(w, b.entropies);
    at::Tensor l_h = (weights * RowMean(b.entropies, b.mask)).sum();
    at::Tensor l_smooth = at::zeros({}, b.entropies.options());
    if (o.smoothing) {
      at::Tensor p = at::relu(o.kappa_low * ref - b.entropies) + at::relu(b.entropies - o.kappa_high * ref);
      l_smooth = (weights * RowMean(o.alpha * p * ref_present, b.mask)).sum();
    }
    double beta = EpoPhaseWeight(step_, o.total_steps, o.beta_gamma);
    term.loss = -o.coef * (l_h - beta * l_smooth);
    term.metrics = {{"entropy", Scalar(l_h)}, {"smooth", Scalar(l_smooth)}};
  } else {
    TermAggregation policy{true, b.policy_aggregation};
    at::Tensor l_h = Share(b.entropies, b, policy);
    at::Tensor mask_term = at::zeros({}, b.entropies.options());
    if (o.smoothing && late) {
      at::NoGradGuard no_grad;
      at::Tensor h = b.entropies.detach();
      // Within the open corridor → 0, else α (a token at a bound counts as out, as in the code).
      at::Tensor within = (h > o.kappa_low * ref) & (h < o.kappa_high * ref);
      at::Tensor out = at::where(within, at::zeros_like(h), at::full_like(h, o.alpha)) * ref_present;
      mask_term = Share(out, b, policy);
    }
    double w = o.epoch_weights ? EpoCodeEpochWeight(step_, o.max_epochs) : 1.0;
    term.loss = -o.coef * (l_h - o.smooth_coeff * w * mask_term);
    term.metrics = {{"entropy", Scalar(l_h)}, {"smooth", Scalar(mask_term)}};
  }
  return term;
}

Json EpoRegularizer::State() const {
  Json turns = Json::array();
  for (const auto& step : turn_history_) {
    Json s = Json::object();
    for (const auto& [turn, h] : step) s[std::to_string(turn)] = h;
    turns.push_back(s);
  }
  return {{"history", history_}, {"turn_history", turns}};
}

void EpoRegularizer::LoadState(const Json& state) {
  if (!state.is_object()) return;
  history_ = state.value("history", std::vector<double>{});
  turn_history_.clear();
  for (const auto& s : state.value("turn_history", Json::array())) {
    std::map<int, double> step;
    for (auto it = s.begin(); it != s.end(); ++it) step[std::stoi(it.key())] = it.value().get<double>();
    turn_history_.push_back(std::move(step));
  }
}

// ---- LLDS ----

Json LldsRegularizer::Config() const {
  const LldsOptions& o = options_;
  static const char* gates[] = {"action", "response", "token"};
  return {{"name", "llds"},
          {"coef", o.coef},
          {"gate", gates[static_cast<int>(o.gate)]},
          {"normalization", o.normalization == LldsNormalization::kPaper ? "paper" : "code"},
          {"answer_masking", o.answer_masking},
          {"answer_weight", o.answer_weight}};
}

RegularizerTerm LldsRegularizer::Compute(const RegularizerBatch& b) const {
  const LldsOptions& o = options_;
  const MinibatchLayout& layout = *b.layout;
  const int64_t rows = b.mask.size(0);
  at::Tensor delta = (b.old_logprobs - b.logprobs) * b.mask;
  at::Tensor positive = at::relu(delta);
  at::Tensor row_delta = delta.detach().sum(1).to(at::kDouble).contiguous();
  auto row_sum = [&](int64_t i) { return row_delta[i].item<double>(); };

  auto preserving = [&](const MinibatchRow& r) { return r.advantage >= 0 && r.tokens > 0; };
  // R-gate: Σ Δ over each episode's preserving rows in this micro-batch (the trainer keeps
  // episodes whole in a micro-batch when this gate is on).
  std::unordered_map<int64_t, double> episode_delta;
  if (o.gate == LldsGate::kResponse) {
    for (int64_t i = 0; i < rows; ++i) {
      const MinibatchRow& r = layout.rows().at(b.members[static_cast<size_t>(i)]);
      if (preserving(r)) episode_delta[r.trajectory] += row_sum(i);
    }
  }
  // Paper normalisation: |Y_pre| and each episode's preserving tokens, over the minibatch.
  std::unordered_map<int64_t, double> preserving_tokens;
  if (o.normalization == LldsNormalization::kPaper) {
    for (const auto& r : layout.rows()) {
      if (preserving(r)) preserving_tokens[r.trajectory] += static_cast<double>(r.tokens);
    }
  }
  const double episodes = static_cast<double>(preserving_tokens.size());
  const double answer_coef =
      o.normalization == LldsNormalization::kPaper ? o.coef * o.answer_weight : std::min(o.answer_weight, o.coef);
  std::vector<double> weight(static_cast<size_t>(rows), 0.0);
  double active_rows = 0;
  for (int64_t i = 0; i < rows; ++i) {
    const MinibatchRow& r = layout.rows().at(b.members[static_cast<size_t>(i)]);
    if (!preserving(r)) continue;
    bool active = true;
    if (o.gate == LldsGate::kAction) active = row_sum(i) > 0;
    if (o.gate == LldsGate::kResponse) active = episode_delta[r.trajectory] > 0;
    if (!active) continue;
    active_rows += 1;
    double coef = o.answer_masking && r.last_turn ? answer_coef : o.coef;
    double norm = o.normalization == LldsNormalization::kPaper
                      ? episodes * preserving_tokens[r.trajectory]
                      : layout.tokens();
    weight[static_cast<size_t>(i)] = norm > 0 ? coef / norm : 0.0;
  }
  at::Tensor loss = (RowTensor(weight, positive) * positive.sum(1)).sum();
  return {loss, {{"penalty", Scalar(loss)}, {"active_rows", active_rows}}};
}

// ---- factory ----

namespace {

std::vector<std::string> TermAggregationChoices() {
  std::vector<std::string> c = AggregationNames();
  c.insert(c.begin(), "policy");
  return c;
}

TermAggregation ParseTermAggregation(const std::string& name) {
  if (name == "policy") return {true, LossAggregation::kTokenMean};
  return {false, ParseAggregation(name, "aggregation")};
}

}  // namespace

std::vector<std::string> RegularizerNames() { return {"entropy", "epo", "kl", "llds"}; }

ConfigSchema RegularizerSchema(const std::string& name) {
  ConfigSchema s;
  s.Add({.path = "name", .type = FieldType::kString, .default_value = name, .help = "the term",
         .choices = RegularizerNames()});
  if (name == "entropy") {
    s.Add({.path = "coef", .type = FieldType::kNumber, .default_value = 0.0, .help = "weight of −H", .min = 0.0});
    s.Add({.path = "aggregation", .type = FieldType::kString, .default_value = "token-mean",
           .help = "how token entropies are averaged (\"policy\": as the policy loss)",
           .choices = TermAggregationChoices()});
  } else if (name == "kl") {
    s.Add({.path = "coef", .type = FieldType::kNumber, .default_value = 0.0, .help = "KL weight", .min = 0.0});
    s.Add({.path = "estimator", .type = FieldType::kString, .default_value = "k3",
           .help = "k1, k2, k3 (low_var_kl) or k3+", .choices = {"k1", "k2", "k3", "k3+", "low_var_kl"}});
    s.Add({.path = "aggregation", .type = FieldType::kString, .default_value = "token-mean",
           .help = "how token KLs are averaged (\"policy\": as the policy loss)",
           .choices = TermAggregationChoices()});
  } else if (name == "epo") {
    s.Add({.path = "coef", .type = FieldType::kNumber, .default_value = 0.001, .help = "λ", .min = 0.0});
    s.Add({.path = "form", .type = FieldType::kString, .default_value = "paper",
           .help = "paper (Eq. 2-6) or code (the released implementation)", .choices = {"paper", "code"}});
    s.Add("smoothing", FieldType::kBool, true, "the entropy-smoothing corridor");
    s.Add({.path = "kappa_low", .type = FieldType::kNumber, .default_value = 0.0, .help = "κ_l", .min = 0.0});
    s.Add({.path = "kappa_high", .type = FieldType::kNumber, .default_value = 2.0, .help = "κ_r", .min = 0.0});
    s.Add({.path = "alpha", .type = FieldType::kNumber, .default_value = 0.1, .help = "α, penalty weight", .min = 0.0});
    s.Add({.path = "total_steps", .type = FieldType::kInt, .default_value = 0,
           .help = "K for β_k (0: train.iterations)", .min = 0});
    s.Add({.path = "history", .type = FieldType::kString, .default_value = Json(),
           .help = "scalar or per_turn (default: paper scalar, code per_turn)", .choices = {"scalar", "per_turn"}});
    s.Add({.path = "include_current", .type = FieldType::kBool, .default_value = Json(),
           .help = "reference includes this step's rollout (default: paper false, code true)"});
    s.Add({.path = "beta_gamma", .type = FieldType::kNumber, .default_value = Json(),
           .help = "γ of β_k, paper form (default 3.0)", .min = 0.0});
    s.Add({.path = "smooth_coeff", .type = FieldType::kNumber, .default_value = Json(),
           .help = "code form: entropy_smooth_coeff (default 1.0)", .min = 0.0});
    s.Add({.path = "epoch_weights", .type = FieldType::kBool, .default_value = Json(),
           .help = "code form: enable_smooth_weights (default true)"});
    s.Add({.path = "max_epochs", .type = FieldType::kInt, .default_value = Json(),
           .help = "code form: the epoch schedule's length (default 150)", .min = 1});
    s.Add({.path = "late_turn", .type = FieldType::kInt, .default_value = Json(),
           .help = "code form: smoothing only with a row at this turn or later (default rollout.max_turns/2)",
           .min = 0});
  } else if (name == "llds") {
    s.Add({.path = "coef", .type = FieldType::kNumber, .default_value = 0.2, .help = "λ", .min = 0.0});
    s.Add({.path = "gate", .type = FieldType::kString, .default_value = "action",
           .help = "action (A-gate), response (R-gate) or token (none)", .choices = {"action", "response", "token"}});
    s.Add({.path = "normalization", .type = FieldType::kString, .default_value = "code",
           .help = "code (all minibatch tokens) or paper (per preserving episode)", .choices = {"code", "paper"}});
    s.Add("answer_masking", FieldType::kBool, false, "LLDS-MA: weight the final action's tokens by answer_weight");
    s.Add({.path = "answer_weight", .type = FieldType::kNumber, .default_value = 0.2, .help = "β (MASK_WEIGHT)",
           .min = 0.0});
  } else {
    throw ConfigError("name", UnknownNameMessage("regularizer", name, RegularizerNames()));
  }
  return s;
}

std::unique_ptr<Regularizer> MakeRegularizer(const Json& spec, const RegularizerContext& context) {
  if (!spec.is_object()) throw ConfigError("", "a regularizer is an object {\"name\": ..., options}");
  if (!spec.contains("name") || !spec["name"].is_string()) {
    throw ConfigError("name", "is required: one of entropy, epo, kl, llds");
  }
  const std::string name = spec["name"];
  Json c = RegularizerSchema(name).Validate(spec);
  if (name == "entropy") return std::make_unique<EntropyBonus>(c["coef"].get<double>(), ParseTermAggregation(c["aggregation"]));
  if (name == "kl") {
    return std::make_unique<KlRegularizer>(c["coef"].get<double>(), ParseKlEstimator(c["estimator"], "estimator"),
                                           ParseTermAggregation(c["aggregation"]));
  }
  if (name == "llds") {
    LldsOptions o;
    o.coef = c["coef"];
    std::string gate = c["gate"];
    o.gate = gate == "action" ? LldsGate::kAction : gate == "response" ? LldsGate::kResponse : LldsGate::kToken;
    o.normalization = c["normalization"] == "paper" ? LldsNormalization::kPaper : LldsNormalization::kCode;
    o.answer_masking = c["answer_masking"];
    o.answer_weight = c["answer_weight"];
    if (spec.contains("answer_weight") && !o.answer_masking) {
      throw ConfigError("answer_weight", "has no effect without answer_masking: true");
    }
    return std::make_unique<LldsRegularizer>(o);
  }
  // epo
  EpoOptions o;
  o.coef = c["coef"];
  o.form = c["form"] == "paper" ? EpoForm::kPaper : EpoForm::kCode;
  const bool paper = o.form == EpoForm::kPaper;
  for (const char* key : {"smooth_coeff", "epoch_weights", "max_epochs", "late_turn"}) {
    if (paper && c.contains(key)) {
      throw ConfigError(key, "belongs to form \"code\" (the released implementation); the paper form weights the "
                             "corridor by β_k instead");
    }
  }
  if (!paper && c.contains("beta_gamma")) {
    throw ConfigError("beta_gamma", "belongs to form \"paper\"; the code form uses its epoch schedule "
                                    "(epoch_weights, max_epochs)");
  }
  o.smoothing = c["smoothing"];
  o.kappa_low = c["kappa_low"];
  o.kappa_high = c["kappa_high"];
  if (o.kappa_high <= o.kappa_low) {
    throw ConfigError("kappa_high", "must exceed kappa_low (" + std::to_string(o.kappa_low) + "): the corridor is empty");
  }
  o.alpha = c["alpha"];
  int64_t k = c["total_steps"];
  o.total_steps = k > 0 ? k : std::max<int64_t>(1, context.total_steps);
  o.history = c.contains("history") ? (c["history"] == "scalar" ? EpoHistory::kScalar : EpoHistory::kPerTurn)
                                    : (paper ? EpoHistory::kScalar : EpoHistory::kPerTurn);
  o.include_current = c.contains("include_current") ? c["include_current"].get<bool>() : !paper;
  o.beta_gamma = c.value("beta_gamma", 3.0);
  o.smooth_coeff = c.value("smooth_coeff", 1.0);
  o.epoch_weights = c.value("epoch_weights", true);
  o.max_epochs = c.value("max_epochs", int64_t{150});
  o.late_turn = c.value("late_turn", context.max_turns / 2);
  return std::make_unique<EpoRegularizer>(o);
}

}  // namespace turnwise
