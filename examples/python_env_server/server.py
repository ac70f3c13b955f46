#!/usr/bin/env python3
"""A Turnwise environment server in the Python standard library alone (protocol v1).

It serves one small text environment, "guess": the agent must find a hidden number between
1 and N by asking "guess K"; the env answers "too low", "too high" or "correct". It is here to
show that any program speaking docs/protocol.md is a Turnwise environment:

    python3 server.py --port 8200 &
    turnwise envs play guess --set remote.url=http://127.0.0.1:8200   # or in a run config:
    {"env": {"name": "guess", "remote": {"url": "http://127.0.0.1:8200", "protocol": "turnwise"}}}

Endpoints, error shapes and status codes follow docs/protocol.md exactly.
"""

import argparse
import itertools
import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
SPEC = {
    "protocol": "turnwise/v1",
    "name": "guess",
    "version": "1.0",
    "description": "Find a hidden number between 1 and N; the env says too low or too high.",
    "splits": {"train": 1000, "valid_seen": 100, "valid_unseen": 100},
    "max_turns": 12,
    "observation_kinds": ["text"],
    "action_format": "guess K, with K an integer between 1 and N",
}


class HttpError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GuessEnv:
    """Deterministic given (seed, task_id, split)."""

    def __init__(self, config):
        unknown = set(config) - {"n"}
        if unknown:
            raise HttpError(400, "bad_request", "unknown config key(s): " + ", ".join(sorted(unknown)))
        self.n = int(config.get("n", 32))
        self.done = True
        self.turn = 0

    def reset(self, seed, task_id, split):
        key = f"{split}/{task_id}" if task_id else f"{split}/seed-{seed}"
        self.target = random.Random(key).randint(1, self.n)
        self.lo, self.hi = 1, self.n
        self.turn, self.done = 0, False
        text = f"Guess the hidden number between 1 and {self.n}."
        return self._step(text, 0.0, False, False, True, False)

    def step(self, action):
        if self.done:
            raise HttpError(409, "conflict", "the episode has finished; reset it first")
        self.turn += 1
        parts = action.strip().split()
        valid = len(parts) == 2 and parts[0] == "guess" and parts[1].isdigit() and 1 <= int(parts[1]) <= self.n
        won = False
        if not valid:
            text = "Nothing happens."
        else:
            k = int(parts[1])
            if k == self.target:
                text, won = f"{k} is correct.", True
            elif k < self.target:
                text, self.lo = f"{k} is too low.", max(self.lo, k + 1)
            else:
                text, self.hi = f"{k} is too high.", min(self.hi, k - 1)
        truncated = not won and self.turn >= SPEC["max_turns"]
        self.done = won or truncated
        return self._step(text, 1.0 if won else 0.0, won, truncated, valid, won)

    def expert_action(self):
        return f"guess {(self.lo + self.hi) // 2}"

    def _step(self, text, reward, terminated, truncated, valid, won):
        actions = [f"guess {k}" for k in range(self.lo, self.hi + 1)] if not self.done else []
        return {
            "observation": {"text": text, "image_png_base64": None, "vector": None},
            "reward": reward,
            "terminated": terminated,
            "truncated": truncated,
            "admissible_actions": sorted(actions),
            "anchor_key": f"{self.lo}-{self.hi}",
            "info": {"won": won, "is_action_valid": valid, "task_score": 1.0 if won else 0.0},
            "turn": self.turn,
        }


