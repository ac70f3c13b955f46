// clang-format off
#include <utility>  // before Asio: its awaitable.hpp uses std::exchange without including it
// clang-format on

#include "envs/internal/batch_transport.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "envs/internal/json_scan.h"

namespace turnwise::envs_internal {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// A keep-alive connection idle for longer than this is reopened instead of reused: the server
// may have closed it, and a request written into a closed connection could not be told apart
// from one the server received and lost (kLost).
constexpr std::chrono::seconds kReopenAfterIdle{5};
constexpr uint64_t kMaxAnswerBytes = uint64_t{512} << 20;

struct Pending {
  std::string request;
  BatchTransport::Done done;
};

struct Connection {
  explicit Connection(net::io_context& ioc) : stream(ioc) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  http::request<http::string_body> req;
  std::optional<http::response_parser<http::string_body>> parser;
  std::vector<Pending> ops;  // the requests of the batch in flight
  bool open = false;
  bool busy = false;
  Clock::time_point last_used;
};

struct Client {
  BatchEndpoint endpoint;
  std::string host, port, authority;
  std::deque<Pending> queue;
  std::vector<std::unique_ptr<Connection>> connections;
};

// The replies of a batch answer, read without a Json tree: each body is kept as its text (the
// caller parses it, a step straight into a StepResult). False when the scanner declines the
// text (malformed, or a shape it does not read: other keys, a non-integer status); the answer
// then goes through ReadRepliesSlowly.
bool ReadReplies(std::string_view text, std::vector<BatchReply>* out) {
  JsonScanner in(text);
  std::string key;
  if (!in.Consume('{') || !in.String(&key) || key != "responses" || !in.Consume(':') ||
      !in.Consume('[')) {
    return false;
  }
  if (!in.Consume(']')) {
    do {
      if (!in.Consume('{')) return false;
      Json status = 0;
      std::string_view body = "null", error;
      bool seen_status = false, seen_body = false, seen_error = false;
      if (!in.Consume('}')) {
        do {
          if (!in.String(&key) || !in.Consume(':')) return false;
          if (key == "status") {
            if (std::exchange(seen_status, true) || !in.Number(&status) ||
                !status.is_number_integer() || status.get<int64_t>() < 0 ||
                status.get<int64_t>() > 999) {
              return false;
            }
          } else if (key == "body") {
            if (std::exchange(seen_body, true) || !in.SkipValue(&body)) return false;
          } else if (key == "error") {
            if (std::exchange(seen_error, true) || !in.SkipValue(&error)) return false;
          } else {
            return false;
          }
        } while (in.Consume(','));
        if (!in.Consume('}')) return false;
      }
      BatchReply r;
      r.status = static_cast<int>(status.get<int64_t>());
      if (r.status >= 200 && r.status < 300) {
        r.body_text.assign(body);
      } else {
        r.error = "HTTP " + std::to_string(r.status);
        if (!error.empty() && error[0] == '{') {
          Json e = Json::parse(error, nullptr, /*allow_exceptions=*/false);
          if (e.is_discarded()) return false;
          auto message = e.find("message");
          if (message != e.end()) {
            if (!message->is_string()) return false;
            r.error = message->get<std::string>();
          }
        }
      }
      out->push_back(std::move(r));
    } while (in.Consume(','));
    if (!in.Consume(']')) return false;
  }
  return in.Consume('}') && in.AtEnd();
}

// The same through nlohmann, for every answer ReadReplies declines. False when the answer is
// not a batch answer.
bool ReadRepliesSlowly(const std::string& text, std::vector<BatchReply>* out) {
  Json answer = Json::parse(text, nullptr, false);
  if (!answer.is_object() || !answer.contains("responses") || !answer["responses"].is_array()) {
    return false;
  }
  for (Json& one : answer["responses"]) {
    BatchReply r;
    r.status = one.is_object() ? one.value("status", 0) : 0;
    if (r.status >= 200 && r.status < 300) {
      r.body_text = DumpJson(one["body"]);
    } else {
      r.error = "HTTP " + std::to_string(r.status);
      if (one.is_object() && one.contains("error") && one["error"].is_object())
        r.error = one["error"].value("message", r.error);
    }
    out->push_back(std::move(r));
  }
  return true;
}

}  // namespace

