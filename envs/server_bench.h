// `turnwise bench env-server`: household steps/s through an env server over loopback, with
// 1, 64, 512… concurrent sessions, against the same env logic behind a Python FastAPI/uvicorn
// server (bench/peer_baselines/household_fastapi.py, the way AgentGym serves its envs) driven by
// the same load generator in the same run.
//
// The load generator is an asynchronous Beast HTTP/1.1 client: one keep-alive connection and one
// session per simulated agent, each playing episodes with uniformly random admissible actions
// (create → reset → step … → reset …), so `sessions` requests are in flight at once. The
// Turnwise server is driven four ways (HTTP per step, WebSocket per step, batch endpoint by the
// load generator, and a real client: an EnvPool of remote envs with transport "batch", the
// rollout engine's path, picking random admissible actions from the parsed StepResults); the
// Python server, like AgentGym's, only has the first. Steps are counted over a measuring window
// after a warm-up; medians over repeats are printed with the ratios to Python.
#ifndef TURNWISE_ENVS_SERVER_BENCH_H_
#define TURNWISE_ENVS_SERVER_BENCH_H_

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace turnwise {

// How the load generator talks to the server (docs/protocol.md): one HTTP request per step, one
// WebSocket message per step, or one /v1/batch request per round over `batch_size` sessions.
enum class LoadMode { kHttp, kWebSocket, kBatch };

struct LoadResult {
  double steps_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int64_t errors = 0;  // non-2xx answers and transport failures
};

// Drives `sessions` concurrent sessions against a protocol-v1 server at host:port for
// `seconds` (after `warmup_s`), on `client_threads` threads.
LoadResult DriveLoad(const std::string& host, uint16_t port, int sessions, double seconds,
                     double warmup_s, int client_threads, uint64_t seed,
                     LoadMode mode = LoadMode::kHttp, int batch_size = 16);

// Plays random episodes on `sessions` slots of an EnvPool whose envs are remote envs with
// transport "batch" at `url` (`connections` keep-alive connections), for `seconds` after
// `warmup_s`. Latencies are per call (EnvResult::seconds).
LoadResult DrivePool(const std::string& url, int sessions, double seconds, double warmup_s,
                     uint64_t seed, int connections);

struct ServerBenchOptions {
  std::vector<int> sessions = {1, 64, 512};
  int server_threads = 4;
  int client_threads = 1;
  double seconds = 4;
  double warmup_s = 1;
  int repeats = 3;
  int batch_size = 16;  // sessions per /v1/batch request in batch mode
  std::string python = "/usr/bin/python3";
  // The FastAPI baseline; empty = skip it.
  std::string baseline_script = "bench/peer_baselines/household_fastapi.py";
};

struct ServerBenchRow {
  int sessions = 0;
  LoadResult turnwise;        // HTTP, one request per step
  LoadResult turnwise_ws;     // WebSocket, one message per step
  LoadResult turnwise_batch;  // /v1/batch
  LoadResult turnwise_pool;   // EnvPool, transport "batch"
  LoadResult python;          // FastAPI, one request per step; zero when skipped
};

std::vector<ServerBenchRow> RunServerBench(const ServerBenchOptions& options, std::ostream& out);

}  // namespace turnwise

#endif  // TURNWISE_ENVS_SERVER_BENCH_H_
