"""The queue and the chain list at 100,000 chains, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/claims.py [--chains 100000]
        [--annotators 50] [--claims 20] [--done 0.6] [--k 3] [--list-runs 40] [--no-docs]

Seeds (once per size) the database `stepwise_auth_bench` on DATABASE_URL's server: a project with
`--chains` chains (3 steps each, two source models, 1% gold), `--annotators` annotators, and a mature
queue: the first `--done` share of the chains already carries k submitted assignments (real rows,
180,000 at the defaults, and their held slots), so a claim must pass over finished work.

Claims: one thread per annotator, each with its own database connection, calling
`assignment_claim_next` (the service the page and the API call) `--claims` times; between claims the
annotator's assignment is marked submitted (not timed). Two runs: all annotators at once (a barrier
before every round: 50 claims in the same millisecond) and paced (each annotator claims every 0.5-1.5 s
at random: ~50 claims a second, still far above real annotators). Each thread connects before its first
claim (a web process claims on a connection it holds). Latency is the service call's wall time, including waiting for the interpreter lock that the 50 threads share (so it over-states what one
web process sees per request).

Chain list: `GET /api/projects/<slug>/chains/` through Django's test client (session, permission check,
the selector, serialization), `--list-runs` times per filter: none, model, status, gold, id search,
a deep page (after id 90,000). Appends JSON to bench/out/queue-results.jsonl and rewrites the
bench:queue block of docs/benchmarks.md unless --no-docs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
DB_NAME = "stepwise_auth_bench"
PASSWORD = "x-bench-12345"  # noqa: S105 (bench users on a throwaway database)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": round(percentile(values, 50), 2), "p95": round(percentile(values, 95), 2),
            "p99": round(percentile(values, 99), 2), "max": round(max(values), 2)}


def setup_env(database: str = DB_NAME) -> None:
    """Point this process at `database` on DATABASE_URL's PostgreSQL server, created and migrated if new
    (bench/chain_list.py uses it too)."""
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stepwise")
    url = urlsplit(base)._replace(path="/" + database)
    if not url.scheme.startswith("postgres"):
        sys.exit("This bench measures PostgreSQL: set DATABASE_URL to a postgres:// server.")
    os.environ["DATABASE_URL"] = url.geturl()
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
    os.environ["DB_CONN_MAX_AGE"] = "0"
    os.environ.pop("REDIS_URL", None)  # no broadcasts to a Redis the bench does not own
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT / "platform"))
    subprocess.run(["psql", "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U",
                    url.username or "postgres", "-d", "postgres", "-c", f"CREATE DATABASE {database}"],
                   capture_output=True, check=False)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True,
                   env=os.environ.copy())


def seed(chains: int, annotators: int, done: float, k: int, reseed: bool = False):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Count, OuterRef, Subquery
    from django.db.models.functions import Coalesce
    from django.utils import timezone

    from annotation.models import Assignment, AssignmentStatus, Chain, Membership, Project, Role
    from annotation.services import chains_import, project_create

    slug = f"bench-queue-{chains}"
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        project = project_create(slug=slug, name="Queue bench", overlap_k=k)
        started = time.perf_counter()
        for start in range(0, chains, 50_000):
            rows = "\n".join(json.dumps({"id": f"q-{i}", "problem": f"Problem {i}: what is {i} + {i % 7}?",
                                         "model": f"model-{i % 2}",
                                         "steps": [f"{i} plus {i % 7}", "is computed", f"= {i + i % 7}"]})
                             for i in range(start, min(chains, start + 50_000)))
            chains_import(project=project, data=rows.encode(), fmt="stepwise")
        print(f"imported {chains:,} chains in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        ids = list(Chain.objects.filter(project=project).order_by("id").values_list("id", flat=True))
        gold = ids[::100]
        Chain.objects.filter(pk__in=gold).update(is_gold=True)
    users = []
    User = get_user_model()
    for i in range(annotators):
        name = f"queue-{i}"
        user = User.objects.filter(username=name).first() or User.objects.create_user(name, password=PASSWORD)
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ANNOTATOR})
        users.append(user)
    seeded = Assignment.objects.filter(project=project, expires_at__isnull=True)
    if not reseed and seeded.count() == int(chains * done) * k:
        # The queue is seeded: take back what earlier runs claimed (their rows carry an expiry time, the
        # seed's none) and recount those chains' slots, so every run starts from the same queue.
        touched = set(Assignment.objects.filter(project=project, expires_at__isnull=False)
                      .values_list("chain_id", flat=True))
        Assignment.objects.filter(project=project, expires_at__isnull=False).delete()
        held = (Assignment.objects.filter(chain=OuterRef("pk"), slot__isnull=False).order_by().values("chain")
                .annotate(n=Count("id")).values("n"))
        Chain.objects.filter(pk__in=touched).update(held_slots=Coalesce(Subquery(held), 0))
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE annotation_chain")
            cursor.execute("VACUUM ANALYZE annotation_assignment")
        print(f"queue reset: {len(touched):,} chains claimed by earlier runs put back", file=sys.stderr)
        return project, users
    # A mature queue: the first `done` share of the (non-gold) chains has k submitted assignments.
    Assignment.objects.filter(project=project).delete()
    Chain.objects.filter(project=project).update(held_slots=0)
    finished = list(Chain.objects.filter(project=project, is_gold=False).order_by("id")
                    .values_list("id", "revision")[:int(chains * done)])
    now = timezone.now()
    rows = []
    for n, (chain_id, revision) in enumerate(finished):
        for slot in range(k):
            user = users[(n * k + slot) % len(users)]
            rows.append(Assignment(chain_id=chain_id, project=project, annotator=user, slot=slot, revision=revision,
                                   status=AssignmentStatus.SUBMITTED, submitted_at=now, expires_at=None))
    started = time.perf_counter()
    Assignment.objects.bulk_create(rows, batch_size=5000)
    Chain.objects.filter(pk__in=[c for c, _ in finished]).update(held_slots=k)
    # What autovacuum does after a bulk change: the seed's 60,000 held-slot updates leave dead index
    # entries at the head of the queue's index range, which every claim would otherwise step over.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE annotation_chain")
        cursor.execute("VACUUM ANALYZE annotation_assignment")
    print(f"{len(rows):,} submitted assignments in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return project, users


def pressure() -> dict:
    """Linux pressure stall information, `some avg10` (% of the last 10 s some task waited for the CPU / for
    I/O): on a shared machine this says more than the load average about what else ran."""
    found = {}
    for kind in ("cpu", "io"):
        try:
            line = Path(f"/proc/pressure/{kind}").read_text().splitlines()[0]
            found[kind] = float(line.split("avg10=")[1].split()[0])
        except (OSError, IndexError, ValueError):
            pass
    return found


def claim_service():
    """`assignment_claim_next` from the module named by STEPWISE_BENCH_CLAIM_MODULE (--claim-module), by default
    the project's: a before/after comparison in one session runs a copy of the old module beside the new."""
    import importlib

    return importlib.import_module(os.environ.get("STEPWISE_BENCH_CLAIM_MODULE", "annotation.services")
                                   ).assignment_claim_next


