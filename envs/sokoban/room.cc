#include "envs/sokoban/room.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"

namespace turnwise::sokoban {
namespace {

// The five 3x3 floor stamps of the topology walk (gym-sokoban's masks).
constexpr int kMasks[5][3][3] = {
    {{0, 0, 0}, {1, 1, 1}, {0, 0, 0}},
    {{0, 1, 0}, {0, 1, 0}, {0, 1, 0}},
    {{0, 0, 0}, {1, 1, 0}, {0, 1, 0}},
    {{0, 0, 0}, {1, 1, 0}, {1, 1, 0}},
    {{0, 0, 0}, {0, 1, 1}, {0, 1, 0}},
};
// The walk's directions, in gym-sokoban's order: (1,0), (0,1), (-1,0), (0,-1).
constexpr int kWalkRow[4] = {1, 0, -1, 0};
constexpr int kWalkCol[4] = {0, 1, 0, -1};

std::vector<uint8_t> Topology(const GenerateOptions& o, Rng& rng) {
  std::vector<int> level(static_cast<size_t>(o.rows * o.cols), 0);
  int direction = static_cast<int>(rng.Uniform(4));
  int r = static_cast<int>(rng.UniformInt(1, o.rows - 1));
  int c = static_cast<int>(rng.UniformInt(1, o.cols - 1));
  for (int s = 0; s < o.num_steps; ++s) {
    if (rng.UniformDouble() < o.p_change_directions) direction = static_cast<int>(rng.Uniform(4));
    r = std::clamp(r + kWalkRow[direction], 1, o.rows - 2);
    c = std::clamp(c + kWalkCol[direction], 1, o.cols - 2);
    const auto& mask = kMasks[rng.Uniform(5)];
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) level[static_cast<size_t>((r - 1 + i) * o.cols + (c - 1 + j))] += mask[i][j];
    }
  }
  std::vector<uint8_t> out(level.size(), kWall);
  for (int i = 1; i + 1 < o.rows; ++i) {
    for (int j = 1; j + 1 < o.cols; ++j) {
      if (level[static_cast<size_t>(i * o.cols + j)] > 0) out[static_cast<size_t>(i * o.cols + j)] = kFloor;
    }
  }
  return out;
}

// The player and the targets on random floor cells; false when the floor is too small.
bool PlaceBoxesAndPlayer(std::vector<uint8_t>& room, int num_boxes, Rng& rng) {
  auto floor_cells = [&] {
    std::vector<int> cells;
    for (size_t i = 0; i < room.size(); ++i) {
      if (room[i] == kFloor) cells.push_back(static_cast<int>(i));
    }
    return cells;
  };
  std::vector<int> cells = floor_cells();
  if (static_cast<int>(cells.size()) <= num_boxes + 1) return false;
  room[static_cast<size_t>(cells[rng.Uniform(cells.size())])] = kPlayer;
  for (int b = 0; b < num_boxes; ++b) {
    cells = floor_cells();
    room[static_cast<size_t>(cells[rng.Uniform(cells.size())])] = kTarget;
  }
  return true;
}

// Reverse play: a depth-first search over pull moves, remembering the best-scoring state.
class ReversePlay {
 public:
  ReversePlay(const std::vector<uint8_t>& structure, int rows, int cols)
      : structure_(structure), rows_(rows), cols_(cols) {
    for (size_t i = 0; i < structure.size(); ++i) {
      if (structure[i] == kTarget) mapping_.emplace_back(static_cast<int>(i), static_cast<int>(i));
    }
    num_targets_ = static_cast<int>(mapping_.size());
    best_mapping_ = mapping_;
  }

  void Run(std::vector<uint8_t> state, int search_depth) {
    Search(state, mapping_, 0, -1, search_depth);
  }

  const std::vector<uint8_t>& best_state() const { return best_state_; }
  // (target, where its box is now)
  const std::vector<std::pair<int, int>>& best_mapping() const { return best_mapping_; }

