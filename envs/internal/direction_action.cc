#include "envs/internal/direction_action.h"

#include <algorithm>
#include <cctype>

#include "core/text.h"

namespace turnwise::envs_internal {

int ParseDirectionAction(std::string_view text, const std::vector<std::string>& words) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const size_t open = lower.find("<action>");
  const size_t close = lower.find("</action>");
  std::string_view body = lower;
  if (open != std::string::npos && close != std::string::npos) {
    // As Python's s[open + 8:close]: empty when the closing tag comes first.
    const size_t from = open + 8;
    body = close > from ? body.substr(from, close - from) : std::string_view();
  } else if (open != std::string::npos || close != std::string::npos) {
    return -1;  // one tag without the other
  }
  body = Trim(body);
  for (size_t i = 0; i < words.size(); ++i) {
    if (body.find(words[i]) != std::string_view::npos) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace turnwise::envs_internal
