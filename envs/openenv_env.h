// OpenEnv remote environments: drive any Meta/PyTorch OpenEnv server through its WebSocket
// endpoint `/ws` as a Turnwise Env (docs/environments.md, "Servers from other projects";
// OpenEnv @ 685de411, src/openenv/core/env_server/http_server.py).
//
// Why the WebSocket and not HTTP: OpenEnv's HTTP /reset and /step build a fresh environment for
// every request and close it afterwards (and production mode does not register them at all), so
// only `/ws` keeps an episode: the server creates one environment per connection.
//
// Messages (one JSON text message each way, strictly request → reply):
//   → {"type": "reset", "data": {"seed": S, <task_field>: T, ...reset_data}}
//   → {"type": "step",  "data": <action object>}
//   → {"type": "state"}                          ← {"type": "state", "data": {"episode_id",
//   "step_count", ...}} → {"type": "close"}                          (no reply; the server closes
//   the socket) ← {"type": "observation", "data": {"observation": {...}, "reward": number|null,
//   "done": bool}} ← {"type": "error", "data": {"message": str, "code": CODE, ...}}
//
// The action object. By default the action text goes into one field: {"message": "<text>"}
// (OpenEnv's echo and TextArena actions); `action_field` names another ("code" for the coding
// env, "action_str" for BrowserGym) and `action_extra` adds fixed fields to every action. With
// `action_json: true` the action text itself must be the JSON action object (for structured
// actions, e.g. {"values": [0.1, -0.3]}); text that is not a JSON object, or an object the
// server rejects (VALIDATION_ERROR), is an invalid action, not an error: the step returns the
// previous observation with info.is_action_valid = false and info.error, and counts as a turn.
//
// The observation text is the string at `observation_field` (a dotted path into the observation
// object, e.g. "prompt" or "echoed_message"; a non-string value there is dumped as JSON), or,
// with the default "", the whole observation object dumped as compact JSON (keys sorted).
// `admissible_field`, when set, names an observation field holding a list of strings reported
// as the admissible actions. Reward null counts as 0; done → terminated; the adapter truncates at
// `max_turns`. info: won = done with reward > 0, task_score = the final reward, is_action_valid.
//
// Sessions: one WebSocket per Env instance, opened on the first Reset and reused for every
// episode after it (OpenEnv resets the connection's environment in place); the destructor sends
// {"type": "close"} and closes it. OpenEnv servers admit few sessions (max_concurrent_envs,
// default 1), so an Env holds a slot for its whole life.
//
// Errors:
//   - Transport failures (refused, timeout, dropped connection) throw Unavailable. Reset opens a
//     new connection when the old one is gone and retries transport failures and
//     CAPACITY_REACHED `retries` times with doubling backoff; Step cannot be retried (the
//     environment lived in the lost connection), so it throws Unavailable at once and the next
//     Reset reconnects.
//   - CAPACITY_REACHED (server full: sent right after the upgrade, then the server closes) →
//     Unavailable "openenv server ws://…/ws: no free session (CAPACITY_REACHED: …; 1/1 sessions
//     in use)" after the retries.
//   - FACTORY_ERROR and SESSION_ERROR (the server could not create the environment) →
//     FailedPrecondition; EXECUTION_ERROR (the environment's reset/step raised) →
//     FailedPrecondition with the server's message, the connection stays usable.
//   - VALIDATION_ERROR on a step in field mode (the action object does not fit the env's action
//     schema) → InvalidArgument naming env.remote.action_field; on a reset → InvalidArgument
//     (check reset_data); INVALID_JSON / UNKNOWN_TYPE / unexpected replies → FailedPrecondition
//     (a protocol mismatch: the server does not speak this version of OpenEnv).
//   - Step() before Reset() or after the episode ended → FailedPrecondition.
//
// Thread safety: one thread at a time, like every Env.
#ifndef TURNWISE_ENVS_OPENENV_ENV_H_
#define TURNWISE_ENVS_OPENENV_ENV_H_

#include <memory>
#include <string>

#include "envs/env.h"

namespace turnwise {

namespace envs_internal {
class WsClient;
}  // namespace envs_internal

// config (the `remote` object with protocol "openenv"):
//   {"url": "ws://127.0.0.1:8000" (or http://…; "/ws" is appended unless the URL has a path),
//    "action_field": "message", "action_json": false, "action_extra": {},
//    "observation_field": "", "admissible_field": "",
//    "reset_data": {} (extra reset kwargs; OpenEnv drops those its env's reset() does not take),
//    "task_field": "task_id" (reset kwarg carrying ResetOptions.task_id when it is set; "" =
//    never), "timeout_s": 30 (connect, and each reply), "retries": 3, "backoff_s": 0.1,
//    "max_turns": 50, "token": "" (sent as "Authorization: Bearer <token>")}
// Unknown keys → ConfigError naming "env.remote.<key>". Nothing is contacted until Reset.
class OpenEnvEnv : public Env {
 public:
  explicit OpenEnvEnv(const Json& config);
  ~OpenEnvEnv() override;

  StepResult Reset(const ResetOptions& options) override;
  StepResult Step(const std::string& action) override;
  EnvSpec Spec() const override;
  std::string TaskId() const override { return task_id_; }

  // The server's State of this session (one "state" round trip): {"episode_id", "step_count",
  // ...env extras}. Throws FailedPrecondition before the first Reset, Unavailable on transport
  // failure.
  Json State();

  // The WebSocket URL used ("ws://host:port/ws").
  const std::string& ws_url() const { return ws_url_; }

 private:
  Json Request(const Json& message, const char* what);
  [[noreturn]] void ThrowServerError(const Json& data, const char* what);
  void Connect();
  void Disconnect();
  StepResult FromObservation(const Json& data);

  Json config_;
  std::string ws_url_;
  std::string task_id_;
  std::unique_ptr<envs_internal::WsClient> ws_;
  StepResult last_;
  int64_t turn_ = 0;
  bool done_ = true;
  bool reset_once_ = false;
};

// The factory MakeRemoteEnv calls for protocol "openenv"; same as std::make_unique<OpenEnvEnv>.
std::unique_ptr<Env> MakeOpenEnvEnv(const Json& config);

}  // namespace turnwise

#endif  // TURNWISE_ENVS_OPENENV_ENV_H_