  int Displacement(const std::vector<std::pair<int, int>>& mapping) const {
    int score = 0;
    for (const auto& [target, box] : mapping) {
      score += std::abs(target / cols_ - box / cols_) + std::abs(target % cols_ - box % cols_);
    }
    return score;
  }

 private:
  static constexpr size_t kMaxStates = 300000;

  void Search(const std::vector<uint8_t>& state, const std::vector<std::pair<int, int>>& mapping, int box_swaps,
              int last_pull, int ttl) {
    --ttl;
    if (ttl <= 0 || explored_.size() >= kMaxStates) return;
    std::string key(state.begin(), state.end());
    if (explored_.count(key)) return;
    int score = box_swaps * Displacement(mapping);
    if (std::count(state.begin(), state.end(), kTarget) != num_targets_) score = 0;
    if (score > best_score_) {
      best_score_ = score;
      best_state_ = state;
      best_mapping_ = mapping;
    }
    explored_.insert(std::move(key));
    for (int action = 0; action < 4; ++action) {
      std::vector<uint8_t> next = state;
      std::vector<std::pair<int, int>> next_mapping = mapping;
      const int next_pull = ReverseMove(next, next_mapping, last_pull, action);
      Search(next, next_mapping, box_swaps + (next_pull != last_pull ? 1 : 0), next_pull, ttl);
    }
  }

  // The player steps in `action`'s direction onto a free cell and pulls the box behind it, if
  // any. Returns the target whose box was pulled last.
  int ReverseMove(std::vector<uint8_t>& state, std::vector<std::pair<int, int>>& mapping, int last_pull,
                  int action) const {
    const int player = static_cast<int>(std::find(state.begin(), state.end(), kPlayer) - state.begin());
    const int pr = player / cols_, pc = player % cols_;
    const int nr = pr + kDirRow[action], nc = pc + kDirCol[action];
    if (nr < 0 || nr >= rows_ || nc < 0 || nc >= cols_) return last_pull;
    const int next = nr * cols_ + nc;
    if (state[static_cast<size_t>(next)] != kFloor && state[static_cast<size_t>(next)] != kTarget) return last_pull;
    state[static_cast<size_t>(player)] = structure_[static_cast<size_t>(player)];
    state[static_cast<size_t>(next)] = kPlayer;
    const int br = pr - kDirRow[action], bc = pc - kDirCol[action];
    if (br < 0 || br >= rows_ || bc < 0 || bc >= cols_) return last_pull;
    const int box = br * cols_ + bc;
    if (state[static_cast<size_t>(box)] == kBoxOnTarget || state[static_cast<size_t>(box)] == kBox) {
      // During generation 3 marks a pulled box and 4 a box not yet moved (gym-sokoban's codes).
      state[static_cast<size_t>(player)] = kBoxOnTarget;
      state[static_cast<size_t>(box)] = structure_[static_cast<size_t>(box)];
      for (auto& [target, where] : mapping) {
        if (where == box) {
          where = player;
          last_pull = target;
        }
      }
    }
    return last_pull;
  }

  const std::vector<uint8_t>& structure_;
  int rows_, cols_;
  int num_targets_ = 0;
  std::vector<std::pair<int, int>> mapping_;
  std::unordered_set<std::string> explored_;
  int best_score_ = -1;
  std::vector<uint8_t> best_state_;
  std::vector<std::pair<int, int>> best_mapping_;
};

