// Sokoban rooms: gym-sokoban's level generator (as RAGEN and verl-agent run it) and a
// breadth-first solver.
//
// A room is a grid of cells in gym-sokoban's codes (kWall .. kPlayer); `fixed` holds what never
// moves (walls, floor, targets), `state` the same plus boxes and the player. Directions are
// 0 up, 1 down, 2 left, 3 right (gym-sokoban's CHANGE_COORDINATES order).
//
// Generation (gym_sokoban/envs/room_utils.py @ 8e06e44, with RAGEN's fixes):
//  1. topology: a random walk of `num_steps` steps over the interior, changing direction with
//     probability 0.35 and stamping one of five 3x3 floor masks at each position; the border is
//     wall;
//  2. the player and `num_boxes` targets on random floor cells (boxes start on their targets);
//  3. reverse play: a depth-first search in which the player walks and pulls boxes off the
//     targets, `search_depth` levels deep and at most 300,000 distinct states; each state scores
//     box_swaps x (sum of Manhattan distances of the boxes from their targets), 0 when a target
//     is not uncovered; the best state is the level. RAGEN's fix of the upstream bug is kept:
//     the pulled box is tracked per recursion branch (upstream passes the parent's last pull);
//     and, as RAGEN, only pull moves are played backwards;
//  4. steps 1-3 are tried up to 4 times until the score is positive, else the seed yields no
//     level (GenerateRoom returns nullopt; the env retries with the next seed);
//  5. RAGEN's extra: the player then walks 1-3 random steps onto free cells it has not visited
//     (probability 0.8 when the score is 1, else 0.5; each further step with probability 0.5),
//     so the player does not always start beside the box.
// Randomness comes from the given Rng: the same seed gives the same room, here and on every
// machine (the peers' levels themselves are not reproduced: they draw from Python's and NumPy's
// generators).
//
// Pure functions; thread-safe.
#ifndef TURNWISE_ENVS_SOKOBAN_ROOM_H_
#define TURNWISE_ENVS_SOKOBAN_ROOM_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/rng.h"

namespace turnwise::sokoban {

// gym-sokoban's cell codes (room_state / room_fixed).
enum Cell : uint8_t {
  kWall = 0,
  kFloor = 1,
  kTarget = 2,       // an empty target
  kBoxOnTarget = 3,
  kBox = 4,          // a box off target
  kPlayer = 5,
};

struct Room {
  int rows = 0;
  int cols = 0;
  std::vector<uint8_t> fixed;  // kWall, kFloor, kTarget
  std::vector<uint8_t> state;  // fixed + kBox, kBoxOnTarget, kPlayer
  int player = 0;              // index of the player's cell (row * cols + col)

  uint8_t& at(int r, int c) { return state[static_cast<size_t>(r * cols + c)]; }
  int num_boxes() const;
  int boxes_on_target() const;  // gym-sokoban's count: num_boxes - (empty targets + player on one)
  bool solved() const;          // no empty target and the player on none
};

// Row and column offsets of direction d (0 up, 1 down, 2 left, 3 right).
constexpr int kDirRow[4] = {-1, 1, 0, 0};
constexpr int kDirCol[4] = {0, 0, -1, 1};

struct GenerateOptions {
  int rows = 6;
  int cols = 6;
  int num_boxes = 1;
  int num_steps = 20;        // random-walk steps; gym-sokoban: int(1.7 * (rows + cols))
  int search_depth = 30;     // reverse-play depth
  double p_change_directions = 0.35;
  int tries = 4;
  bool random_player_moves = true;  // RAGEN's step 5
};

// One attempt at a level from `rng` (steps 1-5 above); nullopt when this draw yields none (too
// little floor for the boxes, or no positive score in `tries` topologies).
std::optional<Room> GenerateRoom(const GenerateOptions& options, Rng& rng);

// The result of gym-sokoban's push/move action `direction` applied to `room` in place: whether
// the player moved and whether a box moved.
struct MoveResult {
  bool moved_player = false;
  bool moved_box = false;
};
MoveResult ApplyMove(Room& room, int direction);

// A room from rows of the peers' symbols side by side (# wall, _ floor, O target, X box, √ box on
// target, P player, S player on target), e.g. {"#####", "#PXO#", "#####"}: hand-made levels and
// tests. Throws InvalidArgument for ragged rows, an unknown symbol, or not exactly one player.
Room ParseRoom(const std::vector<std::string>& rows);

// A shortest solution of `room` in moves (directions), breadth first, trying up, down, left,
// right in that order (the first shortest sequence in that order). nullopt when the room cannot
// be solved or the search visits more than `max_states` states. An already solved room gives
// an empty sequence.
std::optional<std::vector<int>> Solve(const Room& room, int64_t max_states = 2'000'000);

}  // namespace turnwise::sokoban

#endif  // TURNWISE_ENVS_SOKOBAN_ROOM_H_
