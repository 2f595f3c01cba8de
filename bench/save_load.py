"""Label saves under load: N annotators, each saving a small sparse change every P seconds, against
daphne on PostgreSQL, for D seconds. The save path the workspace uses: PATCH /api/assignments/<id>/labels/
with the session cookie and CSRF header, the version of the last reply and a save key.

    .venv/bin/python bench/save_load.py [--annotators 50] [--period 2] [--seconds 60] [--steps 2000] [--no-docs]

Seeds (once) a project in the database `stepwise_ws_bench` of DATABASE_URL's server with one chain of
`--steps` steps per annotator, starts daphne (DEBUG off, persistent connections as in production),
logs every annotator in through the login form, then runs one thread per annotator with its own
keep-alive connection. Each save changes one to three steps (rating, sometimes a rationale or a flag)
at a random place of the chain. Latency is the client's, from sending the request to its last byte.
Bounded: the run stops after --seconds, every request has a 30 s timeout, and daphne is stopped on
every exit path. Reports p50/p95/p99/max, errors and conflicts; appends JSON to
bench/out/save-load-results.jsonl and rewrites the bench:save-load block of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import http.cookies
import json
import os
import random
import re
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.workspace import PASSWORD, backend_env, create_database, start_daphne, stop  # noqa: E402

OUT = ROOT / "bench" / "out"


def seed(annotators: int, steps: int) -> list[dict]:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from annotation.models import Assignment, Project, Role
    from annotation.services import assignment_claim_next, chains_import, membership_set, project_create
    from bench.chains import chain_steps, problem_text

    slug = f"bench-save-{steps}"
    project = Project.objects.filter(slug=slug).first() or project_create(slug=slug, name="Save load")
    have = project.chains.count()
    if have < annotators:
        texts = chain_steps(steps)
        rows = "\n".join(json.dumps({"id": f"save-{i}", "problem": problem_text(i), "steps": texts})
                         for i in range(have, annotators))
        chains_import(project=project, data=rows.encode(), fmt="stepwise")
    seats = []
    users = get_user_model().objects
    for i in range(annotators):
        name = f"save-{i}"
        user = users.filter(username=name).first() or users.create_user(name, password=PASSWORD)
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
        Assignment.objects.filter(annotator=user).delete()
        assignment = assignment_claim_next(project=project, user=user)
        seats.append({"user": name, "assignment": assignment.pk, "version": assignment.version})
    return seats


class Client:
    """One annotator: a keep-alive connection, the session cookie, the CSRF token."""

    def __init__(self, host: str, port: int):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        head = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **(headers or {})}
        self.conn.request(method, path, body=body, headers=head)
        response = self.conn.getresponse()
        data = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = http.cookies.SimpleCookie(header)
            for key, morsel in jar.items():
                self.cookies[key] = morsel.value
        return response.status, data

    def log_in(self, user: str) -> None:
        status, page = self.request("GET", "/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode({"username": user, "password": PASSWORD, "csrfmiddlewaretoken": token})
        status, _ = self.request("POST", "/login/", form.encode(), {"Content-Type": "application/x-www-form-urlencoded",
                                                                     "Referer": "http://127.0.0.1/login/"})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login of {user} failed ({status})")


def annotator(client: Client, seat: dict, steps: int, period: float, until: float, out: list, rng: random.Random):
    version = seat["version"]
    path = f"/api/assignments/{seat['assignment']}/labels/"
    time.sleep(rng.random() * period)  # spread the annotators over the period
    n = 0
    while time.monotonic() < until:
        started = time.monotonic()
        labels = []
        for step in rng.sample(range(steps), rng.randint(1, 3)):
            label = {"step": step, "rating": rng.choice([-1, 0, 1])}
            if rng.random() < 0.2:
                label["rationale"] = f"because of line {rng.randint(1, 99)}"
            if rng.random() < 0.1:
                label["flagged"] = True
            labels.append(label)
        n += 1
        body = json.dumps({"version": version, "labels": labels, "save_key": f"{seat['user']}-{n}",
                           "active_seconds": n * 2}).encode()
        t0 = time.perf_counter()
        try:
            status, data = client.request("PATCH", path, body, {"Content-Type": "application/json",
                                                               "X-CSRFToken": client.cookies.get("csrftoken", "")})
        except OSError as exc:
            out.append({"ms": (time.perf_counter() - t0) * 1000, "status": f"error {exc}"})
            client.conn.close()
            continue
        ms = (time.perf_counter() - t0) * 1000
        out.append({"ms": ms, "status": status})
        if status == 200:
            version = json.loads(data)["version"]
        time.sleep(max(0.0, period - (time.monotonic() - started)))


def percentile(values, q):
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_seed":
        print(json.dumps(seed(int(sys.argv[2]), int(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--period", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.annotators <= 200 or not 5 <= args.seconds <= 600:
        parser.error("--annotators 1..200, --seconds 5..600")
    import subprocess

    var_dir = Path(tempfile.mkdtemp(prefix="save-bench-"))
    env = backend_env("postgres", var_dir)
    create_database(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    done = subprocess.run([sys.executable, str(Path(__file__)), "_seed", str(args.annotators), str(args.steps)],
                          cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    seats = json.loads(done.stdout.strip().splitlines()[-1])
    process, url = start_daphne(env, var_dir / "daphne.log")
    try:
        host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
        clients = []
        for seat in seats:
            client = Client(host, port)
            client.log_in(seat["user"])
            clients.append(client)
        results: list[dict] = []
        until = time.monotonic() + args.seconds
        load_before = os.getloadavg()[0]
        cpu_before = _cpu(process.pid)
        threads = [threading.Thread(target=annotator, args=(c, s, args.steps, args.period, until, results,
                                                            random.Random(i)), daemon=True)
                   for i, (c, s) in enumerate(zip(clients, seats, strict=True))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 60)
        cpu = _cpu(process.pid) - cpu_before
    finally:
        stop(process)
    ok = [r["ms"] for r in results if r["status"] == 200]
    summary = {
        "date": datetime.date.today().isoformat(), "annotators": args.annotators, "period_s": args.period,
        "seconds": args.seconds, "steps_per_chain": args.steps, "saves": len(results), "ok": len(ok),
        "conflicts": sum(1 for r in results if r["status"] == 409),
        "errors": sum(1 for r in results if r["status"] not in (200, 409)),
        "p50_ms": round(percentile(ok, 50), 1), "p95_ms": round(percentile(ok, 95), 1),
        "p99_ms": round(percentile(ok, 99), 1), "max_ms": round(max(ok), 1),
        "saves_per_s": round(len(results) / args.seconds, 1), "daphne_cpu_s": round(cpu, 1),
        "loadavg_1min_before": round(load_before, 2), "cores": os.cpu_count(),
    }
    print(json.dumps(summary))
    OUT.mkdir(exist_ok=True)
    with (OUT / "save-load-results.jsonl").open("a") as out:
        out.write(json.dumps(summary) + "\n")
    if not args.no_docs:
        block = (f"Last run: {summary['date']}, {summary['cores']} cores, load average {summary['loadavg_1min_before']} "
                 f"before the run. {summary['annotators']} annotators, each saving 1–3 steps every "
                 f"{summary['period_s']:g} s for {summary['seconds']:g} s on chains of {summary['steps_per_chain']:,} steps "
                 f"(daphne, one process, PostgreSQL, a connection per request).\n\n"
                 "| saves | per second | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) | conflicts | errors | daphne CPU (s) |\n"
                 "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
                 f"| {summary['saves']:,} | {summary['saves_per_s']} | {summary['p50_ms']} | {summary['p95_ms']} | "
                 f"{summary['p99_ms']} | {summary['max_ms']} | {summary['conflicts']} | {summary['errors']} | "
                 f"{summary['daphne_cpu_s']} |\n\nTarget: p95 ≤ 30 ms.")
        from bench.workspace import ROOT as root

        path = root / "docs" / "benchmarks.md"
        text = path.read_text()
        start, end = "<!-- bench:save-load:start -->", "<!-- bench:save-load:end -->"
        if start in text:
            head, rest = text.split(start, 1)
            text = head + start + "\n" + block + "\n" + end + rest.split(end, 1)[1]
        else:
            text += f"\n{start}\n{block}\n{end}\n"
        path.write_text(text)


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