def claim_run(project, users, claims: int, paced: bool) -> list[float]:
    from django.db import connection

    from annotation.models import Assignment, AssignmentStatus

    assignment_claim_next = claim_service()
    times: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(users))

    def annotator(user, seed_value):
        rng = random.Random(seed_value)
        try:
            # Connected before the first claim: a web process claims on a connection it already holds (a pool
            # or a persistent one); a PostgreSQL backend's start-up is not part of a claim.
            connection.ensure_connection()
            for _ in range(claims):
                if paced:
                    time.sleep(rng.uniform(0.5, 1.5))
                else:
                    barrier.wait(timeout=60)
                started = time.perf_counter()
                assignment = assignment_claim_next(project=project, user=user)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    times.append(elapsed)
                if assignment is not None:
                    Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.SUBMITTED)
        except BaseException as exc:  # reported after the run
            errors.append(exc)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=annotator, args=(u, i)) for i, u in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    if errors:
        raise errors[0]
    return times


def serial_run(project, users, claims: int, profile: str | None = None) -> dict:
    """Claims served one after another from one thread (annotators in turn, each claim's assignment then
    submitted, not timed): queries per claim, this process's CPU, wall, and wall less CPU (`wait_ms`: round
    trips, PostgreSQL's work and its commit, waiting for a core; Django's per-query times have 1 ms steps).
    With `profile`, a cProfile of the claims is written there (pstats format)."""
    import cProfile

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotation.models import Assignment, AssignmentStatus

    assignment_claim_next = claim_service()
    walls, cpus, waits, counts = [], [], [], []
    profiler = cProfile.Profile() if profile else None
    for n in range(claims):
        user = users[n % len(users)]
        with CaptureQueriesContext(connection) as captured:
            cpu, wall = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            assignment = assignment_claim_next(project=project, user=user)
            if profiler:
                profiler.disable()
            walls.append((time.perf_counter() - wall) * 1000)
            cpus.append((time.process_time() - cpu) * 1000)
        counts.append(len(captured.captured_queries))
        waits.append(walls[-1] - cpus[-1])
        if assignment is not None:
            Assignment.objects.filter(pk=assignment.pk).update(status=AssignmentStatus.SUBMITTED)
    if profiler:
        profiler.dump_stats(profile)
    last = captured.captured_queries
    return {"queries": summary(counts), "wait_ms": summary(waits), "cpu_ms": summary(cpus), "wall_ms": summary(walls),
            "last_claim_sql": [q["sql"][:300] for q in last]}


