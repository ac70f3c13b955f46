#include "training/advantages/advantage.h"

#include "core/error.h"
#include "core/text.h"

namespace turnwise {

void RowAdvantage::Set(std::string name, Json value) {
  for (AdvantagePart& part : parts) {
    if (part.name == name) {
      part.value = std::move(value);
      return;
    }
  }
  parts.push_back(AdvantagePart{std::move(name), std::move(value)});
}

const Json* RowAdvantage::Find(std::string_view name) const {
  for (const AdvantagePart& part : parts) {
    if (part.name == name) return &part.value;
  }
  return nullptr;
}

namespace {

const Json& Require(const RowAdvantage& row, std::string_view name) {
  if (const Json* value = row.Find(name)) return *value;
  std::vector<std::string> names;
  for (const AdvantagePart& part : row.parts) names.push_back(part.name);
  throw NotFound(UnknownNameMessage("advantage part", name, names));
}

}  // namespace

double RowAdvantage::Number(std::string_view name) const {
  const Json& value = Require(*this, name);
  if (!value.is_number()) {
    throw InvalidArgument("advantage part '" + std::string(name) + "' is " + JsonTypeName(value) +
                          ", not a number");
  }
  return value.get<double>();
}

std::string RowAdvantage::Text(std::string_view name) const {
  const Json& value = Require(*this, name);
  if (!value.is_string()) {
    throw InvalidArgument("advantage part '" + std::string(name) + "' is " + JsonTypeName(value) +
                          ", not a string");
  }
  return value.get<std::string>();
}

Json RowAdvantage::ToJson() const {
  Json out_parts = Json::object();
  for (const AdvantagePart& part : parts) out_parts[part.name] = part.value;
  return Json{{"advantage", advantage}, {"parts", std::move(out_parts)}};
}

std::string_view GroupStatisticsName(GroupStatistics statistics) {
  return statistics == GroupStatistics::kStepWeighted ? "step_weighted" : "per_trajectory";
}

GroupStatistics ParseGroupStatistics(std::string_view name) {
  if (name == "step_weighted") return GroupStatistics::kStepWeighted;
  TURNWISE_CHECK_MSG(name == "per_trajectory", "unvalidated statistics name: " + std::string(name));
  return GroupStatistics::kPerTrajectory;
}

}  // namespace turnwise
