// AgentGym remote environments: drive any AgentGym env server (FastAPI, one process hosting
// many env instances) as a Turnwise Env.
//
// AgentGym's servers disagree on field names and response shapes, so the adapter works from a
// profile. Built-in profiles, from the servers' code (research/environments.md §7.1):
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
//
// The task of a reset is `ResetOptions.task_id` when it is a number (ALFWorld's game index,
// WebShop's session id, SearchQA's item id), else the seed. Admissible actions are reported when
// the server gives them (ALFWorld's available_actions; WebShop's clickables as "click[x]" plus
// "search[...]" when there is a search bar). `won` = reward > 0 at a finished step (AgentGym's
// rewards are 1 for success; WebShop's is the score in [0, 1], reported as task_score).
//
// Transport failures (connection refused, timeouts, 5xx) throw Unavailable — EnvPool retries
// them; a server's {"error": ...} answer throws FailedPrecondition with its message.
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
