// WsClient: a small blocking WebSocket client (RFC 6455) over plain TCP, for the adapters that
// talk to environment servers over WebSocket (OpenEnv's `/ws`, the Turnwise protocol's socket).
//
//   auto ws = WsClient::Connect("ws://127.0.0.1:8000/ws", {{"Authorization", "Bearer x"}},
//                               std::chrono::seconds(10));
//   ws->SendText(R"({"type": "reset", "data": {}})");
//   std::string reply = ws->ReceiveText(std::chrono::seconds(30));
//   ws->Close();
//
// Scope: `ws://host[:port][/path][?query]` only (no TLS, no proxies, no compression); the host
// may be a name, an IPv4 address or a bracketed IPv6 address; the port defaults to 80. Control
// frames are handled inside the calls: pings are answered while a receive is waiting. Incoming
// messages may be up to 64 MiB; a larger one fails the receive.
//
// Timeouts: Connect's `timeout` bounds name resolution, the TCP connect and the opening
// handshake together, and is also the deadline of every SendText. ReceiveText takes its own
// deadline (a step of a slow environment may take far longer than a connect).
//
// Errors: every transport failure — refused, unreachable, reset, handshake rejected (e.g. HTTP
// 404/403 instead of 101), timed out, the server closing the connection, a message too large —
// throws turnwise::Unavailable with one readable line naming the endpoint and what failed:
//   "websocket ws://127.0.0.1:8000/ws: receive timed out after 30000 ms"
//   "websocket ws://127.0.0.1:1/ws: connect to 127.0.0.1:1 failed: Connection refused"
// A malformed URL throws turnwise::InvalidArgument. After any failure the client is closed
// (is_open() is false) and stays so: a timed-out or half-read connection cannot be trusted to
// line up requests and replies again, so callers reconnect. Nothing here retries.
//
// Thread safety: none. One thread at a time uses a client (like an Env). Each client owns its
// own Asio io_context; no threads are started.
#ifndef TURNWISE_ENVS_INTERNAL_WS_CLIENT_H_
#define TURNWISE_ENVS_INTERNAL_WS_CLIENT_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace turnwise::envs_internal {

class WsClient {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Resolves, connects and performs the opening handshake, sending `headers` (in addition to
  // the handshake's own and "User-Agent: turnwise") with the upgrade request. Throws
  // InvalidArgument for a malformed URL, Unavailable for any failure to reach or upgrade.
  static std::unique_ptr<WsClient> Connect(const std::string& url, const Headers& headers,
                                           std::chrono::milliseconds timeout);

  // Closes like Close().
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // Sends one text message (UTF-8 is the caller's business; no check is made). Blocks until it
  // is written, at most Connect's timeout. Throws Unavailable (also when already closed).
  void SendText(const std::string& text);

  // Blocks until one whole message arrives and returns its payload (a binary message is
  // returned as is). Throws Unavailable on timeout, on the server's close frame (with its code
  // and reason), on a broken connection, or when already closed.
  std::string ReceiveText(std::chrono::milliseconds timeout);

  // Sends a close frame (1000, normal) and waits briefly (at most 1 s) for the server's, then
  // drops the connection. Never throws; calling it twice is harmless.
  void Close();

  // True from a successful Connect until Close() or the first failure.
  bool is_open() const;

  // The URL this client connected to, for messages.
  const std::string& url() const;

 private:
  struct Impl;
  explicit WsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnwise::envs_internal

#endif  // TURNWISE_ENVS_INTERNAL_WS_CLIENT_H_
