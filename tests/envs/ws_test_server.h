// A WebSocket server for tests, written with Beast: listens on 127.0.0.1 (an ephemeral port),
// runs `session` on its own thread for every connection, and stops everything — the accept loop
// and every live connection — in its destructor. Blocking Beast calls, so a session reads like a
// script: read a message, check it, write the reply.
#ifndef TURNWISE_TESTS_ENVS_WS_TEST_SERVER_H_
#define TURNWISE_TESTS_ENVS_WS_TEST_SERVER_H_

#include <sys/socket.h>

// <utility> before Asio (Boost 1.74 with g++ 12, STYLE.md pitfalls).
// clang-format off
#include <utility>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
// clang-format on
#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace turnwise::testing {

namespace ws_test {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
}  // namespace ws_test

// One accepted WebSocket connection, as a session sees it.
class WsTestConnection {
 public:
  explicit WsTestConnection(ws_test::tcp::socket socket) : ws_(std::move(socket)) {}

  // The HTTP upgrade request the client sent (target, headers).
  const ws_test::http::request<ws_test::http::string_body>& request() const { return request_; }

  // The next message, or nullopt when the client closed or the connection broke.
  std::optional<std::string> Read() {
    ws_test::beast::flat_buffer buffer;
    ws_test::beast::error_code ec;
    ws_.read(buffer, ec);
    if (ec) return std::nullopt;
    return ws_test::beast::buffers_to_string(buffer.data());
  }

  void Write(const std::string& text) {
    ws_test::beast::error_code ec;
    ws_.text(true);
    ws_.write(ws_test::asio::buffer(text), ec);
  }

  // Close handshake with `code` and `reason`; waits for the client's close frame.
  void Close(uint16_t code = 1000, const std::string& reason = "") {
    ws_test::beast::error_code ec;
    if (ws_.is_open())
      ws_.close(ws_test::websocket::close_reason(static_cast<ws_test::websocket::close_code>(code),
                                                 reason),
                ec);
  }

  // Ends the TCP connection without a close frame (the socket itself is closed by the server,
  // which tracks its descriptor).
  void Abort() {
    ws_test::beast::error_code ec;
    ws_.next_layer().shutdown(ws_test::tcp::socket::shutdown_both, ec);
  }

 private:
  friend class WsTestServer;
  ws_test::websocket::stream<ws_test::tcp::socket> ws_;
  ws_test::http::request<ws_test::http::string_body> request_;
};

class WsTestServer {
 public:
  enum class Mode {
    kWebSocket,  // upgrade, then run the session
    kSilent,     // accept the TCP connection and never answer (handshake timeouts)
    kReject404,  // answer the upgrade request with HTTP 404
  };
  using Session = std::function<void(WsTestConnection&)>;

  explicit WsTestServer(Session session, Mode mode = Mode::kWebSocket)
      : session_(std::move(session)), mode_(mode), acceptor_(ioc_) {
    ws_test::tcp::endpoint endpoint(ws_test::asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(ws_test::asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~WsTestServer() {
    stopping_ = true;
    {
      // Wake the blocking accept with a connection of our own.
      ws_test::tcp::socket wake(ioc_);
      ws_test::beast::error_code ec;
      wake.connect({ws_test::asio::ip::make_address("127.0.0.1"), port_}, ec);
      accept_thread_.join();
    }
    {
      // Unblock every session still reading.
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : live_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : session_threads_) t.join();
  }

  int port() const { return port_; }
  std::string url(const std::string& path = "/ws") const {
    return "ws://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::string http_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  void AcceptLoop() {
    while (true) {
      ws_test::tcp::socket socket(ioc_);
      ws_test::beast::error_code ec;
      acceptor_.accept(socket, ec);
      if (stopping_) return;
      if (ec) continue;
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      live_fds_.insert(socket.native_handle());
      session_threads_.emplace_back(
          [this, s = std::move(socket)]() mutable { Serve(std::move(s)); });
    }
  }

  void Serve(ws_test::tcp::socket socket) {
    const int fd = socket.native_handle();
    WsTestConnection c(std::move(socket));
    ws_test::beast::error_code ec;
    ws_test::beast::flat_buffer buffer;
    if (mode_ == Mode::kSilent) {
      char byte;
      c.ws_.next_layer().read_some(ws_test::asio::buffer(&byte, 1), ec);  // until the peer leaves
      while (!ec) c.ws_.next_layer().read_some(ws_test::asio::buffer(&byte, 1), ec);
    } else {
      ws_test::http::read(c.ws_.next_layer(), buffer, c.request_, ec);
      if (!ec && mode_ == Mode::kReject404) {
        ws_test::http::response<ws_test::http::string_body> res(ws_test::http::status::not_found,
                                                                c.request_.version());
        res.body() = "no such endpoint";
        res.prepare_payload();
        ws_test::http::write(c.ws_.next_layer(), res, ec);
      } else if (!ec) {
        c.ws_.accept(c.request_, ec);
        if (!ec) {
          try {
            session_(c);
          } catch (...) {
          }
          c.Close();
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    live_fds_.erase(fd);
    ws_test::beast::error_code ignored;
    c.ws_.next_layer().close(ignored);
  }

  Session session_;
  Mode mode_;
  ws_test::asio::io_context ioc_;
  ws_test::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::set<int> live_fds_;
  std::vector<std::thread> session_threads_;
};

}  // namespace turnwise::testing

#endif  // TURNWISE_TESTS_ENVS_WS_TEST_SERVER_H_
