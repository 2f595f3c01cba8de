"""Does the oversight client keep a model server saturated? The critique pass over N chains x S steps against a
fake OpenAI-compatible server (a real HTTP server in its own process: tests/oversight/fake_server.py) with a fixed latency
per request and a limit of C requests served at once, through the project's own code path: runs asked for
with `runs_request_for_chains`, executed by `runs_execute` a task's batch of chains at a time (what the
worker does with each message), every critique parsed, written to PostgreSQL and broadcast.

    .venv/bin/python bench/oversight.py [--chains 500] [--steps 20] [--latency 0.2] [--concurrency 16] [--batch 50]

Target (issue 8): wall time <= 1.2 x (requests x latency / concurrency). Uses the database
`stepwise_ov_bench` on DATABASE_URL's server (created and migrated once; the runs of earlier rounds are
deleted first). Prints one JSON line and appends it to bench/out/oversight-results.jsonl.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "platform"))


def environment() -> dict[str, str]:
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stepwise")
    url = urlsplit(base)._replace(path="/stepwise_ov_bench").geturl()
    env = {"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false",
           "SECRET_KEY": "bench-only-not-a-secret", "ALLOWED_HOSTS": "127.0.0.1",  # noqa: S105
           "DB_CONN_MAX_AGE": "60", "STEPWISE_VAR_DIR": tempfile.mkdtemp(prefix="ov-bench-"),
           "STEPWISE_MODEL_MAX_RESPONSE_BYTES": str(1 << 20), "LOG_LEVEL": "WARNING"}
    env.pop("REDIS_URL", None)
    return env


def prepare(env: dict[str, str]) -> None:
    url = urlsplit(env["DATABASE_URL"])
    subprocess.run(["psql", "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U",
                    url.username or "postgres", "-d", "postgres", "-c", "CREATE DATABASE stepwise_ov_bench"],
                   capture_output=True, check=False)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT,
                   env={**os.environ, **env}, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", type=int, default=500)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--client-concurrency", type=int, default=None,
                        help="The backend's max_concurrency (default: the server's --concurrency).")
    parser.add_argument("--batch", type=int, default=50, help="Chains per task (STEPWISE_OVERSIGHT_BATCH).")
    args = parser.parse_args()
    args.client_concurrency = args.client_concurrency or args.concurrency
    env = environment()
    prepare(env)
    os.environ.update(env)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from annotation.models import Project
    from annotation.services import chains_import, project_create
    from bench.chains import chain_steps, problem_text
    from oversight.models import ModelBackend, OversightRun, RunStatus
    from oversight.services import runs_execute, runs_request_for_chains

    slug = f"ov-bench-{args.steps}"
    project = Project.objects.filter(slug=slug).first() or project_create(slug=slug, name="Oversight bench")
    have = project.chains.count()
    if have < args.chains:
        texts = chain_steps(args.steps)
        rows = "\n".join(json.dumps({"id": f"ov-{i}", "problem": problem_text(i), "steps": texts})
                         for i in range(have, args.chains))
        chains_import(project=project, data=rows.encode(), fmt="stepwise")
    OversightRun.objects.filter(chain__project=project).delete()
    # The model server in a process of its own, as it would be: its threads do not take this one's CPU.
    server = subprocess.Popen([sys.executable, "-m", "tests.oversight.fake_server", "--latency", str(args.latency),
                               "--concurrency", str(args.concurrency)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        ModelBackend.objects.update_or_create(name="bench", defaults={
            "base_url": base_url, "model": "bench", "max_concurrency": args.client_concurrency, "timeout_seconds": 60})
        chains = list(project.chains.order_by("id")[:args.chains])
        started = time.perf_counter()
        cpu_started = time.process_time()
        ids = runs_request_for_chains(chains=chains, kind="critique", backend_name="bench", batch=args.batch)
        for start in range(0, len(ids), args.batch):
            runs_execute(run_ids=ids[start:start + args.batch])
        wall = time.perf_counter() - started
        cpu = time.process_time()
        with urllib.request.urlopen(base_url.rsplit("/v1", 1)[0] + "/stats", timeout=10) as response:  # noqa: S310
            stats = json.loads(response.read())
    finally:
        server.terminate()
        server.wait(10)
    runs = OversightRun.objects.filter(pk__in=ids)
    done = runs.filter(status=RunStatus.DONE).count()
    requests = args.chains * args.steps
    ideal = requests * args.latency / args.concurrency
    result = {"bench": "oversight-client", "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "chains": args.chains, "steps": args.steps, "requests": requests, "latency_s": args.latency,
              "concurrency": args.concurrency, "batch": args.batch, "wall_s": round(wall, 2),
              "ideal_s": round(ideal, 2), "ratio": round(wall / ideal, 3), "target_ratio": 1.2,
              "runs_done": done, "client_concurrency": args.client_concurrency,
              "client_cpu_s": round(cpu - cpu_started, 2), "server_peak_in_flight": stats["peak"],
              # How busy the server's slots were: its own service time (latency plus its overheads, which a
              # loaded machine inflates) over slots x wall time. 1.0 = never an idle slot.
              "server_slot_utilisation": round(stats["busy_seconds"] / (args.concurrency * wall), 3),
              "ideal_from_service_time_s": round(stats["busy_seconds"] / args.concurrency, 2), "load_avg": os.getloadavg()[0]}
    print(json.dumps(result))
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    with (out / "oversight-results.jsonl").open("a") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