def worker(first: int, count: int, claims: int, start: float) -> None:
    """One of the paced run's processes: annotators first..first+count-1, each in a thread, output JSON."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from annotation.models import Project

    project = Project.objects.filter(slug__startswith="bench-queue-").order_by("-id").first()
    users = [get_user_model().objects.get(username=f"queue-{i}") for i in range(first, first + count)]
    time.sleep(max(0.0, start - time.time()))
    times = claim_run(project, users, claims, paced=True)
    print(json.dumps(times))


def paced_processes(annotators: int, claims: int, processes: int) -> list[float]:
    """The paced run spread over `processes` processes, as a deployment spreads requests over web processes."""
    per = -(-annotators // processes)
    start = time.time() + 8  # every process set up before the first claim
    children = []
    for first in range(0, annotators, per):
        count = min(per, annotators - first)
        children.append(subprocess.Popen([sys.executable, str(Path(__file__)), "_worker", str(first), str(count),
                                          str(claims), str(start)], cwd=ROOT, env=os.environ.copy(),
                                         stdout=subprocess.PIPE, text=True))
    times: list[float] = []
    for child in children:
        out, _ = child.communicate(timeout=900)
        if child.returncode != 0:
            raise RuntimeError(f"worker failed ({child.returncode})")
        times += json.loads(out.strip().splitlines()[-1])
    return times


def list_run(project, runs: int) -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from annotation.models import Membership, Role

    researcher = get_user_model().objects.filter(username="queue-researcher").first() or \
        get_user_model().objects.create_user("queue-researcher", password=PASSWORD)
    Membership.objects.get_or_create(project=project, user=researcher, defaults={"role": Role.RESEARCHER})
    client = APIClient()
    client.force_login(researcher)
    url = f"/api/projects/{project.slug}/chains/"
    filters = {"none": {}, "model": {"source_model": "model-1"}, "status unstarted": {"status": "unstarted"},
               "gold": {"flag": "gold"}, "id search": {"q": "q-9999"}, "deep page": {"after": 90_000},
               "model + unstarted + page": {"source_model": "model-0", "status": "unstarted", "after": 50_000}}
    results = {}
    for name, params in filters.items():
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url, params, secure=True)  # DEBUG off redirects plain HTTP to HTTPS
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content[:300]
        results[name] = summary(times)
    return results


def write_docs(record: dict) -> None:
    docs = ROOT / "docs" / "benchmarks.md"
    text = docs.read_text()
    c, p = record["claims"], record["list"]
    lines = [
        f"Last run: {record['date']}, {record['cpus']} cores, load average {record['load']:.2f} before the run. "
        f"{record['chains']:,} chains, {record['annotators']} annotators, k = {record['k']}, "
        f"{record['done_share']:.0%} of the chains already done ({record['assignments']:,} submitted assignments); "
        "PostgreSQL, service calls from one process (one thread and connection per annotator).",
        "",
        "| claims | n | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    labels = {"burst": "burst: all annotators at once, one process", "paced": "paced, one process",
              "paced, processes": f"paced, {record['processes']} processes"}
    for name, label in labels.items():
        s = c[name]
        lines.append(f"| {label} | {s['n']:,} | {s['p50']} | {s['p95']} | {s['p99']} | {s['max']} |")
    lines += ["", "| chain list (API, 50 a page) | p50 (ms) | p95 (ms) | max (ms) |", "| --- | ---: | ---: | ---: |"]
    for name, s in p.items():
        lines.append(f"| {name} | {s['p50']} | {s['p95']} | {s['max']} |")
    lines += ["", "Targets: claim ≤ 20 ms p95 with 50 annotators claiming; chain list with filters ≤ 100 ms p95."]
    block = "<!-- bench:queue:start -->\n" + "\n".join(lines) + "\n<!-- bench:queue:end -->"
    if "<!-- bench:queue:start -->" in text:
        head, rest = text.split("<!-- bench:queue:start -->", 1)
        text = head + block + rest.split("<!-- bench:queue:end -->", 1)[1]
    else:
        text = text.rstrip() + "\n\n## Queue and chain list at 100,000 chains (`bench/claims.py`)\n\n" + block + "\n"
    docs.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chains", type=int, default=100_000)
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--claims", type=int, default=20)
    parser.add_argument("--done", type=float, default=0.6)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--list-runs", type=int, default=40)
    parser.add_argument("--processes", type=int, default=5, help="Processes for the spread paced run.")
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument("--database", default=DB_NAME, help="The database to seed and measure (on DATABASE_URL's server).")
    parser.add_argument("--seed-only", action="store_true", help="Seed (or reset the queue) and stop.")
    parser.add_argument("--reseed", action="store_true",
                        help="Write the submitted assignments again even when the queue is seeded (else only "
                             "earlier runs' claims are taken back).")
    parser.add_argument("--serial", type=int, default=0, metavar="N",
                        help="Only N claims one after another (queries, SQL time, CPU, wall per claim), then stop.")
    parser.add_argument("--claim-module", default="annotation.services",
                        help="The module whose assignment_claim_next is timed, e.g. a copy of the old queue module "
                             "saved as annotation/services/queue_old.py for a before/after run.")
    parser.add_argument("--only-claims", action="store_true", help="Skip the chain list.")
    parser.add_argument("--profile", metavar="FILE", help="With --serial: write a cProfile of the claims to FILE.")
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        sys.path.insert(0, str(ROOT / "platform"))
        worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
        return
    args = parser.parse_args()
    os.environ["STEPWISE_BENCH_CLAIM_MODULE"] = args.claim_module  # the paced run's worker processes too
    setup_env(args.database)
    import django

    django.setup()
    project, users = seed(args.chains, args.annotators, args.done, args.k, reseed=args.reseed)
    load, stall = os.getloadavg()[0], pressure()
    if args.seed_only:
        return
    if args.serial:
        print(json.dumps(serial_run(project, users, args.serial, args.profile), indent=2))
        return
    from annotation.models import Assignment

    assignments = Assignment.objects.filter(project=project).count()
    phase_s, started = {}, time.perf_counter()
    burst = claim_run(project, users, args.claims, paced=False)
    phase_s["burst"], started = round(time.perf_counter() - started, 1), time.perf_counter()
    print("burst", summary(burst), file=sys.stderr)
    paced = claim_run(project, users, args.claims, paced=True)
    phase_s["paced"], started = round(time.perf_counter() - started, 1), time.perf_counter()
    print("paced", summary(paced), file=sys.stderr)
    spread = paced_processes(args.annotators, args.claims, args.processes)
    phase_s["paced, processes"] = round(time.perf_counter() - started, 1)
    print(f"paced, {args.processes} processes", summary(spread), file=sys.stderr)
    record = {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count(), "load": load,
              "chains": args.chains, "annotators": args.annotators, "k": args.k, "done_share": args.done,
              "assignments": assignments, "claim_module": args.claim_module,
              "processes": args.processes,
              "claims": {"burst": summary(burst), "paced": summary(paced), "paced, processes": summary(spread)},
              "list": {} if args.only_claims else list_run(project, args.list_runs),
              "load_after": os.getloadavg()[0], "pressure": stall, "pressure_after": pressure(),
              "phase_s": phase_s, "cpu_s": round(time.process_time(), 1),
              "children_cpu_s": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
                                      + resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime, 1)}
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "queue-results.jsonl").open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=2))
    if not (args.no_docs or args.only_claims):
        write_docs(record)


if __name__ == "__main__":
    main()
