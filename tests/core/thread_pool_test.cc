#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>

#include "core/thread_pool.h"

namespace turnwise {
namespace {

TEST(ThreadPool, RunsEveryTaskAndReturnsResults) {
  ThreadPool pool(3);
  std::vector<std::future<int>> results;
  for (int i = 0; i < 200; ++i) results.push_back(pool.Submit([i] { return i * i; }));
  long sum = 0;
  for (auto& f : results) sum += f.get();
  EXPECT_EQ(sum, 2646700);  // sum of i^2 for i < 200 = 199*200*399/6
}

TEST(ThreadPool, ExceptionsTravelThroughTheFuture) {
  ThreadPool pool(1);
  auto f = pool.Submit([]() -> int { throw std::runtime_error("boom"); });
  EXPECT_THROW(f.get(), std::runtime_error);
  // The worker survives and runs later tasks.
  EXPECT_EQ(pool.Submit([] { return 5; }).get(), 5);
}

TEST(ThreadPool, BoundedQueueBlocksProducerInsteadOfGrowing) {
  ThreadPool pool(1, /*max_queued=*/2);
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  auto blocker = pool.Submit([&] {
    started++;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (started == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  pool.Submit([] {});
  pool.Submit([] {});  // queue now full (2 waiting)
  std::atomic<bool> third_submitted{false};
  std::thread producer([&] {
    pool.Submit([] {});
    third_submitted = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(third_submitted.load());  // blocked by back-pressure
  release = true;
  producer.join();
  EXPECT_TRUE(third_submitted.load());
  pool.Wait();
}

TEST(ThreadPool, WaitReturnsWhenAllWorkIsDone) {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  for (int i = 0; i < 100; ++i) pool.Submit([&] { count++; });
  pool.Wait();
  EXPECT_EQ(count.load(), 100);
}

TEST(ThreadPool, DestructorDrainsQueuedTasks) {
  std::atomic<int> count{0};
  {
    ThreadPool pool(1);
    for (int i = 0; i < 50; ++i) pool.Submit([&] { count++; });
  }
  EXPECT_EQ(count.load(), 50);
}

}  // namespace
}  // namespace turnwise
