#include "envs/env_pool.h"

#include <thread>

#include "core/error.h"
#include "envs/internal/batch_transport.h"
#include "envs/internal/remote_session.h"

namespace turnwise {

using envs_internal::BatchReply;
using envs_internal::RemoteSession;

// A remote-batch call in flight. Owned by the callbacks that carry it; only the I/O thread
// touches it once it was submitted.
struct EnvPool::RemoteCall {
  enum class Op { kCreate, kReset, kStep };
  int id = -1;
  uint64_t generation = 0;
  bool is_reset = false;
  ResetOptions reset;
  std::string action;
  std::shared_ptr<Env> env;  // keeps the env alive when a timeout retired the slot meanwhile
  RemoteSession* remote = nullptr;
  int attempts = 1;
  std::chrono::milliseconds backoff{0};
  std::chrono::steady_clock::time_point t0;
  bool recreated = false;  // a reset already recreated a session the server had lost
};

namespace {

std::string Request(const char* op, const std::string& session_id) {
  std::string r = R"({"op":")";
  r += op;
  r += '"';
  if (!session_id.empty()) {
    r += R"(,"session_id":)";
    AppendJsonString(&r, session_id);
  }
  return r;
}

}  // namespace

EnvPool::EnvPool(Factory factory, int num_envs, Options options)
    : factory_(std::move(factory)),
      options_(options),
      slots_(static_cast<size_t>(num_envs)),
      workers_(static_cast<size_t>(std::max(1, options.num_threads)),
               static_cast<size_t>(std::max(1, num_envs)) + 1) {
  if (num_envs < 1) throw InvalidArgument("EnvPool needs at least one env, got " + std::to_string(num_envs));
}

EnvPool::~EnvPool() {
  workers_.Wait();
  if (!transport_) return;
  // Close the remote sessions in one batch per server; a dead server must not hold us long.
  std::mutex m;
  std::condition_variable cv;
  int left = 0;
  bool submitted = false;
  transport_->Post([&] {
    std::vector<std::pair<RemoteSession*, std::string>> open;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Slot& slot : slots_) {
        auto* remote = dynamic_cast<RemoteSession*>(slot.env.get());
        if (remote == nullptr || !remote->batched() || remote->session_id().empty()) continue;
        open.emplace_back(remote, remote->session_id());
        remote->set_session_id("");
      }
    }
    std::lock_guard<std::mutex> lock(m);
    for (auto& [remote, sid] : open) {
      ++left;
      transport_->Submit(remote->endpoint(), Request("close", sid) + "}", [&](BatchReply&&) {
        std::lock_guard<std::mutex> l(m);
        if (--left == 0) cv.notify_all();
      });
    }
    submitted = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(m);
    cv.wait_for(lock, std::chrono::seconds(2), [&] { return submitted && left == 0; });
  }
  transport_.reset();  // joins the I/O thread: nothing above is used after this
}

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

void EnvPool::Launch(int id, std::function<StepResult(Env&)> call, bool is_reset,
                     const ResetOptions* reset, const std::string* action) {
  std::shared_ptr<Env> env;
  uint64_t generation;
  std::shared_ptr<RemoteCall> remote_call;
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
    auto* remote = dynamic_cast<RemoteSession*>(env.get());
    if (remote != nullptr && remote->batched()) {
      if (!transport_) transport_ = std::make_unique<envs_internal::BatchTransport>();
      remote->set_pool_managed();
      remote_call = std::make_shared<RemoteCall>();
      remote_call->id = id;
      remote_call->generation = generation;
      remote_call->is_reset = is_reset;
      if (reset != nullptr) remote_call->reset = *reset;
      if (action != nullptr) remote_call->action = *action;
      remote_call->env = env;
      remote_call->remote = remote;
      remote_call->backoff = options_.backoff;
      remote_call->t0 = slot.started;
    }
  }
  if (remote_call) return RemoteStart(remote_call);
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

// Holds the remote-batch transport (when there is one, or once the first call made it) for the
// duration of one Send/SendReset, so that its calls go out together.
class EnvPool::HoldTransport {
 public:
  explicit HoldTransport(EnvPool* pool) : pool_(pool) { Update(); }
  ~HoldTransport() {
    if (held_ != nullptr) held_->Release();
  }
  void Update() {
    if (held_ == nullptr && pool_->transport_) {
      held_ = pool_->transport_.get();
      held_->Hold();
    }
  }

 private:
  EnvPool* pool_;
  envs_internal::BatchTransport* held_ = nullptr;
};

void EnvPool::SendReset(const std::vector<int>& ids, const std::vector<ResetOptions>& options) {
  if (ids.size() != options.size()) {
    throw InvalidArgument("SendReset: " + std::to_string(ids.size()) + " ids but " +
                          std::to_string(options.size()) + " reset options");
  }
  HoldTransport hold(this);
  for (size_t i = 0; i < ids.size(); ++i) {
    Launch(
        ids[i], [o = options[i]](Env& env) { return env.Reset(o); }, true, &options[i], nullptr);
    hold.Update();
  }
}

void EnvPool::Send(const std::vector<int>& ids, const std::vector<std::string>& actions) {
  if (ids.size() != actions.size()) {
    throw InvalidArgument("Send: " + std::to_string(ids.size()) + " ids but " +
                          std::to_string(actions.size()) + " actions");
  }
  HoldTransport hold(this);
  for (size_t i = 0; i < ids.size(); ++i) {
    Launch(
        ids[i], [a = actions[i]](Env& env) { return env.Step(a); }, false, nullptr, &actions[i]);
    hold.Update();
  }
}

