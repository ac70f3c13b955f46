// WsClient against in-test Beast servers on 127.0.0.1: messages both ways, the upgrade request
// it sends, and every failure as Unavailable naming the endpoint, within its deadline.
#include "envs/internal/ws_client.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "tests/envs/ws_test_server.h"

namespace turnwise {
namespace {

using envs_internal::WsClient;
using std::chrono::milliseconds;
using testing::WsTestConnection;
using testing::WsTestServer;

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Unavailable& e) {
    return e.what();
  }
  return "(no Unavailable thrown)";
}

TEST(WsClient, ExchangesMessagesAndSendsTheUpgradeRequest) {
  std::string target, auth, agent;
  WsTestServer server([&](WsTestConnection& c) {
    target = std::string(c.request().target());
    auth = std::string(c.request()["Authorization"]);
    agent = std::string(c.request()["User-Agent"]);
    while (auto m = c.Read()) c.Write("echo:" + std::to_string(m->size()) + ":" + m->substr(0, 16));
  });
  auto ws =
      WsClient::Connect(server.url("/ws?x=1"), {{"Authorization", "Bearer t"}}, milliseconds(2000));
  EXPECT_TRUE(ws->is_open());
  EXPECT_EQ(ws->url(), server.url("/ws?x=1"));
  ws->SendText("hello");
  EXPECT_EQ(ws->ReceiveText(milliseconds(2000)), "echo:5:hello");
  std::string big(3 << 20, 'x');  // several frames' worth
  ws->SendText(big);
  EXPECT_EQ(ws->ReceiveText(milliseconds(5000)), "echo:3145728:xxxxxxxxxxxxxxxx");
  ws->SendText("{\"type\":\"state\"}");
  EXPECT_EQ(ws->ReceiveText(milliseconds(2000)), "echo:16:{\"type\":\"state\"}");
  ws->Close();
  EXPECT_FALSE(ws->is_open());
  ws->Close();  // harmless
  EXPECT_EQ(target, "/ws?x=1");
  EXPECT_EQ(auth, "Bearer t");
  EXPECT_EQ(agent, "turnwise");
  EXPECT_NE(ErrorOf([&] { ws->SendText("x"); }).find("send on a closed connection"),
            std::string::npos);
}

TEST(WsClient, ReceiveTimesOutOnTimeAndClosesTheClient) {
  WsTestServer server([](WsTestConnection& c) {
    while (c.Read()) {
    }  // reads, never answers
  });
  auto ws = WsClient::Connect(server.url(), {}, milliseconds(2000));
  ws->SendText("anyone?");
  auto start = std::chrono::steady_clock::now();
  std::string error = ErrorOf([&] { ws->ReceiveText(milliseconds(150)); });
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(error, "websocket " + server.url() + ": receive timed out after 150 ms");
  EXPECT_GE(elapsed, milliseconds(140));  // it waited for the timeout (load can only lengthen it)
  EXPECT_FALSE(ws->is_open());
  EXPECT_NE(
      ErrorOf([&] { ws->ReceiveText(milliseconds(10)); }).find("receive on a closed connection"),
      std::string::npos);
}

TEST(WsClient, TheServersCloseFrameIsUnavailableWithItsReason) {
  WsTestServer server([](WsTestConnection& c) {
    c.Read();
    c.Close(1001, "going away for tests");
  });
  auto ws = WsClient::Connect(server.url(), {}, milliseconds(2000));
  ws->SendText("hi");
  EXPECT_EQ(ErrorOf([&] { ws->ReceiveText(milliseconds(2000)); }),
            "websocket " + server.url() +
                ": the server closed the connection (code 1001: going away for tests)");
  EXPECT_FALSE(ws->is_open());
}

TEST(WsClient, ADroppedConnectionIsUnavailable) {
  WsTestServer server([](WsTestConnection& c) {
    c.Read();
    c.Abort();
  });
  auto ws = WsClient::Connect(server.url(), {}, milliseconds(2000));
  ws->SendText("hi");
  std::string error = ErrorOf([&] { ws->ReceiveText(milliseconds(2000)); });
  EXPECT_EQ(error.rfind("websocket " + server.url() + ": receive failed: ", 0), 0u) << error;
}

TEST(WsClient, ConnectFailuresNameTheEndpointAndWhatFailed) {
  // Nothing listens on loopback port 1.
  std::string refused =
      ErrorOf([] { WsClient::Connect("ws://127.0.0.1:1/ws", {}, milliseconds(2000)); });
  EXPECT_EQ(refused.rfind("websocket ws://127.0.0.1:1/ws: connect to 127.0.0.1:1 failed: ", 0), 0u)
      << refused;

  WsTestServer silent(nullptr, WsTestServer::Mode::kSilent);
  std::string slow = ErrorOf([&] { WsClient::Connect(silent.url(), {}, milliseconds(200)); });
  EXPECT_EQ(slow, "websocket " + silent.url() + ": handshake with 127.0.0.1:" +
                      std::to_string(silent.port()) + " timed out after 200 ms");

  WsTestServer rejecting(nullptr, WsTestServer::Mode::kReject404);
  EXPECT_EQ(ErrorOf([&] { WsClient::Connect(rejecting.url(), {}, milliseconds(2000)); }),
            "websocket " + rejecting.url() + ": handshake with 127.0.0.1:" +
                std::to_string(rejecting.port()) + " rejected: HTTP 404 Not Found");
}

TEST(WsClient, MalformedUrlsAreInvalidArguments) {
  for (const char* url : {"http://127.0.0.1:80/ws", "wss://127.0.0.1/ws", "ws://", "ws://:80/",
                          "ws://127.0.0.1:99999/", "ws://127.0.0.1:8x/", "ws://[::1/ws"}) {
    EXPECT_THROW(WsClient::Connect(url, {}, milliseconds(100)), InvalidArgument) << url;
  }
  try {
    WsClient::Connect("wss://example.org/ws", {}, milliseconds(100));
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "websocket URL 'wss://example.org/ws': wss:// (TLS) is not supported");
  }
}

}  // namespace
}  // namespace turnwise
