#include "envs/internal/grid_env_util.h"

#include <tuple>

#include "core/error.h"
#include "core/text.h"

namespace turnwise::envs_internal {

std::pair<std::string, int64_t> ParseTaskId(const std::string& env, const std::string& task_id) {
  const size_t slash = task_id.find('/');
  const std::string number = slash == std::string::npos ? "" : task_id.substr(slash + 1);
  bool digits = !number.empty() && number.size() <= 18;
  for (char c : number) digits = digits && c >= '0' && c <= '9';
  if (slash == 0 || slash == std::string::npos || !digits) {
    throw InvalidArgument(env + " task id '" + task_id + "' must look like 'train/12'");
  }
  return {task_id.substr(0, slash), std::stoll(number)};
}

std::pair<std::string, int64_t> ResolveTask(const std::string& env, const ResetOptions& options,
                                            const std::map<std::string, int64_t>& sizes) {
  std::string split = options.split.empty() ? "train" : options.split;
  int64_t index = -1;
  if (!options.task_id.empty()) std::tie(split, index) = ParseTaskId(env, options.task_id);
  auto it = sizes.find(split);
  if (it == sizes.end() || it->second <= 0) {
    std::vector<std::string> known;
    for (const auto& [name, n] : sizes) known.push_back(name);
    throw InvalidArgument(env + ": " + UnknownNameMessage("split", split, known));
  }
  if (options.task_id.empty()) index = static_cast<int64_t>(options.seed % static_cast<uint64_t>(it->second));
  if (index < 0 || index >= it->second) {
    throw InvalidArgument(env + ": task index " + std::to_string(index) + " is outside " + split + " (0.." +
                          std::to_string(it->second - 1) + ")");
  }
  return {split, index};
}

const std::map<std::string, int64_t>& SeedSplits() {
  static const std::map<std::string, int64_t> kSplits = {{"train", int64_t{1} << 16},
                                                         {"valid", (int64_t{1} << 32) - (int64_t{1} << 16)}};
  return kSplits;
}

uint64_t SplitSeed(const std::string& split, int64_t index) {
  return (split == "train" ? 0 : uint64_t{1} << 16) + static_cast<uint64_t>(index);
}

const std::vector<std::string>& GridLayouts() {
  static const std::vector<std::string> kLayouts = {"spaced", "compact", "tabbed"};
  return kLayouts;
}

std::string RenderGrid(const std::vector<std::vector<std::string>>& rows, const std::string& layout) {
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (r > 0) out += '\n';
    for (size_t c = 0; c < rows[r].size(); ++c) {
      if (layout == "compact") {
        out += rows[r][c];
      } else if (layout == "tabbed") {
        out += " " + rows[r][c] + " \t";
      } else {
        if (c > 0) out += ' ';
        out += rows[r][c];
      }
    }
  }
  return out;
}

}  // namespace turnwise::envs_internal
