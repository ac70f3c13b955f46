// The web UI's built files (web/ui, built by npm at build time), embedded in the binary so that
// `turnwise web` is one file to run and serves nothing from disk.
//
// The table is generated at build time (web/embed_assets.cmake) from the Vite output folder;
// paths are URL paths ("/index.html", "/assets/index-3f2a.js"). Only these exact paths are
// servable: a request is matched by string equality, never mapped onto a file system.
#ifndef TURNWISE_WEB_ASSETS_H_
#define TURNWISE_WEB_ASSETS_H_

#include <span>
#include <string_view>

namespace turnwise {

struct EmbeddedAsset {
  std::string_view path;          // "/index.html"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view data;          // the file's bytes; static storage
};

// Every embedded file, sorted by path. Thread-safe (constant data).
std::span<const EmbeddedAsset> EmbeddedAssets();

// The asset at exactly `path`, or nullptr.
const EmbeddedAsset* FindEmbeddedAsset(std::string_view path);

}  // namespace turnwise

#endif  // TURNWISE_WEB_ASSETS_H_
