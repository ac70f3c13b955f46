// Records of the trajectory store: what a run, an iteration, a metric, an episode and a turn are
// when they are written and when they are read back.
//
// Ids are assigned by the store (StoreWriter), never by callers: a record passed to the writer
// may leave `id` at 0. Times are Unix seconds (double). JSON-valued fields are nlohmann::json
// objects; the store keeps them as JSON text.
#ifndef TURNWISE_STORAGE_TYPES_H_
#define TURNWISE_STORAGE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace turnwise {

// How an episode ended. kOk: the env terminated it (won or lost). kTruncated: a turn or context
// limit ended it. kAborted: it could not continue (env server gone, env error); `abort_reason`
// says why. Aborted episodes are stored, never dropped.
enum class EpisodeStatus { kOk, kTruncated, kAborted };

std::string_view EpisodeStatusName(EpisodeStatus status);  // "ok", "truncated", "aborted"
// Throws InvalidArgument listing the known names.
EpisodeStatus ParseEpisodeStatus(std::string_view name);

struct RunRecord {
  int64_t id = 0;
  std::string name;
  double created_at = 0;      // set by the store when 0
  double finished_at = 0;     // 0 while running
  std::string status = "running";  // running, finished, failed, interrupted
  std::string env;            // environment name ("household")
  std::string method;         // algorithm ("grpo", "gigpo", "eval:expert", ...)
  int64_t seed = 0;
  Json config = Json::object();  // the complete, validated run config
  std::string notes;
};

struct IterationRecord {
  int64_t run_id = 0;
  int64_t iter = 0;
  double started_at = 0;
  double finished_at = 0;     // 0 while the iteration runs
  Json summary = Json::object();
};

struct MetricPoint {
  int64_t iter = 0;
  double value = 0;
  double wall_time = 0;
};

struct CheckpointRecord {
  int64_t id = 0;
  int64_t run_id = 0;
  int64_t iter = 0;
  std::string path;           // directory or file of the checkpoint
  double created_at = 0;
  Json metrics = Json::object();
};

// One environment step of an episode: what the agent saw, what it generated, what happened.
struct TurnRecord {
  int64_t turn_index = 0;        // 0-based within the episode
  std::string observation;       // the observation the action answered
  std::string prompt;            // the rendered prompt the model saw (may be empty for scripts)
  std::string response;          // the generated text
  std::string action;            // the action sent to the env after parsing/projection
  bool action_valid = true;      // format/admissibility validity (info.is_action_valid)
  double reward = 0;             // reward of this step
  bool terminated = false;
  bool truncated = false;
  std::string anchor_key;        // GiGPO state identity (household: observation text)
  uint64_t anchor_hash = 0;      // StableHash64(anchor_key); filled by the store when 0
  std::vector<int32_t> token_ids;   // sampled response token ids (token-in/token-out)
  std::vector<float> logprobs;      // log-prob of each sampled token at sampling time
  std::vector<float> entropies;     // entropy of the sampling distribution at each token
  std::optional<double> advantage;  // set by the learner after advantage estimation
  Json advantage_parts;             // null, or the named parts of the advantage
  std::string image_ref;         // path or key of the observation image, empty when none
  Json timings = Json::object(); // seconds: {"generate": .., "env": ..}
  Json info = Json::object();    // the env's info object for this step
};

struct EpisodeRecord {
  int64_t id = 0;
  int64_t run_id = 0;
  int64_t iteration = 0;
  std::string group_id;          // the G episodes sharing a task and seed
  std::string env;
  std::string task_id;
  std::string task_type;
  int64_t seed = 0;
  std::string split = "train";
  EpisodeStatus status = EpisodeStatus::kOk;
  std::string abort_reason;
  double episode_return = 0;
  bool success = false;
  int64_t num_turns = 0;         // set from turns.size() by the writer
  double created_at = 0;         // set by the store when 0
  std::string policy;            // which policy produced it ("lm", "expert", ...)
  Json info = Json::object();
  std::vector<TurnRecord> turns; // empty in list queries; full in GetEpisode/GetGroup
};

// Filters for QueryEpisodes. Every set field narrows the result (AND).
struct EpisodeQuery {
  std::optional<int64_t> run_id;
  std::optional<int64_t> iteration;
  std::optional<int64_t> min_iteration;
  std::optional<int64_t> max_iteration;
  std::optional<std::string> split;
  std::optional<std::string> env;
  std::optional<std::string> task_id;
  std::optional<std::string> task_type;
  std::optional<EpisodeStatus> status;
  std::optional<bool> success;
  std::optional<double> min_return;
  std::optional<double> max_return;
  std::optional<std::string> group_id;
  std::optional<std::string> policy;
  // Full-text search over turn observations and actions. Plain words: each is quoted, so
  // "state-of-the-art" or "agent: uses" search literally; all words must match.
  std::optional<std::string> text;
  std::string sort = "id";       // id, return, num_turns, created_at, iteration
  bool descending = false;
  int64_t limit = 50;            // 1..10000
  int64_t offset = 0;
};

struct EpisodePage {
  std::vector<EpisodeRecord> episodes;  // without turns
  int64_t total = 0;                    // matches before limit/offset
};

// Allowed values of EpisodeQuery::sort.
const std::vector<std::string>& EpisodeSortFields();

}  // namespace turnwise

#endif  // TURNWISE_STORAGE_TYPES_H_
