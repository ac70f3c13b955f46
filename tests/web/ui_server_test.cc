// The embedded UI over HTTP on 127.0.0.1: files by exact path with their types, the single-page
// fallback, nothing else servable (path traversal), strict headers on the HTML.
#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>

#include "storage/store.h"
#include "tests/storage/store_test_util.h"
#include "web/assets.h"
#include "web/server.h"

namespace turnwise {
namespace {

using testing_util::MakeEpisode;
using testing_util::TempDir;

class UiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("ui.db");
    {
      auto w = StoreWriter::Open(path_);
      int64_t run = w->CreateRun({.name = "ui"});
      w->AppendEpisode(MakeEpisode(run, 0, 2));
    }
    server_ = std::make_unique<WebServer>(path_, WebServer::Options{.port = 0, .threads = 4});
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->Start());
  }
  void TearDown() override { server_->Stop(); }

  std::string Index() const { return std::string(FindEmbeddedAsset("/index.html")->data); }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<WebServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST(EmbeddedAssets, HoldTheBuiltUiSortedWithTypes) {
  auto assets = EmbeddedAssets();
  ASSERT_GE(assets.size(), 3u);  // index.html, one script, one stylesheet at least
  for (size_t i = 1; i < assets.size(); ++i) EXPECT_LT(assets[i - 1].path, assets[i].path);
  const EmbeddedAsset* index = FindEmbeddedAsset("/index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  bool js = false;
  for (const auto& a : assets) {
    if (a.path.ends_with(".js")) {
      js = true;
      EXPECT_EQ(a.content_type, "text/javascript; charset=utf-8");
      EXPECT_TRUE(a.path.starts_with("/assets/"));
    }
    EXPECT_FALSE(a.data.empty()) << a.path;
  }
  EXPECT_TRUE(js);
  EXPECT_EQ(FindEmbeddedAsset("/nope"), nullptr);
  EXPECT_EQ(FindEmbeddedAsset("index.html"), nullptr);
}

TEST(EmbeddedAssets, IndexHasNoInlineScriptOrStyle) {
  std::string index(FindEmbeddedAsset("/index.html")->data);
  // Every <script> has a src (the CSP forbids inline script) and no element has a style attribute.
  std::regex script(R"(<script\b[^>]*>)");
  for (auto it = std::sregex_iterator(index.begin(), index.end(), script);
       it != std::sregex_iterator(); ++it) {
    EXPECT_NE(it->str().find("src=\"/assets/"), std::string::npos) << it->str();
  }
  EXPECT_EQ(index.find("style="), std::string::npos);
  EXPECT_EQ(index.find("<style"), std::string::npos);
}

TEST_F(UiServerTest, ServesEveryEmbeddedFileWithItsType) {
  for (const auto& asset : EmbeddedAssets()) {
    auto res = client_->Get(std::string(asset.path));
    ASSERT_TRUE(res) << asset.path;
    EXPECT_EQ(res->status, 200) << asset.path;
    EXPECT_EQ(res->body, asset.data) << asset.path;
    EXPECT_EQ(res->get_header_value("Content-Type"), asset.content_type) << asset.path;
    EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
  }
}

TEST_F(UiServerTest, RootAndAppPathsAnswerIndexWithStrictHeaders) {
  for (const char* path : {"/", "/runs/1", "/episodes/5?turn=2", "/envs", "/no/such/page"}) {
    auto res = client_->Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->body, Index()) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/html; charset=utf-8");
    std::string csp = res->get_header_value("Content-Security-Policy");
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
    EXPECT_EQ(res->get_header_value("X-Frame-Options"), "DENY");
    EXPECT_EQ(res->get_header_value("Cache-Control"), "no-store");
  }
}

TEST_F(UiServerTest, HashedAssetsAreCacheableAndMissingOnesAre404) {
  for (const auto& asset : EmbeddedAssets()) {
    if (!asset.path.starts_with("/assets/")) continue;
    auto res = client_->Get(std::string(asset.path));
    ASSERT_TRUE(res);
    EXPECT_NE(res->get_header_value("Cache-Control").find("immutable"), std::string::npos);
  }
  auto missing = client_->Get("/assets/missing-1234.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
}

TEST_F(UiServerTest, NoPathOutsideTheEmbeddedSetIsServable) {
  // Traversal, encoded traversal, absolute paths, the source tree and the database itself: each
  // answers either the app's index.html or a 404, never a file's bytes.
  std::string db_name = std::filesystem::path(path_).filename().string();
  for (const std::string& path :
       {std::string("/../../../../etc/passwd"), std::string("/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
        std::string("/assets/../../../etc/passwd"), std::string("/assets/..%2f..%2fetc%2fpasswd"),
        std::string("//etc/passwd"), std::string("/etc/passwd"),
        std::string("/web/ui/package.json"), std::string("/src/main.ts"),
        std::string("/") + db_name, path_, std::string("/index.html/../../etc/passwd")}) {
    auto res = client_->Get(path);
    ASSERT_TRUE(res) << path;
    if (res->status == 200) {
      EXPECT_EQ(res->body, Index()) << path;
    } else {
      EXPECT_EQ(res->status, 404) << path;
    }
    EXPECT_EQ(res->body.find("root:"), std::string::npos) << path;
    EXPECT_EQ(res->body.find("SQLite format"), std::string::npos) << path;
  }
}

TEST_F(UiServerTest, ApiPathsStayJsonAndUiPathsStayReadOnly) {
  auto res = client_->Get("/api/nothing/here");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json; charset=utf-8");
  auto post = client_->Post("/", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

}  // namespace
}  // namespace turnwise