struct BatchTransport::Impl {
  net::io_context ioc{1};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> guard;
  std::thread thread;
  std::mutex inbox_mu;
  std::vector<std::pair<BatchEndpoint, Pending>> inbox;
  bool drain_posted = false;
  int held = 0;
  std::unordered_map<std::string, std::unique_ptr<Client>> clients;  // I/O thread only
  std::atomic<int64_t> requests{0};

  Impl() {
    guard.emplace(net::make_work_guard(ioc));
    thread = std::thread([this] { ioc.run(); });
  }

  ~Impl() {
    guard.reset();
    ioc.stop();
    thread.join();
    clients.clear();  // closes the sockets while the io_context still exists
  }

  void Submit(const BatchEndpoint& endpoint, std::string request, Done done) {
    bool post;
    {
      std::lock_guard lock(inbox_mu);
      inbox.emplace_back(endpoint, Pending{std::move(request), std::move(done)});
      post = !drain_posted && held == 0;
      if (post) drain_posted = true;
    }
    if (post) net::post(ioc, [this] { Drain(); });
  }

  void Hold() {
    std::lock_guard lock(inbox_mu);
    ++held;
  }

  void Release() {
    bool post;
    {
      std::lock_guard lock(inbox_mu);
      --held;
      post = held == 0 && !drain_posted && !inbox.empty();
      if (post) drain_posted = true;
    }
    if (post) net::post(ioc, [this] { Drain(); });
  }

  // Moves everything submitted into the endpoints' queues, then sends: a burst of submissions
  // (one EnvPool::Send) is seen whole before it is split into requests.
  void Drain() {
    std::vector<std::pair<BatchEndpoint, Pending>> batch;
    {
      std::lock_guard lock(inbox_mu);
      batch.swap(inbox);
      drain_posted = false;
    }
    std::vector<Client*> touched;
    for (auto& [endpoint, pending] : batch) {
      Client* c = ClientFor(endpoint);
      if (c == nullptr) {
        BatchReply r;
        r.transport = BatchReply::Transport::kNotSent;
        r.error = "malformed URL '" + endpoint.url + "' (want http://host:port)";
        pending.done(std::move(r));
        continue;
      }
      c->queue.push_back(std::move(pending));
      if (std::find(touched.begin(), touched.end(), c) == touched.end()) touched.push_back(c);
    }
    for (Client* c : touched) Pump(*c);
  }

  Client* ClientFor(const BatchEndpoint& endpoint) {
    std::string key = endpoint.key();
    auto it = clients.find(key);
    if (it != clients.end()) return it->second.get();
    if (endpoint.url.rfind("http://", 0) != 0) return nullptr;
    auto c = std::make_unique<Client>();
    c->endpoint = endpoint;
    c->endpoint.connections = std::max(1, endpoint.connections);
    c->endpoint.max_batch = std::max(1, endpoint.max_batch);
    c->authority = endpoint.url.substr(7);
    while (!c->authority.empty() && c->authority.back() == '/') c->authority.pop_back();
    if (c->authority.find('/') != std::string::npos || c->authority.empty()) return nullptr;
    size_t colon = c->authority.rfind(':');
    if (c->authority[0] == '[') {
      size_t close = c->authority.find(']');
      if (close == std::string::npos) return nullptr;
      c->host = c->authority.substr(1, close - 1);
      c->port = close + 1 < c->authority.size() && c->authority[close + 1] == ':'
                    ? c->authority.substr(close + 2)
                    : "80";
    } else if (colon == std::string::npos) {
      c->host = c->authority;
      c->port = "80";
    } else {
      c->host = c->authority.substr(0, colon);
      c->port = c->authority.substr(colon + 1);
    }
    Client* raw = c.get();
    clients.emplace(key, std::move(c));
    return raw;
  }

