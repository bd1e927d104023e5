"""Load check of the study server (a benchmark, not a test).

N simulated participants answer concurrently for a bounded time against ``genzoo study serve`` on
127.0.0.1 (a separate process, as in use). Each participant joins, answers its trials in order as fast
as the server replies (a participant who finishes joins again), and re-sends every 10th answer once
as a double submit. Afterwards the database is checked against what the server acknowledged: every
acknowledged answer is stored exactly once, no refused double submit is stored, and each participant's
answers are the contiguous indices 0..k-1.

    nice -n 10 python benchmarks/web_load.py --participants 16 --seconds 30
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "load-check-admin-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_study(folder: Path) -> Path:
    from genzoo.web.study import create_study

    rng = np.random.default_rng(0)
    np.savez(folder / "fake.npz", images=rng.random((200, 1, 8, 8)).astype(np.float32))
    cfg = {"name": "load", "design": "single", "data": "digits",
           "models": [{"name": "a", "samples": "fake.npz"}], "trials": 40, "pool": 100,
           "practice": 2, "attention_checks": 2, "presentation_ms": 1000}
    (folder / "study.yaml").write_text(yaml.safe_dump(cfg))
    return create_study(folder / "study.yaml", folder / "load")


class Participant(threading.Thread):
    def __init__(self, port: int, deadline: float) -> None:
        super().__init__(daemon=True)
        self.port, self.deadline = port, deadline
        self.latencies: list[float] = []
        self.acked: list[tuple[str, int]] = []  # (token, index) the server said it stored
        self.duplicate_refused = 0
        self.duplicate_accepted = 0
        self.errors: list[str] = []

    def post(self, con: http.client.HTTPConnection, path: str, body: dict | None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else b""
        con.request("POST", path, body=data, headers={"Content-Type": "application/json"})
        r = con.getresponse()
        return r.status, json.loads(r.read() or b"{}")

    def run(self) -> None:
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while time.time() < self.deadline:
                status, j = self.post(con, "/s/load/join", None)
                if status != 200:
                    self.errors.append(f"join {status} {j}")
                    return
                token = j["token"]
                con.request("GET", f"/s/load/api/{token}")
                state = json.loads(con.getresponse().read())
                while not state["done"] and time.time() < self.deadline:
                    i = state["trial"]["index"]
                    t0 = time.perf_counter()
                    status, j = self.post(con, f"/s/load/api/{token}/answer",
                                          {"index": i, "response": "real" if i % 3 else "fake", "rt_ms": 500})
                    self.latencies.append(time.perf_counter() - t0)
                    if status != 200:
                        self.errors.append(f"answer {status} {j}")
                        return
                    self.acked.append((token, i))
                    if i % 10 == 0:  # a double submit must be refused
                        status2, _ = self.post(con, f"/s/load/api/{token}/answer", {"index": i, "response": "fake"})
                        if status2 == 409:
                            self.duplicate_refused += 1
                        else:
                            self.duplicate_accepted += 1
                    state = j["state"]
        except Exception as e:  # noqa: BLE001 - reported, not raised, so the check still runs
            self.errors.append(repr(e))
        finally:
            con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--participants", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    a = ap.parse_args()
    from genzoo.web.store import open_study

    with tempfile.TemporaryDirectory() as tmp:
        study = make_study(Path(tmp))
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        server = subprocess.Popen([sys.executable, "-m", "genzoo", "study", "serve", str(study), "--port", str(port),
                                   "--token", TOKEN], env=env, stdout=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            t0 = time.time()
            people = [Participant(port, t0 + a.seconds) for _ in range(a.participants)]
            for p in people:
                p.start()
            for p in people:
                p.join()
            wall = time.time() - t0
        finally:
            server.terminate()
            server.wait(30)
        st = open_study(study)
        con = st.connect()
        stored = con.execute("SELECT p.token, a.idx FROM answers a JOIN participants p ON p.number = a.participant"
                             ).fetchall()
        per = con.execute("SELECT participant, COUNT(*), MAX(idx) FROM answers GROUP BY participant").fetchall()
        con.close()
    acked = [x for p in people for x in p.acked]
    lat = np.array([x for p in people for x in p.latencies]) * 1000
    stored_set, acked_set = set(map(tuple, stored)), set(acked)
    result = {
        "participants": a.participants,
        "seconds": round(wall, 1),
        "answers_acknowledged": len(acked),
        "answers_stored": len(stored),
        "answers_per_s": round(len(acked) / wall, 1),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
        "latency_ms_p99": round(float(np.percentile(lat, 99)), 1),
        "latency_ms_max": round(float(lat.max()), 1),
        "lost": len(acked_set - stored_set),
        "stored_not_acknowledged": len(stored_set - acked_set),
        "duplicates_stored": len(stored) - len(stored_set),
        "double_submits_refused": sum(p.duplicate_refused for p in people),
        "double_submits_accepted": sum(p.duplicate_accepted for p in people),
        "non_contiguous_participants": sum(1 for _, n, mx in per if mx != n - 1),
        "errors": [e for p in people for e in p.errors][:5],
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
