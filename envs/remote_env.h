// RemoteEnv: an environment served over the Turnwise protocol v1 (docs/protocol.md) by any
// program, in any language, used exactly like an in-process Env.
//
// One session per RemoteEnv: created on the first Reset, deleted by the destructor. HTTP/1.1
// keep-alive on one connection. A transport failure (refused, reset, timeout, HTTP 5xx other
// than the env's own 500) is retried `retries` times with a doubling backoff, then thrown as
// Unavailable ("env server http://…: <reason> after N attempts") — EnvPool turns that into an
// aborted episode with that reason. Server answers map to the error hierarchy: 400 →
// InvalidArgument, 404 → NotFound, 409 → FailedPrecondition, 500 → FailedPrecondition (the env
// threw; the server closed the session), each with the server's message.
//
// Thread safety: one thread at a time, like every Env.
#ifndef TURNWISE_ENVS_REMOTE_ENV_H_
#define TURNWISE_ENVS_REMOTE_ENV_H_

#include <memory>
#include <string>

#include "envs/env.h"

namespace turnwise {

// remote: {"url": "http://127.0.0.1:8200", "protocol": "turnwise" | "agentgym" | "openenv",
//          "config": {...env config sent at session creation...}, "timeout_s": 30,
//          "retries": 3, "backoff_s": 0.1, "token": "",
//          "transport": "http" | "websocket" | "batch", "batch_connections": 4,
//          "batch_max": 256}
// transport "batch": inside an EnvPool the env's calls go, together with the other sessions'
// on the same server, through POST /v1/batch without a thread per call (envs/env_pool.h); there
// `timeout_s` bounds each HTTP request and the pool's own retries and backoff apply (the env's
// `retries`/`backoff_s` do not). Used alone, the env behaves as with "http".
// plus the AgentGym adapter's keys when protocol is "agentgym" (envs/agentgym_env.h), or the
// OpenEnv adapter's (WebSocket, ws://…) when it is "openenv" (envs/openenv_env.h).
// Unknown keys → ConfigError naming "env.remote.<key>"; an unknown protocol → NotFound listing
// the known ones.
std::unique_ptr<Env> MakeRemoteEnv(const Json& remote);

}  // namespace turnwise

#endif  // TURNWISE_ENVS_REMOTE_ENV_H_