class Sessions:
    def __init__(self, max_sessions):
        self.lock = threading.Lock()
        self.envs = {}
        self.ids = itertools.count(1)
        self.max_sessions = max_sessions

    def create(self, body):
        check_fields(body, {"config"})
        config = body.get("config", {})
        if not isinstance(config, dict):
            raise HttpError(400, "bad_request", "field 'config' must be an object")
        with self.lock:
            if len(self.envs) >= self.max_sessions:
                raise HttpError(503, "unavailable", f"session limit of {self.max_sessions} reached")
            sid = f"s-{next(self.ids):08d}"
            self.envs[sid] = (threading.Lock(), GuessEnv(config))
        return 201, {"session_id": sid}

    def get(self, sid):
        with self.lock:
            entry = self.envs.get(sid)
        if entry is None:
            raise HttpError(404, "not_found", f"unknown session '{sid}'")
        return entry

    def reset(self, sid, body):
        check_fields(body, {"seed", "task_id", "split"})
        seed = body.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise HttpError(400, "bad_request", "field 'seed' must be an integer")
        for name in ("task_id", "split"):
            if not isinstance(body.get(name, ""), str):
                raise HttpError(400, "bad_request", f"field '{name}' must be a string")
        split = body.get("split", "train")
        if split not in SPEC["splits"]:
            raise HttpError(400, "bad_request", f"unknown split '{split}'; known: " + ", ".join(SPEC["splits"]))
        lock, env = self.get(sid)
        with lock:
            return 200, env.reset(seed, body.get("task_id", ""), split)

    def step(self, sid, body):
        check_fields(body, {"action"}, required={"action"})
        if not isinstance(body["action"], str):
            raise HttpError(400, "bad_request", "field 'action' must be a string")
        lock, env = self.get(sid)
        with lock:
            if env.turn == 0 and env.done:
                raise HttpError(409, "conflict", "the session was never reset")
            return 200, env.step(body["action"])

    def close(self, sid):
        with self.lock:
            if self.envs.pop(sid, None) is None:
                raise HttpError(404, "not_found", f"unknown session '{sid}'")
        return 200, {"closed": True}

    def run(self, request):
        """One batch/WebSocket-style request: {"op": ..., "session_id": ..., fields...}."""
        if not isinstance(request, dict) or "op" not in request:
            raise HttpError(400, "bad_request", "each request needs an 'op'")
        op = request["op"]
        body = {k: v for k, v in request.items() if k not in ("op", "session_id", "id")}
        if op == "create":
            return self.create(body)
        sid = request.get("session_id")
        if not isinstance(sid, str):
            raise HttpError(400, "bad_request", "field 'session_id' must be a string")
        if op == "reset":
            return self.reset(sid, body)
        if op == "step":
            return self.step(sid, body)
        if op == "close":
            check_fields(body, set())
            return self.close(sid)
        raise HttpError(400, "bad_request", f"unknown op '{op}'; known: create, reset, step, close")


def check_fields(body, allowed, required=()):
    if not isinstance(body, dict):
        raise HttpError(400, "bad_request", "the body must be a JSON object")
    for name in body:
        if name not in allowed:
            raise HttpError(400, "bad_request", f"unknown field '{name}'")
    for name in required:
        if name not in body:
            raise HttpError(400, "bad_request", f"missing field '{name}'")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    sessions = None

    def log_message(self, fmt, *args):  # quiet by default
        pass

    def _send(self, status, body, content_type="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HttpError(413, "too_large", f"body of {length} bytes exceeds {MAX_BODY}")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            return json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as e:
            raise HttpError(400, "bad_request", f"malformed JSON: {e}")

    def _dispatch(self, method):
        try:
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            s = self.sessions
            if method == "GET" and parts == ["healthz"]:
                return self._send(200, {"status": "ok"})
            if method == "GET" and parts == ["v1", "spec"]:
                return self._send(200, SPEC)
            if method == "GET" and parts == ["metrics"]:
                with s.lock:
                    n = len(s.envs)
                return self._send(200, f"turnwise_sessions {n}\n", "text/plain; version=0.0.4")
            if parts[:2] == ["v1", "sessions"]:
                if len(parts) == 2 and method == "POST":
                    return self._send(*s.create(self._body()))
                if len(parts) == 3 and method == "DELETE":
                    return self._send(*s.close(parts[2]))
                if len(parts) == 4 and method == "POST" and parts[3] == "reset":
                    return self._send(*s.reset(parts[2], self._body()))
                if len(parts) == 4 and method == "POST" and parts[3] == "step":
                    return self._send(*s.step(parts[2], self._body()))
            if method == "POST" and parts == ["v1", "batch"]:
                body = self._body()
                check_fields(body, {"requests"}, required={"requests"})
                if not isinstance(body["requests"], list):
                    raise HttpError(400, "bad_request", "field 'requests' must be an array")
                out = []
                for r in body["requests"]:
                    try:
                        status, result = s.run(r)
                        out.append({"status": status, "body": result})
                    except HttpError as e:
                        out.append({"status": e.status, "error": {"code": e.code, "message": e.message}})
                return self._send(200, {"responses": out})
            raise HttpError(404, "not_found", f"no such path: {self.path}")
        except HttpError as e:
            self._send(e.status, {"error": {"code": e.code, "message": e.message}})
        except Exception as e:  # the env threw: answer 500, keep serving
            self._send(500, {"error": {"code": "internal", "message": str(e)}})

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200, help="0 picks a free port")
    parser.add_argument("--max-sessions", type=int, default=1024)
    args = parser.parse_args()
    Handler.sessions = Sessions(args.max_sessions)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    # The first line tells a parent process (a test) which port was bound.
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
