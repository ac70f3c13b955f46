#!/usr/bin/env python3
"""FrozenLake outside the LM: how fast can a small transformer that reads only the 16 cells learn?

A reference point for the demo's learning speed, not part of Turnwise. The maps follow the
frozenlake env (4x4, each cell frozen with p = 0.8, start and goal random, a path guaranteed;
no slip; 10 moves). The model is a 3-layer, 96-wide causal transformer with rotary positions
that reads one token per cell (plus a row end) and answers with one of 4 moves — no prompt, no
response format. It learns by policy gradient with a group baseline (8 maps x 8 episodes per
update, advantage = won - group mean), optionally after `--pretrain` steps of imitating uniformly
random labels (what a format-only SFT start does to the action head).

  apt-get install python3-torch
  python3 bench/probes/frozenlake_probe.py --updates 150 [--pretrain 300] [--prefix 200]
      [--describe none|coordinates|relative] [--step-groups 1 [--gamma 0.95]] [--norm]

Prints held-out success (300 maps, sampled moves) every 25 updates, and how far each update
moved the policy (mean KL(before || after) over the update's own states, averaged over the last 25
updates). The LM trainer's loss/approx_kl is a different average: per response token (the
format tokens included), between the minibatch steps of one iteration.
"""
import argparse
import collections
import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

N = 4
MOVES = [(0, -1), (1, 0), (0, 1), (-1, 0)]  # left, down, right, up
CELL = {"_": 0, "O": 1, "G": 2, "P": 3}
ROW_END, ACT, FILLER = 4, 5, 6


def make_map(rng):
    while True:
        board = [["F" if rng.random() < 0.8 else "H" for _ in range(N)] for _ in range(N)]
        start = (rng.randrange(N), rng.randrange(N))
        goal = (rng.randrange(N), rng.randrange(N))
        if start == goal:
            continue
        board[goal[0]][goal[1]] = "G"
        board[start[0]][start[1]] = "F"
        seen, queue = {start}, collections.deque([start])
        while queue:
            r, c = queue.popleft()
            for dr, dc in MOVES:
                nr, nc = r + dr, c + dc
                if 0 <= nr < N and 0 <= nc < N and board[nr][nc] != "H" and (nr, nc) not in seen:
                    seen.add((nr, nc))
                    queue.append((nr, nc))
        if goal in seen:
            return board, start


# The frozenlake env's `describe` line as tokens after the grid (the same information, no words):
# "coordinates" = the player's row and column, a goal marker, the goal's row and column (ids
# 27..31); "relative" = the goal's row and column offset (32..38, 48..54) and, for each move, hole
# there or not (40..47).
DESCRIBE = "none"
DIGIT = 27


def encode(board, pos, prefix):
    tokens = [FILLER + i % 20 for i in range(prefix)]
    if DESCRIBE == "relative":
        goal = [(r, c) for r in range(N) for c in range(N) if board[r][c] == "G"][0]
        holes = []
        for dr, dc in MOVES:
            r, c = pos[0] + dr, pos[1] + dc
            holes.append(40 + 2 * len(holes) + int(0 <= r < N and 0 <= c < N and board[r][c] == "H"))
        tail = [32 + goal[0] - pos[0] + 3, 48 + goal[1] - pos[1] + 3] + holes
    elif DESCRIBE == "coordinates":
        goal = [(r, c) for r in range(N) for c in range(N) if board[r][c] == "G"][0]
        tail = [DIGIT + pos[0], DIGIT + pos[1], 31, DIGIT + goal[0], DIGIT + goal[1]]
    else:
        tail = []
    for r in range(N):
        for c in range(N):
            cell = board[r][c]
            tokens.append(CELL["P"] if (r, c) == pos else CELL["O" if cell == "H" else "G" if cell == "G" else "_"])
        tokens.append(ROW_END)
    return tokens + tail + [ACT]


def rotate(x):
    half = x.shape[-1] // 2
    t = torch.arange(x.shape[-2]).float()
    freq = 1.0 / (10000 ** (torch.arange(0, half).float() / half))
    angle = torch.outer(t, freq)
    cos, sin = torch.cat([angle.cos()] * 2, -1), torch.cat([angle.sin()] * 2, -1)
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv, self.out = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = rotate(q), rotate(k)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), 1)
        att = (q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)).masked_fill(mask, -1e9).softmax(-1)
        x = x + self.out((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x))


class Policy(nn.Module):
    def __init__(self, d=96, layers=3, heads=4):
        super().__init__()
        self.embed = nn.Embedding(64, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, 4)

    def forward(self, tokens):
        h = self.embed(tokens)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h)[:, -1])


