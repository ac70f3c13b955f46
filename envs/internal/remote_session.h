// RemoteSession: the protocol-v1 session of a remote env configured with transport "batch", as
// EnvPool sees it. EnvPool recognises such an env (dynamic_cast) and, instead of calling its
// blocking Reset/Step on a worker thread, sends its calls through a BatchTransport together
// with the other sessions' calls to the same server, and records the answers here.
//
// Ownership: the env owns its session state. Once a pool has driven it (pool_managed), the
// env's destructor no longer deletes the session with a blocking request: the pool closes its
// sessions itself, in one batch, when it is destroyed.
//
// Thread safety: like the env, one thread at a time — EnvPool's I/O thread while a call is in
// flight, whoever owns the slot otherwise.
#ifndef TURNWISE_ENVS_INTERNAL_REMOTE_SESSION_H_
#define TURNWISE_ENVS_INTERNAL_REMOTE_SESSION_H_

#include <string>

#include "envs/env.h"
#include "envs/internal/batch_transport.h"

namespace turnwise::envs_internal {

class RemoteSession {
 public:
  virtual ~RemoteSession() = default;

  // False when the env was configured for another transport: EnvPool then calls it on a worker
  // thread like any env.
  virtual bool batched() const = 0;
  virtual const BatchEndpoint& endpoint() const = 0;
  // The server's session id; empty before the first create and after the session was lost.
  virtual const std::string& session_id() const = 0;
  virtual void set_session_id(std::string id) = 0;
  // The env config sent with "create".
  virtual const Json& create_config() const = 0;
  // Records the task identity of an episode the pool has reset (TaskId/TaskType).
  virtual void NoteReset(const ResetOptions& options, const StepResult& first) = 0;
  virtual void set_pool_managed() = 0;
};

}  // namespace turnwise::envs_internal

#endif  // TURNWISE_ENVS_INTERNAL_REMOTE_SESSION_H_
