// ws_client.h brings <utility> in before any Asio header, which Boost 1.74's Asio needs under
// g++ 12 (STYLE.md pitfalls).
#include "envs/internal/ws_client.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "core/error.h"

namespace turnwise::envs_internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr size_t kMaxMessageBytes = size_t{64} << 20;
constexpr std::chrono::milliseconds kMaxCloseWait{1000};

struct ParsedUrl {
  std::string host;  // without brackets
  std::string port;
  std::string authority;  // as written: the Host header
  std::string target;     // path and query, at least "/"
};

ParsedUrl ParseUrl(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("websocket URL '" + url + "': " + why);
  };
  if (url.rfind("ws://", 0) != 0) {
    throw bad(url.rfind("wss://", 0) == 0 ? "wss:// (TLS) is not supported"
                                          : "must start with ws://");
  }
  std::string rest = url.substr(5);
  size_t cut = rest.find_first_of("/?");
  ParsedUrl p;
  p.authority = rest.substr(0, cut);
  p.target = cut == std::string::npos ? "/" : rest.substr(cut);
  if (p.target[0] == '?') p.target = "/" + p.target;
  if (p.authority.empty()) throw bad("no host");
  std::string port;
  if (p.authority[0] == '[') {
    size_t close = p.authority.find(']');
    if (close == std::string::npos) throw bad("unterminated [IPv6] host");
    p.host = p.authority.substr(1, close - 1);
    std::string after = p.authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw bad("unexpected text after ]");
      port = after.substr(1);
    }
  } else {
    size_t colon = p.authority.rfind(':');
    p.host = p.authority.substr(0, colon);
    if (colon != std::string::npos) port = p.authority.substr(colon + 1);
  }
  if (p.host.empty()) throw bad("no host");
  if (port.empty()) {
    p.port = "80";
  } else {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535) {
      throw bad("port '" + port + "' is not a number in 1..65535");
    }
    p.port = port;
  }
  return p;
}

}  // namespace

struct WsClient::Impl {
  Impl(std::string u, std::chrono::milliseconds t) : url(std::move(u)), io_timeout(t) {}

  std::string url;
  std::chrono::milliseconds io_timeout;
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  bool open = false;

  // Every operation is started asynchronously and the io_context run until it completes: that
  // is how Beast's deadlines work (a tcp_stream whose expiry passes closes its socket and the
  // pending operation completes with error::timeout). Blocking calls would have none.
  void Run() {
    ioc.restart();
    ioc.run();
  }

  void Drop() {
    open = false;
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().close(ignored);
  }

  [[noreturn]] void Fail(const std::string& what) {
    Drop();
    throw Unavailable("websocket " + url + ": " + what);
  }
};

WsClient::WsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WsClient::~WsClient() { Close(); }

