// Action text -> one of a grid env's direction words, as verl-agent's Sokoban projection reads a
// model's answer (agent_system/environments/env_package/sokoban/projection.py): lower-case the
// text; when it holds "<action>" and "</action>", keep what lies between the first of each
// (trimmed); then the first word of `words`, in that order, found anywhere in it is the action.
// Plain text without tags ("up", as `envs play`, the expert and the random policy send) is read
// the same way. Returns the word's index, or -1 (invalid: one tag without the other, or no word
// found — verl-agent's "still" is such a text: it maps to its invalid action 0).
#ifndef TURNWISE_ENVS_INTERNAL_DIRECTION_ACTION_H_
#define TURNWISE_ENVS_INTERNAL_DIRECTION_ACTION_H_

#include <string>
#include <string_view>
#include <vector>

namespace turnwise::envs_internal {

int ParseDirectionAction(std::string_view text, const std::vector<std::string>& words);

}  // namespace turnwise::envs_internal

#endif  // TURNWISE_ENVS_INTERNAL_DIRECTION_ACTION_H_
