#include "training/advantages/empg.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "training/advantages/internal/common.h"

namespace turnwise {

using advantages_internal::BatchIndex;
using advantages_internal::MakeField;

EmpgEstimator::EmpgEstimator(std::unique_ptr<AdvantageEstimator> base, EmpgOptions options)
    : base_(std::move(base)), options_(options) {
  TURNWISE_CHECK_MSG(base_ != nullptr, "EMPG needs a base estimator");
}

ConfigSchema EmpgEstimator::Schema() {
  ConfigSchema schema;
  schema.Add("base", FieldType::kString, "grpo",
             "estimator whose advantage EMPG modulates (the paper uses GRPO and DAPO)");
  schema.Add("base_config", FieldType::kOpen, Json::object(), "the base estimator's own config");
  schema.Add("k", FieldType::kNumber, 1.0, "sharpness of g = exp(-k H~) / mean");
  schema.Add("k_f", FieldType::kNumber, 1.0, "k': sharpness of the bonus f = exp(-k' H~_next)");
  schema.Add("zeta", FieldType::kNumber, 0.1, "weight of the future-clarity bonus");
  schema.Add(MakeField("epsilon", FieldType::kNumber, 1e-8,
                       "in the min-max normalisation and the mean-of-g division", {}, 0.0));
  return schema;
}

std::unique_ptr<EmpgEstimator> EmpgEstimator::FromConfig(const Json& config) {
  Json c = advantages_internal::ValidateConfig(Schema(), config);
  const std::string base_name = c["base"].get<std::string>();
  if (base_name == "empg") {
    throw ConfigError("base", "EMPG cannot modulate itself; choose another estimator");
  }
  std::vector<std::string> known = AdvantageEstimatorNames();
  if (std::find(known.begin(), known.end(), base_name) == known.end()) {
    throw ConfigError("base", UnknownNameMessage("advantage estimator", base_name, known));
  }
  std::unique_ptr<AdvantageEstimator> base;
  try {
    base = MakeAdvantageEstimator(base_name, c["base_config"]);
  } catch (const ConfigError& e) {
    throw e.Under("base_config");
  }
  EmpgOptions o;
  o.k = c["k"].get<double>();
  o.k_f = c["k_f"].get<double>();
  o.zeta = c["zeta"].get<double>();
  o.epsilon = c["epsilon"].get<double>();
  return std::make_unique<EmpgEstimator>(std::move(base), o);
}

Json EmpgEstimator::Config() const {
  return {{"base", base_->Name()}, {"base_config", base_->Config()}, {"k", options_.k},
          {"k_f", options_.k_f},   {"zeta", options_.zeta},          {"epsilon", options_.epsilon}};
}

std::vector<RowAdvantage> EmpgEstimator::Compute(const std::vector<AdvantageRow>& rows) const {
  std::vector<RowAdvantage> base_out = base_->Compute(rows);
  std::vector<RowAdvantage> out(rows.size());
  if (rows.empty()) return out;
  const BatchIndex index = advantages_internal::IndexRows(rows);
  const size_t n = rows.size();

  double h_min = rows[0].entropy, h_max = rows[0].entropy;
  for (const AdvantageRow& row : rows) {
    h_min = std::min(h_min, row.entropy);
    h_max = std::max(h_max, row.entropy);
  }
  std::vector<double> h_norm(n), g_raw(n);
  double g_sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    h_norm[i] = (rows[i].entropy - h_min) / (h_max - h_min + options_.epsilon);
    g_raw[i] = std::exp(-options_.k * h_norm[i]);
    g_sum += g_raw[i];
  }
  const double g_mean = g_sum / static_cast<double>(n);

  std::vector<double> modulated(n);
  double modulated_sum = 0.0;
  for (size_t i = 0; i < n; ++i) {
    RowAdvantage& r = out[i];
    const double base_advantage = base_out[i].advantage;
    r.Set("base_advantage", base_advantage);
    for (const AdvantagePart& part : base_out[i].parts) r.Set("base." + part.name, part.value);
    const double g = g_raw[i] / (g_mean + options_.epsilon);
    r.Set("entropy", rows[i].entropy);
    r.Set("entropy_min", h_min);
    r.Set("entropy_max", h_max);
    r.Set("entropy_normalized", h_norm[i]);
    r.Set("g_raw", g_raw[i]);
    r.Set("g_batch_mean", g_mean);
    r.Set("g", g);
    r.Set("f", std::exp(-options_.k_f * h_norm[i]));

    const auto& trajectory = index.trajectories[index.trajectory_of_row[i]];
    const size_t position = index.position_in_trajectory[i];
    const bool has_next = position + 1 < trajectory.rows.size();
    double f_next = 0.0;
    r.Set("has_next_step", has_next);
    if (has_next) {
      const double next_h = h_norm[trajectory.rows[position + 1]];
      f_next = std::exp(-options_.k_f * next_h);
      r.Set("next_entropy_normalized", next_h);
    }
    r.Set("f_next", f_next);
    modulated[i] = g * base_advantage + options_.zeta * f_next;
    r.Set("modulated_advantage", modulated[i]);
    modulated_sum += modulated[i];
  }
  const double batch_mean = modulated_sum / static_cast<double>(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].Set("batch_mean", batch_mean);
    out[i].advantage = modulated[i] - batch_mean;
  }
  return out;
}

}  // namespace turnwise