std::unique_ptr<WsClient> WsClient::Connect(const std::string& url, const Headers& headers,
                                            std::chrono::milliseconds timeout) {
  ParsedUrl p = ParseUrl(url);
  auto impl = std::make_unique<Impl>(url, timeout);
  Impl& s = *impl;
  const std::string endpoint =
      (p.host.find(':') != std::string::npos ? "[" + p.host + "]" : p.host) + ":" + p.port;
  const auto deadline = Clock::now() + timeout;

  // Name resolution has no stream to carry a deadline, so a timer cancels it.
  tcp::resolver resolver(s.ioc);
  asio::steady_timer resolve_timer(s.ioc);
  beast::error_code ec;
  tcp::resolver::results_type addresses;
  bool resolve_timed_out = false;
  resolver.async_resolve(p.host, p.port, [&](beast::error_code e, tcp::resolver::results_type r) {
    ec = e;
    addresses = std::move(r);
    resolve_timer.cancel();
  });
  resolve_timer.expires_at(deadline);
  resolve_timer.async_wait([&](beast::error_code e) {
    if (!e) {
      resolve_timed_out = true;
      resolver.cancel();
    }
  });
  s.Run();
  if (resolve_timed_out)
    s.Fail("resolving " + p.host + " timed out after " + std::to_string(timeout.count()) + " ms");
  if (ec) s.Fail("resolving " + p.host + " failed: " + ec.message());

  beast::tcp_stream& tcp_layer = beast::get_lowest_layer(s.ws);
  tcp_layer.expires_at(deadline);
  tcp_layer.async_connect(addresses, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
  s.Run();
  if (ec == beast::error::timeout) {
    s.Fail("connect to " + endpoint + " timed out after " + std::to_string(timeout.count()) +
           " ms");
  }
  if (ec) s.Fail("connect to " + endpoint + " failed: " + ec.message());

  s.ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    req.set(beast::http::field::user_agent, "turnwise");
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  s.ws.read_message_max(kMaxMessageBytes);
  websocket::response_type response;
  tcp_layer.expires_at(deadline);
  s.ws.async_handshake(response, p.authority, p.target, [&](beast::error_code e) { ec = e; });
  s.Run();
  if (ec == beast::error::timeout) {
    s.Fail("handshake with " + endpoint + " timed out after " + std::to_string(timeout.count()) +
           " ms");
  }
  if (ec == websocket::error::upgrade_declined) {
    s.Fail("handshake with " + endpoint + " rejected: HTTP " +
           std::to_string(response.result_int()) + " " + std::string(response.reason()));
  }
  if (ec) s.Fail("handshake with " + endpoint + " failed: " + ec.message());
  tcp_layer.expires_never();
  s.ws.text(true);
  s.open = true;
  return std::unique_ptr<WsClient>(new WsClient(std::move(impl)));
}

void WsClient::SendText(const std::string& text) {
  Impl& s = *impl_;
  if (!s.open) throw Unavailable("websocket " + s.url + ": send on a closed connection");
  beast::error_code ec;
  beast::get_lowest_layer(s.ws).expires_after(s.io_timeout);
  s.ws.async_write(asio::buffer(text), [&](beast::error_code e, size_t) { ec = e; });
  s.Run();
  if (ec == beast::error::timeout) {
    s.Fail("send timed out after " + std::to_string(s.io_timeout.count()) + " ms");
  }
  if (ec) s.Fail("send failed: " + ec.message());
  beast::get_lowest_layer(s.ws).expires_never();
}

std::string WsClient::ReceiveText(std::chrono::milliseconds timeout) {
  Impl& s = *impl_;
  if (!s.open) throw Unavailable("websocket " + s.url + ": receive on a closed connection");
  beast::error_code ec;
  s.buffer.clear();
  beast::get_lowest_layer(s.ws).expires_after(timeout);
  s.ws.async_read(s.buffer, [&](beast::error_code e, size_t) { ec = e; });
  s.Run();
  if (ec == beast::error::timeout) {
    s.Fail("receive timed out after " + std::to_string(timeout.count()) + " ms");
  }
  if (ec == websocket::error::closed) {
    const websocket::close_reason& why = s.ws.reason();
    std::string detail = "the server closed the connection (code " + std::to_string(why.code);
    if (!why.reason.empty()) detail += ": " + std::string(why.reason.data(), why.reason.size());
    s.Fail(detail + ")");
  }
  if (ec == websocket::error::message_too_big) {
    s.Fail("incoming message larger than " + std::to_string(kMaxMessageBytes >> 20) + " MiB");
  }
  if (ec) s.Fail("receive failed: " + ec.message());
  beast::get_lowest_layer(s.ws).expires_never();
  return beast::buffers_to_string(s.buffer.data());
}

void WsClient::Close() {
  Impl& s = *impl_;
  if (!s.open) return;
  s.open = false;
  beast::get_lowest_layer(s.ws).expires_after(std::min(s.io_timeout, kMaxCloseWait));
  s.ws.async_close(websocket::close_code::normal, [](beast::error_code) {});
  s.Run();
  s.Drop();
}

bool WsClient::is_open() const { return impl_->open; }

const std::string& WsClient::url() const { return impl_->url; }

}  // namespace turnwise::envs_internal