// RAGEN: 1-3 random steps of the player onto free cells not visited in this walk.
void RandomPlayerMoves(Room& room, double move_probability, Rng& rng) {
  if (rng.UniformDouble() > move_probability) return;
  std::vector<int> visited = {room.player};
  for (int steps = 0; steps < 3;) {
    std::vector<int> options;
    const int r = room.player / room.cols, c = room.player % room.cols;
    for (int d = 0; d < 4; ++d) {
      const int nr = r + kDirRow[d], nc = c + kDirCol[d];
      if (nr < 0 || nr >= room.rows || nc < 0 || nc >= room.cols) continue;
      const int next = nr * room.cols + nc;
      const uint8_t cell = room.state[static_cast<size_t>(next)];
      if ((cell == kFloor || cell == kTarget) && std::find(visited.begin(), visited.end(), next) == visited.end()) {
        options.push_back(next);
      }
    }
    if (options.empty()) break;
    const int next = options[rng.Uniform(options.size())];
    room.state[static_cast<size_t>(room.player)] = room.fixed[static_cast<size_t>(room.player)];
    room.state[static_cast<size_t>(next)] = kPlayer;
    room.player = next;
    visited.push_back(next);
    ++steps;
    if (steps >= 3 || rng.UniformDouble() > 0.5) break;
  }
}

}  // namespace

int Room::num_boxes() const {
  return static_cast<int>(std::count(state.begin(), state.end(), kBox) +
                          std::count(state.begin(), state.end(), kBoxOnTarget));
}

int Room::boxes_on_target() const {
  int uncovered = 0;
  for (size_t i = 0; i < state.size(); ++i) {
    if (state[i] == kTarget || (fixed[i] == kTarget && state[i] == kPlayer)) ++uncovered;
  }
  return num_boxes() - uncovered;
}

bool Room::solved() const {
  for (size_t i = 0; i < state.size(); ++i) {
    if (state[i] == kTarget || (fixed[i] == kTarget && state[i] == kPlayer)) return false;
  }
  return true;
}

std::optional<Room> GenerateRoom(const GenerateOptions& o, Rng& rng) {
  std::vector<uint8_t> structure, state;
  std::vector<std::pair<int, int>> mapping;
  int displacement = 0;
  for (int t = 0; t < o.tries; ++t) {
    std::vector<uint8_t> room = Topology(o, rng);
    if (!PlaceBoxesAndPlayer(room, o.num_boxes, rng)) return std::nullopt;
    structure = room;
    std::replace(structure.begin(), structure.end(), static_cast<uint8_t>(kPlayer), static_cast<uint8_t>(kFloor));
    state = room;
    std::replace(state.begin(), state.end(), static_cast<uint8_t>(kTarget), static_cast<uint8_t>(kBox));
    ReversePlay play(structure, o.rows, o.cols);
    play.Run(state, o.search_depth);
    state = play.best_state();
    std::replace(state.begin(), state.end(), static_cast<uint8_t>(kBoxOnTarget), static_cast<uint8_t>(kBox));
    mapping = play.best_mapping();
    displacement = play.Displacement(mapping);
    if (displacement > 0) break;
  }
  if (displacement == 0) return std::nullopt;
  Room room;
  room.rows = o.rows;
  room.cols = o.cols;
  room.fixed = std::move(structure);
  room.state = std::move(state);
  room.player = static_cast<int>(std::find(room.state.begin(), room.state.end(), kPlayer) - room.state.begin());
  if (o.random_player_moves) RandomPlayerMoves(room, displacement == 1 ? 0.8 : 0.5, rng);
  return room;
}

MoveResult ApplyMove(Room& room, int direction) {
  const int r = room.player / room.cols, c = room.player % room.cols;
  const int nr = r + kDirRow[direction], nc = c + kDirCol[direction];
  const int br = nr + kDirRow[direction], bc = nc + kDirCol[direction];
  auto inside = [&](int rr, int cc) { return rr >= 0 && rr < room.rows && cc >= 0 && cc < room.cols; };
  if (!inside(nr, nc)) return {};
  const size_t cur = static_cast<size_t>(room.player);
  const size_t next = static_cast<size_t>(nr * room.cols + nc);
  auto free = [](uint8_t cell) { return cell == kFloor || cell == kTarget; };
  // Push when a box is next and the cell behind it is free (gym-sokoban's _push).
  if (inside(br, bc) && (room.state[next] == kBox || room.state[next] == kBoxOnTarget) &&
      free(room.state[static_cast<size_t>(br * room.cols + bc)])) {
    const size_t behind = static_cast<size_t>(br * room.cols + bc);
    room.state[next] = kPlayer;
    room.state[cur] = room.fixed[cur];
    room.state[behind] = room.fixed[behind] == kTarget ? kBoxOnTarget : kBox;
    room.player = static_cast<int>(next);
    return {true, true};
  }
  // Otherwise a plain move onto a free cell (gym-sokoban's _move).
  if (!free(room.state[next])) return {};
  room.state[next] = kPlayer;
  room.state[cur] = room.fixed[cur];
  room.player = static_cast<int>(next);
  return {true, false};
}

