#include "training/schedules.h"

#include <algorithm>
#include <cmath>
#include <map>

namespace turnwise {

double OverlongPenalty(int64_t length, int64_t max_length, int64_t buffer, double factor) {
  if (buffer <= 0) return 0.0;
  double expected = static_cast<double>(max_length - buffer);
  double exceed = static_cast<double>(length) - expected;
  return std::min(-exceed / static_cast<double>(buffer) * factor, 0.0);
}

std::set<std::string> ZeroVarianceGroups(const std::vector<std::pair<std::string, double>>& samples) {
  std::map<std::string, std::pair<double, double>> range;  // min, max
  std::map<std::string, int> count;
  for (const auto& [group, v] : samples) {
    auto [it, fresh] = range.try_emplace(group, v, v);
    if (!fresh) {
      it->second.first = std::min(it->second.first, v);
      it->second.second = std::max(it->second.second, v);
    }
    ++count[group];
  }
  std::set<std::string> dead;
  for (const auto& [group, r] : range) {
    if (count[group] > 1 && r.first == r.second) dead.insert(group);
  }
  return dead;
}

std::vector<int> ReverseTurnOrder(const std::vector<int>& turns) {
  std::set<int> distinct(turns.begin(), turns.end());
  return std::vector<int>(distinct.rbegin(), distinct.rend());
}

std::vector<bool> KeepNonZeroAdvantage(const std::vector<double>& advantages, double threshold) {
  std::vector<bool> keep(advantages.size());
  for (size_t i = 0; i < advantages.size(); ++i) keep[i] = std::abs(advantages[i]) >= threshold;
  return keep;
}

}  // namespace turnwise
