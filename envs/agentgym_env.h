// AgentGym remote environments: drive any AgentGym env server (FastAPI, one process hosting
// many env instances) as a Turnwise Env.
//
// AgentGym's servers disagree on field names and response shapes, so the adapter works from a
// profile. Built-in profiles, from the servers' code (WooooDyy/AgentGym @ 3ef9235; the table in
// docs/environments.md, "Servers from other projects"):
//
//   alfworld   POST /create → {"id"}; POST /reset {"id","game","world_type":"Text"} →
//              {"observation","available_actions","task_type"}; POST /step {"id","action"} →
//              {"observation","reward","available_actions","done"}; errors come back as HTTP 200
//              {"error": "..."}; the server has no /close (the adapter does not call it).
//   webshop    POST /create → bare int; POST /reset {"env_idx","session_id"} → [obs, null];
//              POST /step {"env_idx","action"} → {"state","reward","done","info"};
//              GET /available_actions?env_idx=N → {"has_search_bar","clickables"}.
//   searchqa   POST /create {"id": item} → bare int; POST /reset {"env_idx","id"} → obs string;
//              POST /step {"env_idx","action"} → {"observation","reward","done","info"};
//              POST /close {"env_idx"}.
//   textcraft  POST /create {} (FastAPI wants a body; its "commands"/"goal" are ignored in this
//              version) → {"id","observation","done","reward"}; POST /reset {"id","data_idx"} →
//              {"id","observation","done","reward"}; POST /step {"id","action"} →
//              {"observation","reward","done"}; POST /close {"id"} → bare bool. Actions are
//              cleaned as AgentGym's client does (only letters, digits, commas, single spaces).
//   sciworld   POST /create → {"id"}; POST /reset {"id","data_idx"} → {"task_name","var_num",
//              "task_description","observation","reward","score","deleted","done"} (the adapter
//              shows task_description + "\n" + observation, as the client does); POST /step
//              {"id","action"} → {"observation","reward","score","done"}; POST /close {"id"}.
//              Scores are 0..100 (negative on failure): the adapter's reward is the score change
//              / 100, task_score = max(score, 0) / 100, won = finished with score 100.
//   babyai     POST /create → {"id"} (the env itself is built at reset); POST /reset
//              {"id","data_idx"} → {"observation","reward","score","deleted","done"}; POST /step
//              {"id","action"} → {"observation","reward","score","done"}; POST /close {"id"} →
//              bare bool. Every observation ends with `\nAvailable actions: ["a", "b", ...]`,
//              parsed into the admissible actions; the server's "score" (a running sum of the
//              running reward) is ignored. Actions are cleaned like textcraft's.
//
// The task of a reset is `ResetOptions.task_id` when it is a number (ALFWorld's game index,
// WebShop's session id, SearchQA's item id, the others' data_idx), else the seed. Admissible
// actions are reported when the server gives them (ALFWorld's available_actions; WebShop's
// clickables as "click[x]" plus "search[...]" when there is a search bar; BabyAI's list). `won`
// = reward > 0 at a finished step (AgentGym's rewards are 1 for success; WebShop's is the score
// in [0, 1], reported as task_score; SciWorld as above). is_action_valid follows each server's
// failure text ("Nothing happens.", TextCraft's "Could not ...", ScienceWorld's "No known action
// matches that input.") or, for BabyAI, whether the action was listed.
//
// The profiles with a /close (searchqa, textcraft, sciworld, babyai) free the server's env when
// the adapter is destroyed (SearchQA's also at every reset, since its item is bound at /create).
//
// Transport failures (connection refused, timeouts, 5xx) throw Unavailable — EnvPool retries
// them; a server's {"error": ...} answer (HTTP 200, all six servers) and a FastAPI 422 throw
// FailedPrecondition with the server's message.
#ifndef TURNWISE_ENVS_AGENTGYM_ENV_H_
#define TURNWISE_ENVS_AGENTGYM_ENV_H_

#include <memory>
#include <string>
#include <vector>

#include "envs/env.h"

namespace turnwise {

// Profiles the adapter knows.
const std::vector<std::string>& AgentGymProfiles();

// config: {"url": "http://127.0.0.1:36001", "profile": "alfworld", "timeout_s": 30,
//          "max_turns": 50}. Unknown keys → ConfigError naming "env.remote.<key>"; unknown
// profile → NotFound listing AgentGymProfiles().
std::unique_ptr<Env> MakeAgentGymEnv(const Json& config);

}  // namespace turnwise

#endif  // TURNWISE_ENVS_AGENTGYM_ENV_H_
