// BatchTransport: the non-blocking client side of protocol v1's `POST /v1/batch`, used by EnvPool
// to drive remote envs (transport "batch") without a thread per call in flight.
//
//   BatchTransport io;                       // one I/O thread
//   io.Submit(endpoint, R"({"op":"step","session_id":"s-1","action":"look"})",
//             [](BatchReply&& r) { ... runs on the I/O thread ... });
//
// Requests submitted for the same endpoint while its connections are busy are coalesced: when a
// connection becomes free it carries everything queued (split evenly over the free connections,
// at most `max_batch` per request) in one HTTP request, so N sessions stepping at once cost about
// `connections` requests, not N. Each endpoint has up to `connections` keep-alive connections
// (several, because the server runs one batch on one of its I/O threads).
//
// Failures: every submitted request gets exactly one BatchReply. A transport failure says whether
// the request certainly never reached the server (kNotSent: resolve/connect failed, or the write
// did not complete) or may have been applied (kLost: the connection broke or timed out after the
// whole request was written, or the answer was malformed); callers retry the first freely and the
// second only for idempotent operations. `request_timeout` bounds each HTTP request (connect,
// write and read together). A connection idle for more than a few seconds is reopened rather
// than reused, so a server that closed it meanwhile does not turn a request into kLost. Nothing
// here retries.
//
// Thread safety: Submit and After from any thread. Callbacks run on the I/O thread, one at a time.
// The destructor stops the I/O thread and drops what is pending without calling it back.
#ifndef TURNWISE_ENVS_INTERNAL_BATCH_TRANSPORT_H_
#define TURNWISE_ENVS_INTERNAL_BATCH_TRANSPORT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "core/json.h"

namespace turnwise::envs_internal {

// One protocol-v1 server as the batch client sees it.
struct BatchEndpoint {
  std::string url;    // http://host:port, no trailing slash
  std::string token;  // bearer token, empty for none
  std::chrono::milliseconds request_timeout{30000};
  int connections = 4;  // keep-alive connections at most
  int max_batch = 256;  // requests per HTTP request at most

  // Endpoints with the same key share connections.
  std::string key() const { return url + "\n" + token; }
};

struct BatchReply {
  enum class Transport { kOk, kNotSent, kLost };
  Transport transport = Transport::kOk;
  // kNotSent/kLost: what failed ("connect: Connection refused"). kOk with status >= 300: the
  // server's error message for this request.
  std::string error;
  int status = 0;         // this request's status inside the batch (kOk only)
  std::string body_text;  // its body's JSON text when status < 300 (valid JSON)
};

class BatchTransport {
 public:
  using Done = std::function<void(BatchReply&&)>;

  BatchTransport();
  ~BatchTransport();
  BatchTransport(const BatchTransport&) = delete;
  BatchTransport& operator=(const BatchTransport&) = delete;

  // Queues one request object (JSON text: {"op": ..., ...}) for `endpoint`. `done` runs once,
  // on the I/O thread.
  void Submit(const BatchEndpoint& endpoint, std::string request, Done done);
  // Between Hold() and Release() submissions only queue up: a caller submitting many requests
  // (one EnvPool::Send) brackets them so that the I/O thread sees them together instead of
  // sending the first while the rest are still being submitted. Calls nest.
  void Hold();
  void Release();
  // Runs `fn` on the I/O thread after `delay` (retry backoff).
  void After(std::chrono::milliseconds delay, std::function<void()> fn);
  // Runs `fn` on the I/O thread as soon as possible.
  void Post(std::function<void()> fn);
  // HTTP requests sent so far (all endpoints), for tests and benchmarks.
  int64_t http_requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnwise::envs_internal

#endif  // TURNWISE_ENVS_INTERNAL_BATCH_TRANSPORT_H_
