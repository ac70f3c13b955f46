// Pieces the built-in grid and task-numbered environments share: the "split/index" task id,
// the text layouts of a grid, and the seed-numbered splits of the grid worlds.
#ifndef TURNWISE_ENVS_INTERNAL_GRID_ENV_UTIL_H_
#define TURNWISE_ENVS_INTERNAL_GRID_ENV_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "envs/env.h"

namespace turnwise::envs_internal {

// "train/12" -> ("train", 12). Throws InvalidArgument naming `env` and the id when it is not
// "<split>/<non-negative integer>".
std::pair<std::string, int64_t> ParseTaskId(const std::string& env, const std::string& task_id);

// The split and index a reset plays: the task id's when given, else `split` (train when empty)
// and seed % size. Throws InvalidArgument for an unknown split (listing `sizes`' names) or an
// index outside it.
std::pair<std::string, int64_t> ResolveTask(const std::string& env, const ResetOptions& options,
                                            const std::map<std::string, int64_t>& sizes);

// The grid worlds' splits (verl-agent's Sokoban seeds): "train" = generator seeds [0, 2^16),
// "valid" = seeds from 2^16 up (2^32 - 2^16 of them).
const std::map<std::string, int64_t>& SeedSplits();
// The generator seed of task `index` of `split` (one of SeedSplits()).
uint64_t SplitSeed(const std::string& split, int64_t index);

// The known grid layouts: "spaced" (cells separated by one space), "compact" (cells side by
// side), "tabbed" (each cell as " c \t", verl-agent's text mode).
const std::vector<std::string>& GridLayouts();
// Rows of cell symbols in `layout`, rows joined by "\n".
std::string RenderGrid(const std::vector<std::vector<std::string>>& rows, const std::string& layout);

}  // namespace turnwise::envs_internal

#endif  // TURNWISE_ENVS_INTERNAL_GRID_ENV_UTIL_H_
