"""Load test of the annotation path (issue 11): N annotators against uvicorn (W worker processes, a
connection pool each) on PostgreSQL, each claiming a chain, saving a sparse change every P seconds,
submitting after S saves and claiming the next, for D seconds. Then every acknowledged save is checked
against the database: lost = acknowledged ratings that are not what is stored.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_hard_bench \\
    .venv/bin/python bench/load.py [--annotators 200] [--period 2] [--seconds 300] [--workers 2] [--pool 8]
    .venv/bin/python bench/load.py --period 0 ...     # saturated: every annotator saves without pause

Seeds a project (with `--annotators` × 4 chains of 12 steps) in the database named by DATABASE_URL
(created if missing, migrated). Clients authenticate with API tokens (`Authorization: Token`, as a
script would; the browser's session path costs the same on the server). Bounded: the run stops after
--seconds, every request has a 30 s timeout, and the server is stopped on every exit path. Prints and
appends JSON to bench/out/load-results.jsonl: saves, saves/s, p50/p95/p99/max of a save (client-side,
send to last byte), errors by kind, conflicts, submits, claims, lost labels.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
STEPS = 12


def setup_django(database_url: str) -> None:
    os.environ.update({"DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings",
                       "DEBUG": "false", "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-not-a-secret"),
                       "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false"})
    sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
    import django

    django.setup()


def ensure_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(annotators: int) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from annotation.models import Project, Role
    from annotation.services import chains_import, membership_set, project_create

    call_command("migrate", verbosity=0)
    slug = f"load-{annotators}"
    project = Project.objects.filter(slug=slug).first() or project_create(slug=slug, name="Load", overlap_k=1)
    need = annotators * 4 - project.chains.count()
    if need > 0:
        start = project.chains.count()
        rows = "\n".join(json.dumps({"id": f"load-{i}", "problem": f"What is {i} times 3?",
                                     "steps": [f"Step {s}: {i} × 3 is {3 * i} (check {s})." for s in range(STEPS)]})
                         for i in range(start, start + need))
        chains_import(project=project, data=rows.encode(), fmt="stepwise")
    tokens = []
    for i in range(annotators):
        user, _ = get_user_model().objects.get_or_create(username=f"load{i}")
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return [slug, *tokens]


def start_server(database_url: str, workers: int, pool: int) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DB_POOL_MAX_SIZE": str(pool), "DB_CONN_MAX_AGE": "0", "LOG_LEVEL": "WARNING",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform")])}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                                "--port", str(port), "--workers", str(workers), "--lifespan", "off",
                                "--no-access-log", "--log-level", "warning"], cwd=ROOT, env=env,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                raise SystemExit("uvicorn did not start") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Annotator(threading.Thread):
    def __init__(self, port, slug, token, period, until, saves_per_chain, seed):
        super().__init__(daemon=True)
        self.port, self.slug, self.token, self.period, self.until = port, slug, token, period, until
        self.saves_per_chain, self.rng = saves_per_chain, random.Random(seed)
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self.conflicts = self.submits = self.claims = 0
        self.acked: dict[tuple[int, int], int] = {}  # (assignment, step) -> last acknowledged rating
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        try:
            self.conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
            reply = self.conn.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.errors[type(exc).__name__] = self.errors.get(type(exc).__name__, 0) + 1
            return None, None
        return reply.status, (json.loads(data) if data else None)

    def claim(self):
        status, body = self.call("POST", f"/api/projects/{self.slug}/queue/next/")
        if status == 200:
            self.claims += 1
            return body
        if status != 204:
            self.errors[f"claim {status}"] = self.errors.get(f"claim {status}", 0) + 1
        return None

    def run(self):
        assignment = self.claim()
        saves = 0
        while assignment and time.monotonic() < self.until:
            if self.period:
                time.sleep(self.rng.uniform(0.5, 1.5) * self.period)
            steps = self.rng.sample(range(STEPS), self.rng.randint(1, 3))
            labels = [{"step": s, "rating": self.rng.choice((-1, 0, 1))} for s in steps]
            key = f"{assignment['id']}-{saves}"
            started = time.perf_counter()
            status, body = self.call("PATCH", f"/api/assignments/{assignment['id']}/labels/",
                                     {"version": assignment["version"], "save_key": key, "labels": labels})
            self.latencies.append(time.perf_counter() - started)
            if status == 200:
                assignment["version"] = body["version"]
                for label in labels:
                    self.acked[(assignment["id"], label["step"])] = label["rating"]
                saves += 1
            elif status == 409:
                self.conflicts += 1
            elif status is not None:
                self.errors[f"save {status}"] = self.errors.get(f"save {status}", 0) + 1
            if saves and saves % self.saves_per_chain == 0:
                everything = [{"step": s, "rating": 1} for s in range(STEPS)]
                status, body = self.call("POST", f"/api/assignments/{assignment['id']}/submit/",
                                         {"version": assignment["version"], "finish_reason": "solution",
                                          "labels": everything, "comment": ""})
                if status == 200:
                    self.submits += 1
                    for s in range(STEPS):
                        self.acked[(assignment["id"], s)] = 1
                    assignment = self.claim()
                else:
                    self.errors[f"submit {status}"] = self.errors.get(f"submit {status}", 0) + 1
                    assignment = self.claim()
        self.conn.close()


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def lost_labels(acked: dict[tuple[int, int], int]) -> int:
    from annotation.models import Assignment, StepLabel

    ids = {a for a, _ in acked}
    stored = {}
    keys = {a.pk: a for a in Assignment.objects.filter(pk__in=ids).select_related("chain")}
    for row in StepLabel.objects.filter(assignment_id__in=ids).values("assignment_id", "step_key", "rating"):
        stored[(row["assignment_id"], row["step_key"])] = row["rating"]
    # Imported chains are never edited here: step index == step key.
    return sum(1 for (a, s), rating in acked.items() if a in keys and stored.get((a, s)) != rating)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=200)
    parser.add_argument("--period", type=float, default=2.0, help="seconds between one annotator's saves; 0: none")
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool", type=int, default=8, help="database connections per worker process")
    parser.add_argument("--saves-per-chain", type=int, default=10)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stepwise_hard_bench")
    ensure_database(database_url)
    setup_django(database_url)
    slug, *tokens = seed(args.annotators)
    process, port = start_server(database_url, args.workers, args.pool)
    try:
        until = time.monotonic() + args.seconds
        started = time.monotonic()
        crowd = [Annotator(port, slug, token, args.period, until, args.saves_per_chain, i) for i, token in enumerate(tokens)]
        for person in crowd:
            person.start()
        for person in crowd:
            person.join(args.seconds + 60)
        elapsed = time.monotonic() - started
    finally:
        stop(process)
    latencies = [x for p in crowd for x in p.latencies]
    acked = {k: v for p in crowd for k, v in p.acked.items()}
    errors: dict[str, int] = {}
    for person in crowd:
        for kind, n in person.errors.items():
            errors[kind] = errors.get(kind, 0) + n
    result = {
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "annotators": args.annotators,
        "period_s": args.period, "seconds": round(elapsed, 1), "workers": args.workers, "pool": args.pool,
        "saves": len(latencies), "saves_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * percentile(latencies, 0.50), 1), "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1), "max_ms": round(1000 * max(latencies, default=0), 1),
        "errors": errors, "conflicts": sum(p.conflicts for p in crowd), "submits": sum(p.submits for p in crowd),
        "claims": sum(p.claims for p in crowd), "labels_acknowledged": len(acked), "lost": lost_labels(acked),
        "load_average": os.getloadavg()[0],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "load-results.jsonl").open("a") as out:
        out.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
