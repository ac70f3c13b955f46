#include "agents/chat_template.h"

#include "core/error.h"

namespace turnwise {

std::string RenderChatML(const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  size_t size = 32;
  for (const ChatMessage& m : messages) size += m.role.size() + m.content.size() + 24;
  std::string out;
  out.reserve(size);
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role.empty() || m.role.find('\n') != std::string::npos ||
        m.role.find(kChatMLStart) != std::string::npos ||
        m.role.find(kChatMLEnd) != std::string::npos) {
      throw InvalidArgument("chat message " + std::to_string(i) + ": invalid role '" + m.role +
                            "' (must be non-empty, one line, without ChatML markers)");
    }
    out += kChatMLStart;
    out += m.role;
    out += '\n';
    out += m.content;
    out += kChatMLEnd;
    out += '\n';
  }
  if (add_generation_prompt) {
    out += kChatMLStart;
    out += "assistant\n";
  }
  return out;
}

}  // namespace turnwise