void EnvPool::RemoteStart(const std::shared_ptr<RemoteCall>& call) {
  RemoteSession& remote = *call->remote;
  const std::string& sid = remote.session_id();
  using Op = RemoteCall::Op;
  Op op;
  std::string request;
  if (sid.empty()) {
    if (!call->is_reset) {
      return RemoteFinish(call, false,
                          "remote env: no session on the server (Step() before Reset(), or the "
                          "session was lost); reset to start an episode",
                          {});
    }
    op = Op::kCreate;
    request = Request("create", "");
    request += R"(,"config":)";
    request += DumpJson(remote.create_config());
  } else if (call->is_reset) {
    op = Op::kReset;
    request = Request("reset", sid);
    request += R"(,"seed":)" + std::to_string(call->reset.seed);
    if (!call->reset.task_id.empty()) {
      request += R"(,"task_id":)";
      AppendJsonString(&request, call->reset.task_id);
    }
    request += R"(,"split":)";
    AppendJsonString(&request, call->reset.split);
  } else {
    op = Op::kStep;
    request = Request("step", sid);
    request += R"(,"action":)";
    AppendJsonString(&request, call->action);
  }
  request += '}';
  transport_->Submit(remote.endpoint(), std::move(request), [this, call, op](BatchReply&& r) {
    const std::string& url = call->remote->endpoint().url;
    if (r.transport == BatchReply::Transport::kNotSent) return RemoteRetry(call, r.error);
    if (r.transport == BatchReply::Transport::kLost) {
      if (op != Op::kStep) return RemoteRetry(call, r.error);
      RemoteForgetSession(*call);
      return RemoteFinish(call, false,
                          "env server " + url + ": " + r.error +
                              " after the step was sent; whether the server applied it is "
                              "unknown, so the episode cannot continue",
                          {});
    }
    if (op == Op::kCreate) {
      if (r.status == 503) return RemoteRetry(call, "HTTP 503: " + r.error);
      Json body = r.status < 300 ? Json::parse(r.body_text, nullptr, false) : Json();
      if (r.status >= 300 || !body.is_object() || !body.contains("session_id") ||
          !body["session_id"].is_string()) {
        std::string why = r.status >= 300 ? r.error : "answer to create has no session_id";
        return RemoteFinish(call, false, "env server " + url + ": " + why, {});
      }
      call->remote->set_session_id(body["session_id"].get<std::string>());
      return RemoteStart(call);
    }
    if (r.status >= 200 && r.status < 300) {
      StepResult step;
      try {
        step = StepResult::FromJsonText(r.body_text);
      } catch (const std::exception& e) {
        return RemoteFinish(call, false, "env server " + url + ": malformed answer: " + e.what(),
                            {});
      }
      if (op == Op::kReset) call->remote->NoteReset(call->reset, step);
      return RemoteFinish(call, true, "", std::move(step));
    }
    if (r.status == 404) {
      call->remote->set_session_id("");
      if (op == Op::kReset && !call->recreated) {
        call->recreated = true;  // expired or the server restarted: a reset needs no history
        return RemoteStart(call);
      }
      return RemoteFinish(call, false,
                          "env server " + url + ": " + r.error +
                              " (the server no longer has the session: it expired or the server "
                              "restarted)",
                          {});
    }
    if (r.status == 500) {
      call->remote->set_session_id("");  // the server closed it
      return RemoteFinish(call, false, "env server " + url + ": the environment failed: " + r.error,
                          {});
    }
    RemoteFinish(call, false, "env server " + url + ": " + r.error, {});
  });
}

void EnvPool::RemoteRetry(const std::shared_ptr<RemoteCall>& call, const std::string& error) {
  if (call->attempts > options_.max_retries) {
    return RemoteFinish(call, false,
                        "env server " + call->remote->endpoint().url + ": " + error + " (after " +
                            std::to_string(call->attempts) + " attempts)",
                        {});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (slots_[static_cast<size_t>(call->id)].generation != call->generation) return;  // retired
  }
  auto delay = call->backoff;
  call->backoff *= 2;
  ++call->attempts;
  transport_->After(delay, [this, call] { RemoteStart(call); });
}

void EnvPool::RemoteForgetSession(RemoteCall& call) {
  const std::string& sid = call.remote->session_id();
  if (sid.empty()) return;
  // Best effort: if the server still has it, it need not wait for the idle expiry.
  transport_->Submit(call.remote->endpoint(), Request("close", sid) + "}", [](BatchReply&&) {});
  call.remote->set_session_id("");
}

void EnvPool::RemoteFinish(const std::shared_ptr<RemoteCall>& call, bool ok, std::string error,
                           StepResult step) {
  EnvResult r;
  r.env_id = call->id;
  r.is_reset = call->is_reset;
  r.ok = ok;
  r.error = std::move(error);
  r.attempts = call->attempts;
  r.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - call->t0).count();
  r.step = std::move(step);
  {
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = slots_[static_cast<size_t>(call->id)];
    if (slot.generation == call->generation) {
      slot.busy = false;
      --in_flight_;
      ready_.push_back(std::move(r));
      // One wake-up for all the results of one answer (they are delivered in one handler of
      // the I/O thread): waking the caller at the first would have it send the next calls a
      // few at a time.
      if (!notify_posted_) {
        notify_posted_ = true;
        transport_->Post([this] {
          std::lock_guard<std::mutex> l(mu_);
          notify_posted_ = false;
          ready_cv_.notify_all();
        });
      }
      return;
    }
  }
  // Timed out earlier and already reported: the env left the pool; close its session.
  RemoteForgetSession(*call);
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
