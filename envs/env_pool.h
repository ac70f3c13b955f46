// EnvPool: many environments stepped asynchronously, EnvPool-style send/recv.
//
//   pool.SendReset({0, 1, 2}, {opts0, opts1, opts2});
//   pool.Send({0, 2}, {"go to desk 1", "look"});
//   for (EnvResult& r : pool.Recv(/*min_batch=*/2)) { ... r.env_id, r.step ... }
//
// Each slot owns one Env (made by the factory) and runs at most one call at a time; calls run on
// `num_threads` worker threads, so a slow environment never stalls the others and the caller
// (the rollout engine) receives whichever slots finish first.
//
// Failures are results, never silence: a call that throws Unavailable (a transport error from a
// remote env) is retried up to `max_retries` times with exponential backoff; any other exception,
// a call that exhausts its retries, or one that exceeds `call_timeout` comes back as an EnvResult
// with ok = false and the reason, and the caller closes that episode as aborted. A timed-out
// call's slot is retired: its late result is discarded and the slot gets a fresh Env on its next
// reset.
//
// Remote envs with transport "batch" (envs/remote_env.h) take another path: no worker thread
// runs their calls. Each call becomes one request object of protocol v1's `POST /v1/batch`, and
// the calls of all sessions on the same server that are pending together travel in a few HTTP
// requests (about one per connection, `batch_connections`, at most `batch_max` calls each),
// written and read asynchronously by one I/O thread — so hundreds of episodes are in flight
// with two threads. The contract is the same: results come back through Recv, `call_timeout`
// retires a call as above, transport failures are retried `max_retries` times with the doubling
// `backoff`, and whatever cannot continue comes back as a failed result with the reason. Two
// rules follow from the protocol: a reset (and the session's creation) is retried after any
// transport failure — resetting again is harmless — but a step whose request was written and
// whose answer never came is not, since the server may have applied it: it fails at once
// ("... whether the server applied it is unknown ..."). A session the server no longer knows
// (404: expired, or the server restarted) is recreated by the next reset. The pool closes its
// remote sessions in one batch per server when destroyed (waiting at most ~2 s).
//
// Thread safety: Send/SendReset/Recv from one thread (the rollout loop). Destruction waits for
// in-flight worker calls to finish; in-flight remote-batch calls are abandoned.
#ifndef TURNWISE_ENVS_ENV_POOL_H_
#define TURNWISE_ENVS_ENV_POOL_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "envs/env.h"

namespace turnwise {
namespace envs_internal {
class BatchTransport;
class RemoteSession;
}  // namespace envs_internal

struct EnvResult {
  int env_id = -1;
  bool is_reset = false;  // the result of a reset (else of a step)
  bool ok = true;
  std::string error;      // why the call failed, when !ok
  int attempts = 1;       // calls made, retries included
  double seconds = 0;     // wall time of the call
  StepResult step;        // valid when ok
};

class EnvPool {
 public:
  using Factory = std::function<std::unique_ptr<Env>()>;
  struct Options {
    int num_threads = 2;
    std::chrono::milliseconds call_timeout{60000};
    int max_retries = 2;
    std::chrono::milliseconds backoff{100};  // doubled after each retry
  };

  EnvPool(Factory factory, int num_envs, Options options);
  ~EnvPool();

  int size() const { return static_cast<int>(slots_.size()); }

  // Starts an episode in each listed slot. Throws InvalidArgument for a bad id, mismatched
  // sizes, or a slot that already has a call in flight.
  void SendReset(const std::vector<int>& ids, const std::vector<ResetOptions>& options);
  // Steps each listed slot with its action. Same errors as SendReset.
  void Send(const std::vector<int>& ids, const std::vector<std::string>& actions);
  // Blocks until `min_batch` results are ready (fewer if fewer calls are in flight) and
  // returns every ready result. Calls that passed their timeout are returned as failures.
  std::vector<EnvResult> Recv(size_t min_batch);
  // Calls in flight.
  size_t Pending() const;
  // The spec of slot 0's environment (made on demand).
  EnvSpec Spec();
  // Direct access to a slot's env when no call is in flight (e.g. for ExpertAction).
  Env& EnvAt(int id);

 private:
  struct Slot {
    std::shared_ptr<Env> env;
    bool busy = false;
    uint64_t generation = 0;  // bumps when a timed-out call retires the slot
    std::chrono::steady_clock::time_point started;
  };
  struct RemoteCall;
  class HoldTransport;
  void Launch(int id, std::function<StepResult(Env&)> call, bool is_reset,
              const ResetOptions* reset, const std::string* action);
  // The remote-batch path; these run on the transport's I/O thread (RemoteStart also on the
  // caller's, before the call is handed over).
  void RemoteStart(const std::shared_ptr<RemoteCall>& call);
  void RemoteRetry(const std::shared_ptr<RemoteCall>& call, const std::string& error);
  void RemoteForgetSession(RemoteCall& call);
  void RemoteFinish(const std::shared_ptr<RemoteCall>& call, bool ok, std::string error,
                    StepResult step);

  Factory factory_;
  Options options_;
  std::vector<Slot> slots_;
  mutable std::mutex mu_;
  std::condition_variable ready_cv_;
  std::deque<EnvResult> ready_;
  size_t in_flight_ = 0;
  bool notify_posted_ = false;  // a remote-batch wake-up of Recv is queued on the I/O thread
  ThreadPool workers_;
  // Made on the first remote-batch call; declared last so that its I/O thread stops before
  // anything its callbacks touch is destroyed.
  std::unique_ptr<envs_internal::BatchTransport> transport_;
};

}  // namespace turnwise

#endif  // TURNWISE_ENVS_ENV_POOL_H_
