// A fixed-size pool of worker threads with a bounded task queue.
//
// Submit() blocks while the queue holds `max_queued` tasks (back-pressure instead of an
// unbounded buffer). Tasks run in FIFO order on any worker. An exception thrown by a task is
// delivered through the returned future, never lost and never fatal to the worker.
// The destructor waits for queued tasks to finish, then joins the workers.
// Submit and Wait may be called from any thread, but not from inside a task of the same pool
// (a task waiting on its own pool can deadlock when all workers do it).
#ifndef TURNWISE_CORE_THREAD_POOL_H_
#define TURNWISE_CORE_THREAD_POOL_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace turnwise {

class ThreadPool {
 public:
  // `num_threads` >= 1; `max_queued` >= 1 bounds tasks waiting for a worker.
  explicit ThreadPool(size_t num_threads, size_t max_queued = 4096);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  template <class F>
  auto Submit(F&& fn) -> std::future<std::invoke_result_t<F>> {
    using R = std::invoke_result_t<F>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    std::future<R> result = task->get_future();
    Enqueue([task] { (*task)(); });
    return result;
  }

  // Blocks until every task submitted so far has finished.
  void Wait();

  size_t size() const { return workers_.size(); }

 private:
  void Enqueue(std::function<void()> task);
  void WorkerLoop();

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable has_task_;    // workers wait for work
  std::condition_variable has_space_;   // producers wait for queue space
  std::condition_variable idle_;        // Wait() waits for running_ == 0 && queue empty
  std::deque<std::function<void()>> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace turnwise

#endif  // TURNWISE_CORE_THREAD_POOL_H_
