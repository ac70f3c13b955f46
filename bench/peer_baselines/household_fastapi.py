#!/usr/bin/env python3
"""Peer baseline for `turnwise bench envs --server`: the household environment's step logic in
Python behind FastAPI + uvicorn, the way AgentGym serves ALFWorld, speaking Turnwise protocol v1
(sessions, reset, step) so the same load generator drives both servers.

The world model mirrors envs/household/world.cc: numbered receptacles, typed objects, the 0.4
command grammar and feedback strings, admissible commands recomputed after every step, and the
goal check. World generation is simplified (a fixed kitchen layout per seed) because only the
per-step cost is being compared.

Run: python3 household_fastapi.py --port 8300   (uvicorn, one worker process)
"""
import argparse
import itertools
import random
import threading

import uvicorn
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

RECEPTACLES = [("cabinet", 4, True), ("countertop", 2, False), ("drawer", 3, True), ("fridge", 1, True),
               ("microwave", 1, True), ("sinkbasin", 1, False), ("stoveburner", 2, False),
               ("diningtable", 1, False), ("garbagecan", 1, False), ("shelf", 2, False)]
OBJECTS = {
    "apple": {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "garbagecan"},
    "mug": {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "cabinet", "shelf"},
    "knife": {"countertop", "diningtable", "drawer", "sinkbasin"},
    "bowl": {"countertop", "diningtable", "fridge", "microwave", "sinkbasin", "cabinet", "shelf"},
    "saltshaker": {"countertop", "diningtable", "cabinet", "drawer", "shelf"},
    "bread": {"countertop", "diningtable", "fridge", "microwave", "cabinet"},
}
HEATABLE = {"apple", "mug", "bread"}
COOLABLE = {"apple", "mug", "bowl", "bread"}
CLEANABLE = {"apple", "mug", "knife", "bowl"}


def listing(names):
    if not names:
        return "nothing"
    out = ""
    for i, n in enumerate(names):
        if i:
            out += ", and " if i + 1 == len(names) else ", "
        out += "a " + n
    return out