Room ParseRoom(const std::vector<std::string>& lines) {
  Room room;
  room.rows = static_cast<int>(lines.size());
  int players = 0;
  for (int r = 0; r < room.rows; ++r) {
    const std::string& line = lines[static_cast<size_t>(r)];
    int cols = 0;
    for (size_t i = 0; i < line.size(); ++cols) {
      uint8_t fixed = kFloor, state = kFloor;
      if (line.compare(i, 3, "\xe2\x88\x9a") == 0) {  // √ (U+221A)
        fixed = kTarget;
        state = kBoxOnTarget;
        i += 3;
      } else {
        switch (line[i++]) {
          case '#': fixed = state = kWall; break;
          case '_': break;
          case 'O': fixed = state = kTarget; break;
          case 'X': state = kBox; break;
          case 'P': state = kPlayer; break;
          case 'S': fixed = kTarget; state = kPlayer; break;
          default:
            throw InvalidArgument("sokoban room: unknown symbol '" + line.substr(i - 1, 1) + "' in row " +
                                  std::to_string(r));
        }
      }
      if (state == kPlayer) {
        ++players;
        room.player = static_cast<int>(room.state.size());
      }
      room.fixed.push_back(fixed);
      room.state.push_back(state);
    }
    if (r == 0) room.cols = cols;
    if (cols != room.cols) throw InvalidArgument("sokoban room: row " + std::to_string(r) + " has " +
                                                 std::to_string(cols) + " cells, row 0 has " + std::to_string(room.cols));
  }
  if (players != 1) throw InvalidArgument("sokoban room: needs exactly one player, found " + std::to_string(players));
  return room;
}

std::optional<std::vector<int>> Solve(const Room& start, int64_t max_states) {
  if (start.solved()) return std::vector<int>{};
  // A state is the player's cell and the sorted box cells, packed as 16-bit numbers.
  auto key_of = [](const Room& room) {
    std::string key;
    auto put = [&key](int v) {
      key.push_back(static_cast<char>(v & 0xff));
      key.push_back(static_cast<char>(v >> 8));
    };
    put(room.player);
    for (size_t i = 0; i < room.state.size(); ++i) {
      if (room.state[i] == kBox || room.state[i] == kBoxOnTarget) put(static_cast<int>(i));
    }
    return key;
  };
  struct Parent {
    std::string key;
    int direction;
  };
  std::unordered_map<std::string, Parent> parents;
  std::deque<Room> queue;
  const std::string root = key_of(start);
  parents.emplace(root, Parent{"", -1});
  queue.push_back(start);
  while (!queue.empty()) {
    Room room = std::move(queue.front());
    queue.pop_front();
    const std::string key = key_of(room);
    for (int d = 0; d < 4; ++d) {
      Room next = room;
      if (!ApplyMove(next, d).moved_player) continue;
      std::string next_key = key_of(next);
      if (!parents.emplace(next_key, Parent{key, d}).second) continue;
      if (next.solved()) {
        std::vector<int> path;
        for (std::string k = next_key; k != root;) {
          const Parent& p = parents.at(k);
          path.push_back(p.direction);
          k = p.key;
        }
        std::reverse(path.begin(), path.end());
        return path;
      }
      if (static_cast<int64_t>(parents.size()) > max_states) return std::nullopt;
      queue.push_back(std::move(next));
    }
  }
  return std::nullopt;
}

}  // namespace turnwise::sokoban