  // Sends what is queued over the free connections, opening new ones up to the limit.
  void Pump(Client& c) {
    while (!c.queue.empty()) {
      std::vector<Connection*> free;
      for (auto& conn : c.connections) {
        if (!conn->busy) free.push_back(conn.get());
      }
      while (static_cast<int>(c.connections.size()) < c.endpoint.connections &&
             free.size() < c.queue.size()) {
        c.connections.push_back(std::make_unique<Connection>(ioc));
        free.push_back(c.connections.back().get());
      }
      if (free.empty()) return;
      size_t per = std::min<size_t>(static_cast<size_t>(c.endpoint.max_batch),
                                    (c.queue.size() + free.size() - 1) / free.size());
      for (Connection* conn : free) {
        if (c.queue.empty()) break;
        size_t n = std::min(per, c.queue.size());
        conn->ops.clear();
        for (size_t i = 0; i < n; ++i) {
          conn->ops.push_back(std::move(c.queue.front()));
          c.queue.pop_front();
        }
        Send(c, *conn);
      }
    }
  }

  void Send(Client& c, Connection& conn) {
    conn.busy = true;
    std::string body;
    size_t size = 16;
    for (const Pending& p : conn.ops) size += p.request.size() + 1;
    body.reserve(size);
    body += R"({"requests":[)";
    for (size_t i = 0; i < conn.ops.size(); ++i) {
      if (i) body += ',';
      body += conn.ops[i].request;
    }
    body += "]}";
    conn.req = {};
    conn.req.method(http::verb::post);
    conn.req.target("/v1/batch");
    conn.req.version(11);
    conn.req.set(http::field::host, c.authority);
    conn.req.set(http::field::content_type, "application/json");
    if (!c.endpoint.token.empty())
      conn.req.set(http::field::authorization, "Bearer " + c.endpoint.token);
    conn.req.keep_alive(true);
    conn.req.body() = std::move(body);
    conn.req.prepare_payload();
    requests.fetch_add(1, std::memory_order_relaxed);

    if (conn.open && Clock::now() - conn.last_used > kReopenAfterIdle) Close(conn);
    conn.stream.expires_after(c.endpoint.request_timeout);
    if (conn.open) return Write(c, conn);
    // An IP address needs no resolver (Asio's asynchronous resolver runs a thread of its own).
    boost::system::error_code bad;
    auto address = net::ip::make_address(c.host, bad);
    if (!bad) {
      unsigned long port = std::strtoul(c.port.c_str(), nullptr, 10);
      if (port == 0 || port > 65535) {
        return Fail(c, conn, BatchReply::Transport::kNotSent, "bad port '" + c.port + "'");
      }
      return Connect(c, conn, {tcp::endpoint(address, static_cast<uint16_t>(port))});
    }
    auto resolver = std::make_shared<tcp::resolver>(ioc);
    resolver->async_resolve(
        c.host, c.port,
        [this, &c, &conn, resolver](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return Fail(c, conn, BatchReply::Transport::kNotSent, "resolve: " + ec.message());
          Connect(c, conn, std::vector<tcp::endpoint>(results.begin(), results.end()));
        });
  }

  void Connect(Client& c, Connection& conn, std::vector<tcp::endpoint> endpoints) {
    conn.stream.async_connect(endpoints,
                              [this, &c, &conn](beast::error_code e, const tcp::endpoint&) {
                                if (e) {
                                  return Fail(c, conn, BatchReply::Transport::kNotSent,
                                              "connect to " + c.authority + ": " + Describe(c, e));
                                }
                                boost::system::error_code ignored;
                                conn.stream.socket().set_option(tcp::no_delay(true), ignored);
                                conn.open = true;
                                Write(c, conn);
                              });
  }

