#include "web/assets.h"

#include <algorithm>

namespace turnwise {

const EmbeddedAsset* FindEmbeddedAsset(std::string_view path) {
  auto assets = EmbeddedAssets();
  auto it = std::lower_bound(assets.begin(), assets.end(), path,
                             [](const EmbeddedAsset& a, std::string_view p) { return a.path < p; });
  return it != assets.end() && it->path == path ? &*it : nullptr;
}

}  // namespace turnwise
