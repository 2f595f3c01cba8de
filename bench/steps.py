"""Step storage benchmark on PostgreSQL: read a long chain, save labels, split a step.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench python bench/steps.py [--repeat 200] [--no-docs]

For chains of 40 and 8,000 steps (and 20,000 for reading): the time to read the chain's current
revision (`chain_steps`, what the workspace needs first), the server time of a label save through
the whole Django stack (`PATCH /api/assignments/<id>/labels/` with the test client: middleware,
session, DRF, the service; no network), the queries it runs, and a one-step split (`chain_step_split`)
with the rows it writes. Writes the figures into docs/benchmarks.md between the `bench:steps` markers.
"""

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks.md"
SLUG = "bench-steps"
START_MARK = "<!-- bench:steps:start -->"
END_MARK = "<!-- bench:steps:end -->"
TARGETS = {"read_ms": 50, "save_p95_ms": 10, "save_queries": 5, "split_ms": 20}


def setup_django() -> None:
    for path in (ROOT / "platform", ROOT, ROOT / "bench"):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "x" * 40)
    os.environ.setdefault("ALLOWED_HOSTS", "localhost,testserver")
    import django

    django.setup()


def step_text(rng: random.Random, i: int) -> str:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    return (f"Step {i}: we have \\({a} \\times {b} = {a * b}\\), so the running total is {a * b + i}; "
            f"then we carry on with the next term of the sum, which is {a + b}.")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(n: int, repeat: int, client, user, project) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotation.models import Chain
    from annotation.selectors import chain_steps
    from annotation.services import assignment_claim_next, chain_step_split, chains_import

    rng = random.Random(n)
    source = f"chain-{n}"
    chains_import(project=project, data=json.dumps({"id": source, "problem": "Sum them.",
                                                    "steps": [step_text(rng, i) for i in range(n)]}).encode())
    chain = Chain.objects.get(project=project, source_id=source)
    reads = []
    for _ in range(max(repeat // 10, 10)):
        started = time.perf_counter()
        steps = chain_steps(chain=chain)
        reads.append((time.perf_counter() - started) * 1000)
    assert len(steps) == n
    figures = {"steps": n, "read_ms_p50": statistics.median(reads), "read_ms_p95": pct(reads, 0.95)}
    if n > 8000:
        return figures

    assignment = assignment_claim_next(project=project, user=user)
    assert assignment.chain_id == chain.pk, "the queue served another chain"
    url = f"/api/assignments/{assignment.pk}/labels/"
    version = assignment.version
    saves, queries = [], 0
    for i in range(repeat):
        body = {"version": version, "labels": [{"step": rng.randrange(n), "rating": rng.choice([-1, 0, 1])}],
                "save_key": f"s{i}", "active_seconds": i}
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.patch(url, body, content_type="application/json")
            saves.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
        version = response.json()["version"]
        queries = max(queries, sum(q["sql"] not in ("BEGIN", "COMMIT") for q in captured))  # statements, not transaction control
    figures.update(save_ms_p50=statistics.median(saves), save_ms_p95=pct(saves, 0.95), save_queries=queries)

    splits, writes = [], 0
    for _ in range(20):
        chain.refresh_from_db()
        texts = chain_steps(chain=chain).texts  # outside the clock: to pick a step long enough to split
        index = rng.choice([i for i, text in enumerate(texts) if len(text) > 40])
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            chain_step_split(chain=chain, user=user, revision=chain.revision, index=index, at=20)
            splits.append((time.perf_counter() - started) * 1000)
        writes = max(writes, sum(q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
                                 for q in captured))
    figures.update(split_ms_p50=statistics.median(splits), split_ms_p95=pct(splits, 0.95), split_writes=writes)
    return figures


def write_docs(rows: list[dict], command: str) -> None:
    from django.db import connection

    major, rest = divmod(connection.pg_version, 10000)
    lines = [START_MARK,
             f"Last run: {datetime.date.today().isoformat()} on {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, PostgreSQL {major}.{rest}; load average "
             f"{os.getloadavg()[0]:.1f} at the end. Command: `{command}`", "",
             "| steps | read current revision p50 / p95 (ms) | label save p50 / p95 (ms, server) | queries per save "
             "| one-step split p50 / p95 (ms) | rows written per split |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        save = (f"{r['save_ms_p50']:.1f} / {r['save_ms_p95']:.1f}" if "save_ms_p50" in r else "—")
        split = (f"{r['split_ms_p50']:.1f} / {r['split_ms_p95']:.1f}" if "split_ms_p50" in r else "—")
        lines.append(f"| {r['steps']:,} | {r['read_ms_p50']:.1f} / {r['read_ms_p95']:.1f} | {save} | "
                     f"{r.get('save_queries', '—')} | {split} | {r.get('split_writes', '—')} |")
    lines += ["", f"Targets: read ≤ {TARGETS['read_ms']} ms at 8,000 steps; save p95 ≤ {TARGETS['save_p95_ms']} ms "
              f"and ≤ {TARGETS['save_queries']} queries at 40 and 8,000 steps; split ≤ {TARGETS['split_ms']} ms with "
              "rows written independent of the chain's length.", END_MARK]
    block = "\n".join(lines)
    text = DOCS.read_text(encoding="utf-8")
    if START_MARK in text:
        head, rest = text.split(START_MARK, 1)
        text = head + block + rest.split(END_MARK, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Step storage: reads, saves, splits\n\n" + block + "\n"
    DOCS.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database, e.g. postgres://postgres@127.0.0.1:5432/stepwise_bench")
    setup_django()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client
    from import_export import drop_project

    from annotation.models import Role
    from annotation.services import membership_set, project_create

    call_command("migrate", verbosity=0)
    drop_project(SLUG)
    project = project_create(slug=SLUG, name="Step storage benchmark", overlap_k=1)
    User = get_user_model()
    rows = []
    for n in (40, 8000, 20000):
        user, _ = User.objects.get_or_create(username=f"bench-steps-{n}")
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
        client = Client()
        client.force_login(user)
        figures = measure(n, args.repeat, client, user, project)
        print(json.dumps(figures), flush=True)
        rows.append(figures)
    if not args.no_docs:
        write_docs(rows, "python bench/steps.py " + " ".join(sys.argv[1:]))
        print(f"wrote {DOCS.relative_to(ROOT)}")
    drop_project(SLUG)


if __name__ == "__main__":
    main()
