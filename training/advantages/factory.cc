// MakeAdvantageEstimator: the one table of estimator names, schemas and constructors.
#include <functional>

#include "core/error.h"
#include "training/advantages/advantage.h"
#include "training/advantages/empg.h"
#include "training/advantages/gae.h"
#include "training/advantages/gigpo.h"
#include "training/advantages/grpo.h"
#include "training/advantages/reinforce_pp.h"
#include "training/advantages/rloo.h"
#include "training/advantages/seeupo.h"

namespace turnwise {
namespace {

struct EstimatorEntry {
  const char* name;
  ConfigSchema (*schema)();
  std::function<std::unique_ptr<AdvantageEstimator>(const Json&)> make;
};

// Sorted by name.
const std::vector<EstimatorEntry>& Entries() {
  static const std::vector<EstimatorEntry> entries = {
      {"dr_grpo", &GrpoEstimator::DrGrpoSchema, &GrpoEstimator::DrGrpoFromConfig},
      {"empg", &EmpgEstimator::Schema, &EmpgEstimator::FromConfig},
      {"gae", &GaeEstimator::Schema, &GaeEstimator::FromConfig},
      {"gigpo", &GigpoEstimator::Schema, &GigpoEstimator::FromConfig},
      {"grpo", &GrpoEstimator::Schema, &GrpoEstimator::FromConfig},
      {"loop", &LoopEstimator::Schema, &LoopEstimator::FromConfig},
      {"reinforce_plus_plus", &ReinforcePpEstimator::Schema, &ReinforcePpEstimator::FromConfig},
      {"reinforce_plus_plus_baseline", &ReinforcePpEstimator::BaselineSchema,
       &ReinforcePpEstimator::BaselineFromConfig},
      {"rloo", &RlooEstimator::Schema, &RlooEstimator::FromConfig},
      {"seeupo", &SeeUpoEstimator::Schema, &SeeUpoEstimator::FromConfig},
  };
  return entries;
}

const EstimatorEntry& Lookup(const std::string& name) {
  for (const EstimatorEntry& entry : Entries()) {
    if (name == entry.name) return entry;
  }
  throw ConfigError("", UnknownNameMessage("advantage estimator", name, AdvantageEstimatorNames()));
}

}  // namespace

std::vector<std::string> AdvantageEstimatorNames() {
  std::vector<std::string> names;
  for (const EstimatorEntry& entry : Entries()) names.emplace_back(entry.name);
  return names;
}

ConfigSchema AdvantageEstimatorSchema(const std::string& name) { return Lookup(name).schema(); }

std::unique_ptr<AdvantageEstimator> MakeAdvantageEstimator(const std::string& name,
                                                           const Json& config) {
  return Lookup(name).make(config);
}

}  // namespace turnwise
