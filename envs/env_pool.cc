#include "envs/env_pool.h"

#include <thread>

#include "core/error.h"

namespace turnwise {

EnvPool::EnvPool(Factory factory, int num_envs, Options options)
    : factory_(std::move(factory)),
      options_(options),
      slots_(static_cast<size_t>(num_envs)),
      workers_(static_cast<size_t>(std::max(1, options.num_threads)),
               static_cast<size_t>(std::max(1, num_envs)) + 1) {
  if (num_envs < 1) throw InvalidArgument("EnvPool needs at least one env, got " + std::to_string(num_envs));
}

EnvPool::~EnvPool() { workers_.Wait(); }

size_t EnvPool::Pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

Env& EnvPool::EnvAt(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  Slot& slot = slots_.at(static_cast<size_t>(id));
  if (slot.busy) throw FailedPrecondition("env " + std::to_string(id) + " has a call in flight");
  if (!slot.env) slot.env = factory_();
  return *slot.env;
}

EnvSpec EnvPool::Spec() { return EnvAt(0).Spec(); }

void EnvPool::Launch(int id, std::function<StepResult(Env&)> call, bool is_reset) {
  std::shared_ptr<Env> env;
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (id < 0 || id >= size()) {
      throw InvalidArgument("env id " + std::to_string(id) + " is outside the pool (0.." +
                            std::to_string(size() - 1) + ")");
    }
    Slot& slot = slots_[static_cast<size_t>(id)];
    if (slot.busy) throw InvalidArgument("env " + std::to_string(id) + " already has a call in flight");
    if (!slot.env) slot.env = factory_();
    slot.busy = true;
    slot.started = std::chrono::steady_clock::now();
    env = slot.env;
    generation = slot.generation;
    ++in_flight_;
  }
  workers_.Submit([this, id, env, generation, call = std::move(call), is_reset] {
    EnvResult r;
    r.env_id = id;
    r.is_reset = is_reset;
    auto t0 = std::chrono::steady_clock::now();
    auto backoff = options_.backoff;
    for (r.attempts = 1;; ++r.attempts) {
      try {
        r.step = call(*env);
        r.ok = true;
        break;
      } catch (const Unavailable& e) {
        if (r.attempts > options_.max_retries) {
          r.ok = false;
          r.error = std::string(e.what()) + " (after " + std::to_string(r.attempts) + " attempts)";
          break;
        }
        std::this_thread::sleep_for(backoff);
        backoff *= 2;
      } catch (const std::exception& e) {
        r.ok = false;
        r.error = e.what();
        break;
      } catch (...) {
        r.ok = false;
        r.error = "unknown exception from the environment";
        break;
      }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = slots_[static_cast<size_t>(id)];
    if (slot.generation != generation) return;  // timed out earlier: already reported
    slot.busy = false;
    --in_flight_;
    ready_.push_back(std::move(r));
    ready_cv_.notify_all();
  });
}

void EnvPool::SendReset(const std::vector<int>& ids, const std::vector<ResetOptions>& options) {
  if (ids.size() != options.size()) {
    throw InvalidArgument("SendReset: " + std::to_string(ids.size()) + " ids but " +
                          std::to_string(options.size()) + " reset options");
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    Launch(ids[i], [o = options[i]](Env& env) { return env.Reset(o); }, true);
  }
}

void EnvPool::Send(const std::vector<int>& ids, const std::vector<std::string>& actions) {
  if (ids.size() != actions.size()) {
    throw InvalidArgument("Send: " + std::to_string(ids.size()) + " ids but " +
                          std::to_string(actions.size()) + " actions");
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    Launch(ids[i], [a = actions[i]](Env& env) { return env.Step(a); }, false);
  }
}

std::vector<EnvResult> EnvPool::Recv(size_t min_batch) {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    // Wake up at the earliest deadline of a call in flight.
    auto now = std::chrono::steady_clock::now();
    auto deadline = now + options_.call_timeout;
    for (size_t i = 0; i < slots_.size(); ++i) {
      Slot& slot = slots_[i];
      if (!slot.busy) continue;
      auto due = slot.started + options_.call_timeout;
      if (due <= now) {
        // Retire the slot: report the timeout now; the stuck call's result will be dropped and
        // the slot gets a fresh env on its next reset.
        EnvResult r;
        r.env_id = static_cast<int>(i);
        r.ok = false;
        r.error = "environment call timed out after " +
                  std::to_string(options_.call_timeout.count()) + " ms";
        r.seconds = std::chrono::duration<double>(now - slot.started).count();
        slot.busy = false;
        slot.generation++;
        slot.env.reset();
        --in_flight_;
        ready_.push_back(std::move(r));
        continue;
      }
      deadline = std::min(deadline, due);
    }
    size_t want = std::min(min_batch, ready_.size() + in_flight_);
    if (ready_.size() >= want) break;
    ready_cv_.wait_until(lock, deadline);
  }
  std::vector<EnvResult> out(std::make_move_iterator(ready_.begin()),
                             std::make_move_iterator(ready_.end()));
  ready_.clear();
  return out;
}

}  // namespace turnwise