  void Write(Client& c, Connection& conn) {
    http::async_write(conn.stream, conn.req, [this, &c, &conn](beast::error_code ec, size_t) {
      if (ec) return Fail(c, conn, BatchReply::Transport::kNotSent, "write: " + Describe(c, ec));
      conn.parser.emplace();
      conn.parser->body_limit(kMaxAnswerBytes);
      http::async_read(
          conn.stream, conn.buffer, *conn.parser, [this, &c, &conn](beast::error_code e, size_t) {
            if (e) {
              return Fail(c, conn, BatchReply::Transport::kLost, "no answer: " + Describe(c, e));
            }
            OnAnswer(c, conn);
          });
    });
  }

  static std::string Describe(const Client& c, const beast::error_code& ec) {
    if (ec == beast::error::timeout) {
      return "timed out after " + std::to_string(c.endpoint.request_timeout.count()) + " ms";
    }
    return ec.message();
  }

  void OnAnswer(Client& c, Connection& conn) {
    conn.stream.expires_never();
    http::response<http::string_body> res = conn.parser->release();
    conn.parser.reset();
    conn.last_used = Clock::now();
    if (!res.keep_alive()) Close(conn);
    int status = res.result_int();
    if (status >= 500) {
      return Fail(c, conn, BatchReply::Transport::kLost,
                  "HTTP " + std::to_string(status) + " for the batch");
    }
    std::vector<Pending> ops = std::move(conn.ops);
    conn.ops.clear();
    conn.busy = false;
    if (status != 200) {
      // The whole batch was refused (401 token, 413 too large, 400): no request of it ran.
      Json answer = Json::parse(res.body(), nullptr, false);
      std::string message = "HTTP " + std::to_string(status);
      if (answer.is_object() && answer.contains("error") && answer["error"].is_object())
        message = answer["error"].value("message", message);
      for (Pending& p : ops) {
        BatchReply r;
        r.status = status;
        r.error = message;
        p.done(std::move(r));
      }
      return Pump(c);
    }
    std::vector<BatchReply> replies;
    replies.reserve(ops.size());
    bool read = ReadReplies(res.body(), &replies);
    if (!read) {
      replies.clear();
      read = ReadRepliesSlowly(res.body(), &replies);
    }
    if (!read || replies.size() != ops.size()) {
      conn.ops = std::move(ops);
      conn.busy = true;
      return Fail(c, conn, BatchReply::Transport::kLost, "malformed batch answer");
    }
    for (size_t i = 0; i < ops.size(); ++i) ops[i].done(std::move(replies[i]));
    Pump(c);
  }

  void Close(Connection& conn) {
    boost::system::error_code ignored;
    conn.stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    conn.stream.close();
    conn.buffer.clear();
    conn.open = false;
  }

  void Fail(Client& c, Connection& conn, BatchReply::Transport transport,
            const std::string& error) {
    Close(conn);
    std::vector<Pending> ops = std::move(conn.ops);
    conn.ops.clear();
    conn.busy = false;
    for (Pending& p : ops) {
      BatchReply r;
      r.transport = transport;
      r.error = error;
      p.done(std::move(r));
    }
    Pump(c);
  }
};

BatchTransport::BatchTransport() : impl_(std::make_unique<Impl>()) {}
BatchTransport::~BatchTransport() = default;

void BatchTransport::Submit(const BatchEndpoint& endpoint, std::string request, Done done) {
  impl_->Submit(endpoint, std::move(request), std::move(done));
}

void BatchTransport::Hold() { impl_->Hold(); }
void BatchTransport::Release() { impl_->Release(); }

void BatchTransport::After(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto timer = std::make_shared<net::steady_timer>(impl_->ioc, delay);
  timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec) fn();
  });
}

void BatchTransport::Post(std::function<void()> fn) { net::post(impl_->ioc, std::move(fn)); }

int64_t BatchTransport::http_requests() const { return impl_->requests.load(); }

}  // namespace turnwise::envs_internal