class World:
    def __init__(self, seed):
        rng = random.Random(seed)
        self.receps = []
        for rtype, n, openable in RECEPTACLES:
            for k in range(1, n + 1):
                self.receps.append({"type": rtype, "name": f"{rtype} {k}", "openable": openable,
                                    "open": not openable, "objects": []})
        self.objects = []
        counts = {}
        for _ in range(10):
            otype = rng.choice(sorted(OBJECTS))
            spots = [i for i, r in enumerate(self.receps) if r["type"] in OBJECTS[otype]]
            counts[otype] = counts.get(otype, 0) + 1
            r = rng.choice(spots)
            self.objects.append({"type": otype, "name": f"{otype} {counts[otype]}", "recep": r,
                                 "hot": False, "cool": False, "clean": False})
            self.receps[r]["objects"].append(len(self.objects) - 1)
        self.goal_obj = self.objects[0]["type"]
        occupied = {self.receps[o["recep"]]["type"] for o in self.objects if o["type"] == self.goal_obj}
        free = sorted(OBJECTS[self.goal_obj] - occupied)
        self.goal_recep = rng.choice(free) if free else "none"
        self.location = -1
        self.held = -1

    def recep_text(self, r):
        names = [self.objects[o]["name"] for o in r["objects"]]
        if r["openable"]:
            if not r["open"]:
                return f"The {r['name']} is closed."
            return f"The {r['name']} is open. In it, you see {listing(names)}."
        return f"On the {r['name']}, you see {listing(names)}."

    def actions(self):
        a = {}
        for i, r in enumerate(self.receps):
            if i != self.location:
                a["go to " + r["name"]] = ("goto", -1, i)
        a["inventory"] = ("inventory", -1, -1)
        a["look"] = ("look", -1, -1)
        a["help"] = ("help", -1, -1)
        if self.held >= 0:
            a["examine " + self.objects[self.held]["name"]] = ("examine_obj", self.held, -1)
        if self.location < 0:
            return a
        r = self.receps[self.location]
        if r["openable"]:
            a[("close " if r["open"] else "open ") + r["name"]] = ("close" if r["open"] else "open", -1, self.location)
        a["examine " + r["name"]] = ("examine_recep", -1, self.location)
        accessible = r["open"] or not r["openable"]
        if accessible:
            for o in r["objects"]:
                if self.held < 0:
                    a[f"take {self.objects[o]['name']} from {r['name']}"] = ("take", o, self.location)
                a["examine " + self.objects[o]["name"]] = ("examine_obj", o, -1)
        if self.held >= 0:
            h = self.objects[self.held]
            if accessible and r["type"] in OBJECTS[h["type"]]:
                a[f"move {h['name']} to {r['name']}"] = ("put", self.held, self.location)
            if r["type"] == "microwave" and h["type"] in HEATABLE:
                a[f"heat {h['name']} with {r['name']}"] = ("heat", self.held, self.location)
            if r["type"] == "fridge" and h["type"] in COOLABLE:
                a[f"cool {h['name']} with {r['name']}"] = ("cool", self.held, self.location)
            if r["type"] == "sinkbasin" and h["type"] in CLEANABLE:
                a[f"clean {h['name']} with {r['name']}"] = ("clean", self.held, self.location)
        return a

    def execute(self, command):
        act = self.actions().get(command.strip())
        if act is None:
            return None
        kind, o, r = act
        if kind == "goto":
            self.location = r
            return f"You arrive at {self.receps[r]['name']}. " + self.recep_text(self.receps[r])
        if kind == "open":
            self.receps[r]["open"] = True
            return f"You open the {self.receps[r]['name']}. " + self.recep_text(self.receps[r])
        if kind == "close":
            self.receps[r]["open"] = False
            return f"You close the {self.receps[r]['name']}."
        if kind == "take":
            self.receps[r]["objects"].remove(o)
            self.objects[o]["recep"] = -1
            self.held = o
            return f"You pick up the {self.objects[o]['name']} from the {self.receps[r]['name']}."
        if kind == "put":
            self.receps[r]["objects"].append(o)
            self.objects[o]["recep"] = r
            self.held = -1
            return f"You move the {self.objects[o]['name']} to the {self.receps[r]['name']}."
        if kind in ("heat", "cool", "clean"):
            self.objects[o]["hot" if kind == "heat" else "cool" if kind == "cool" else "clean"] = True
            return f"You {kind} the {self.objects[o]['name']} using the {self.receps[r]['name']}."
        if kind == "examine_recep":
            return self.recep_text(self.receps[r])
        if kind == "examine_obj":
            return f"There's nothing special about {self.objects[o]['name']}."
        if kind == "inventory":
            return "You are not carrying anything." if self.held < 0 else f"You are carrying: a {self.objects[self.held]['name']}."
        if kind == "look":
            return "You are in the middle of a room."
        return "Available commands: look, inventory, go to, open, close, take, move, examine, heat, clean, cool"

    def won(self):
        return any(self.objects[o]["type"] == self.goal_obj for r in self.receps if r["type"] == self.goal_recep
                   for o in r["objects"])


app = FastAPI()
sessions = {}
ids = itertools.count(1)
lock = threading.Lock()


def step_json(world, text, reward, done, valid, turn):
    won = world.won()
    return {"observation": {"text": text, "image_png_base64": None, "vector": None}, "reward": reward,
            "terminated": won, "truncated": done and not won, "admissible_actions": sorted(world.actions()),
            "anchor_key": text, "info": {"won": won, "is_action_valid": valid, "task_score": 1.0 if won else 0.0},
            "turn": turn}


@app.post("/v1/sessions", status_code=201)
async def create(request: Request):
    with lock:
        sid = f"s-{next(ids):08d}"
        sessions[sid] = {"world": None, "turn": 0}
    return {"session_id": sid}


@app.post("/v1/sessions/{sid}/reset")
async def reset(sid: str, request: Request):
    body = await request.json()
    s = sessions.get(sid)
    if s is None:
        raise HTTPException(404, f"unknown session '{sid}'")
    s["world"] = World(body.get("seed", 0))
    s["turn"] = 0
    return step_json(s["world"], "You are in the middle of a room.", 0.0, False, True, 0)


@app.post("/v1/sessions/{sid}/step")
async def step(sid: str, request: Request):
    body = await request.json()
    s = sessions.get(sid)
    if s is None:
        raise HTTPException(404, f"unknown session '{sid}'")
    world = s["world"]
    s["turn"] += 1
    feedback = world.execute(body["action"])
    won = world.won()
    done = won or s["turn"] >= 50
    return step_json(world, feedback or "Nothing happens.", 10.0 if won else 0.0, done, feedback is not None, s["turn"])


@app.delete("/v1/sessions/{sid}")
async def close(sid: str):
    sessions.pop(sid, None)
    return {"closed": True}


@app.get("/healthz")
async def healthz():
    return JSONResponse({"status": "ok"})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8300)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