def play(model, maps, group, prefix):
    episodes = [{"board": b, "pos": s, "states": [], "moves": [], "done": False, "won": False}
                for b, s in maps for _ in range(group)]
    for _ in range(10):
        live = [e for e in episodes if not e["done"]]
        if not live:
            break
        states = [encode(e["board"], e["pos"], prefix) for e in live]
        with torch.no_grad():
            moves = torch.distributions.Categorical(logits=model(torch.tensor(states))).sample().tolist()
        for e, s, m in zip(live, states, moves):
            e["states"].append(s)
            e["moves"].append(m)
            r = min(max(e["pos"][0] + MOVES[m][0], 0), N - 1)
            c = min(max(e["pos"][1] + MOVES[m][1], 0), N - 1)
            e["pos"] = (r, c)
            cell = e["board"][r][c]
            e["done"], e["won"] = cell in "GH", cell == "G"
    return episodes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=150)
    ap.add_argument("--pretrain", type=int, default=0, help="steps imitating uniformly random labels first")
    ap.add_argument("--prefix", type=int, default=0, help="filler tokens before the grid (a prompt's length)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--describe", choices=["none", "coordinates", "relative"], default="none",
                    help="the env's describe line, as tokens after the grid")
    ap.add_argument("--step-groups", type=float, default=0.0,
                    help="weight of GiGPO-style step groups: discounted return minus the mean over the "
                         "group's visits of the same state (0: outcome advantage only)")
    ap.add_argument("--gamma", type=float, default=0.95, help="discount of the step-group returns")
    ap.add_argument("--norm", action="store_true", help="divide advantages by their group's std")
    args = ap.parse_args()
    global DESCRIBE
    DESCRIBE = args.describe
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    held_out = [make_map(random.Random(10_000 + i)) for i in range(300)]
    model = Policy()
    if args.pretrain:
        opt = torch.optim.AdamW(model.parameters(), 3e-3)
        states = []
        for _ in range(4000):
            board, start = make_map(rng)
            states.append(encode(board, (rng.randrange(N), rng.randrange(N)), args.prefix))
        states = torch.tensor(states)
        for _ in range(args.pretrain):
            idx = torch.randint(0, len(states), (64,))
            loss = F.cross_entropy(model(states[idx]), torch.randint(0, 4, (64,)))
            opt.zero_grad()
            loss.backward()
            opt.step()
    opt = torch.optim.Adam(model.parameters(), args.lr)

    def success():
        return sum(e["won"] for e in play(model, held_out, 1, args.prefix)) / len(held_out)

    print(f"updates 0 episodes 0 held-out success {success():.3f}", flush=True)
    kls = []
    for update in range(1, args.updates + 1):
        episodes = play(model, [make_map(rng) for _ in range(8)], 8, args.prefix)
        states, moves, weights = [], [], []
        for g in range(8):
            group = episodes[g * 8:(g + 1) * 8]
            mean = sum(e["won"] for e in group) / 8
            std = (sum((e["won"] - mean) ** 2 for e in group) / 7) ** 0.5
            scale = 1.0 / (std + 1e-6) if args.norm else 1.0
            anchors = collections.defaultdict(list)
            for e in group:
                n = len(e["moves"])
                e["ret"] = [float(e["won"]) * args.gamma ** (n - 1 - t) for t in range(n)]
                for t, s in enumerate(e["states"]):
                    anchors[tuple(s)].append(e["ret"][t])
            for e in group:
                for t, (s, m) in enumerate(zip(e["states"], e["moves"])):
                    states.append(s)
                    moves.append(m)
                    peers = anchors[tuple(s)]
                    step = 0.0
                    if len(peers) > 1:
                        pm = sum(peers) / len(peers)
                        ps = (sum((x - pm) ** 2 for x in peers) / (len(peers) - 1)) ** 0.5
                        step = (e["ret"][t] - pm) / (ps + 1e-6) if args.norm else e["ret"][t] - pm
                    weights.append((e["won"] - mean) * scale + args.step_groups * step)
        batch = torch.tensor(states)
        with torch.no_grad():
            before = F.log_softmax(model(batch), -1)
        logp = F.log_softmax(model(batch), -1).gather(1, torch.tensor(moves)[:, None]).squeeze(1)
        loss = -(logp * torch.tensor(weights)).sum() / len(episodes)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            after = F.log_softmax(model(batch), -1)
            kls.append(float((before.exp() * (before - after)).sum(-1).mean()))
        if update % 25 == 0:
            print(f"mean KL per update over the last 25: {sum(kls[-25:]) / 25:.2e}", flush=True)
            print(f"updates {update} episodes {update * 64} held-out success {success():.3f}", flush=True)


if __name__ == "__main__":
    main()
