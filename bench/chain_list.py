"""The chain list with each filter at 100,000 chains, on PostgreSQL (issue 7: ≤ 100 ms p95).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python bench/chain_list.py
        [--database stepwise_chain_list_bench] [--chains 100000] [--runs 40] [--import-check 20000] [--no-docs]

Seeds (once per size) the database `--database` on DATABASE_URL's server, migrated: a project with
`--chains` chains, each with a problem of its own (so the text search reads 100,000 statements), two
source models, 1% gold, 40% of the chains holding slots, and review items for 70% of the chains as the
review queue leaves them (statuses, reasons, contested steps and α spread over the project; see
`seed_review`). Words planted in the problems at known shares give the text search matches from every
chain down to none.

Each filter is timed `--runs` times through `GET /api/projects/<slug>/chains/` with Django's test client
(session, permission check, validation, the selector's one query, serialization): p50 / p95 / max in ms,
and the rows of its first page. `--import-check N` also imports N chains with and without the problem
trigram index (migration 0008) to show what the index costs an import. Appends JSON to
bench/out/chain-list-results.jsonl and rewrites the bench:chain-list block of docs/benchmarks.md unless
--no-docs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))
from bench.claims import percentile, setup_env  # noqa: E402 (after the path above)

OUT = ROOT / "bench" / "out"
PASSWORD = "x-bench-12345"  # noqa: S105 (a bench user on a throwaway database)
SLUG = "bench-chain-list-{}"

# Planted words and the share of problems that carry each: the text search from every chain to none.
PLANTED = {"triangle": 10, "violet": 100, "zebra": 1000}  # one problem in N
WORDS = ("we", "the", "number", "of", "so", "then", "each", "total", "is", "and", "which", "gives", "boxes",
         "minutes", "remaining", "first", "second", "sum", "product", "value", "equation", "both", "sides")

FILTERS = {
    "none": {},
    "model": {"source_model": "model-1"},
    "status unstarted": {"status": "unstarted"},
    "gold": {"flag": "gold"},
    "id starts with": {"q": "c-9999"},
    "problem contains 'apples' (every chain)": {"text": "apples"},
    "problem contains 'triangle' (10%)": {"text": "triangle"},
    "problem contains 'violet' (1%)": {"text": "violet"},
    "problem contains 'zebra' (0.1%)": {"text": "zebra"},
    "problem contains 'qxqxq' (none)": {"text": "qxqxq"},
    "review open": {"review": "open"},
    "review rework (2%)": {"review": "rework"},
    "review unjudged": {"review": "unjudged"},
    "review flag fast_annotation (1%)": {"review_flag": "fast_annotation"},
    "review flag far_from_consensus": {"review_flag": "far_from_consensus"},
    "agreement agreed": {"agreement": "agreed"},
    "agreement split": {"agreement": "split"},
    "α below 0.2": {"alpha_below": 0.2},
    "deep page (after 90% of ids)": {"after": "DEEP"},
    "model + review open + 'triangle'": {"source_model": "model-0", "review": "open", "text": "triangle"},
}


def problem(i: int, rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(12, 30))
    for word, every in PLANTED.items():
        if i % every == every // 2:
            words.insert(rng.randrange(len(words)), word)
    a, b = rng.randint(10, 999), rng.randint(2, 99)
    return f"Problem {i}: a shop has {a} boxes of {b} apples; " + " ".join(words) + f". What is {a} times {b}?"


def chain_rows(first: int, count: int, prefix: str, seed: int):
    rng = random.Random(f"{seed}:{first}")
    for i in range(first, first + count):
        yield json.dumps({"id": f"{prefix}-{i}", "problem": problem(i, rng), "model": f"model-{i % 2}",
                          "steps": [f"{i} boxes", "times the apples", "is the total"]})


def import_chains(project, count: int, prefix: str, seed: int = 0) -> float:
    from annotation.services import chains_import

    started = time.perf_counter()
    for first in range(0, count, 50_000):
        n = min(50_000, count - first)
        chains_import(project=project, data="\n".join(chain_rows(first, n, prefix, seed)).encode(), fmt="stepwise")
    return time.perf_counter() - started


def seed_review(project, ids: list[int]) -> int:
    """Review items for 70% of the chains, by position i in id order (shares of all chains):
    clear 40% (agreed, α null), open 15% (a step contested, α spread from -0.5 to 1), resolved 8%, rework 2%,
    cleared after a reopen (waiting again) 5%; flags: fast_annotation 1%, far_from_consensus 1 in 7 of the
    items not clear, outcome_process_mismatch 1 in 13 of them."""
    from review.quality_models import ItemStatus, ReviewItem

    rng = random.Random(7)
    ReviewItem.objects.filter(project=project).delete()
    items = []
    for i, chain_id in enumerate(ids):
        bucket = i % 100
        if bucket >= 70:
            continue  # unjudged: no item
        if bucket < 40:
            status, reasons, contested, alpha, judged = ItemStatus.CLEAR, [], [], None, 3
        elif bucket < 65:
            status = ItemStatus.OPEN if bucket < 55 else ItemStatus.RESOLVED if bucket < 63 else ItemStatus.REWORK
            reasons, contested, alpha, judged = ["step_disagreement"], [1], round(rng.uniform(-0.5, 1.0), 3), 3
            if i % 7 == 0:
                reasons.append("far_from_consensus")
            if i % 13 == 0:
                reasons.append("outcome_process_mismatch")
        else:
            status, reasons, contested, alpha, judged = ItemStatus.CLEAR, [], [1], 0.1, 0  # fell below the minimum
        if i % 100 == 50:
            status, reasons = ItemStatus.OPEN, [*reasons, "fast_annotation"]
        items.append(ReviewItem(chain_id=chain_id, project=project, status=status, reasons=reasons,
                                detail={"contested": contested, "first_errors": {}, "alpha": alpha, "fast": [],
                                        "far": []}, n_annotators=3, judged_submissions=judged))
    ReviewItem.objects.bulk_create(items, batch_size=5000)
    return len(items)


def seed(chains: int):
    from django.db import connection

    from annotation.models import Chain, Project
    from annotation.services import project_create

    slug = SLUG.format(chains)
    project = Project.objects.filter(slug=slug).first()
    seconds = None
    if project is None:
        project = project_create(slug=slug, name="Chain list bench", overlap_k=3)
        seconds = import_chains(project, chains, "c")
        print(f"imported {chains:,} chains in {seconds:.1f} s", file=sys.stderr)
    ids = list(Chain.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    Chain.objects.filter(project=project).update(held_slots=0, is_gold=False)
    Chain.objects.filter(pk__in=ids[::100]).update(is_gold=True)
    Chain.objects.filter(pk__in=ids[: int(len(ids) * 0.4)]).update(held_slots=3)
    items = seed_review(project, ids)
    with connection.cursor() as cursor:  # what autovacuum does after a bulk change
        for table in ("annotation_chain", "annotation_problem", "review_reviewitem"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return project, ids, items, seconds


def list_run(project, ids: list[int], runs: int) -> dict:
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from annotation.models import Membership, Role

    User = get_user_model()
    researcher = User.objects.filter(username="list-researcher").first() or User.objects.create_user(
        "list-researcher", password=PASSWORD)
    Membership.objects.get_or_create(project=project, user=researcher, defaults={"role": Role.RESEARCHER})
    client = APIClient()
    client.force_login(researcher)
    url = f"/api/projects/{project.slug}/chains/"
    deep = ids[int(len(ids) * 0.9)]
    results = {}
    for name, params in FILTERS.items():
        params = {k: (deep if v == "DEEP" else v) for k, v in params.items()}
        times, rows = [], None
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url, params, secure=True)  # DEBUG off redirects plain HTTP to HTTPS
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (name, response.content[:300])
            rows = len(response.json()["results"])
        results[name] = {"n": runs, "p50": round(percentile(times, 50), 2), "p95": round(percentile(times, 95), 2),
                         "max": round(max(times), 2), "rows": rows}
        print(name, results[name], file=sys.stderr)
    return results


def import_check(count: int) -> dict:
    """Import `count` fresh chains (a problem each) with the trigram index and without it, in new projects."""
    from django.db import connection

    from annotation.models import Project
    from annotation.services import project_create

    out = {}
    for label in ("with index", "without index"):
        if label == "without index":
            with connection.cursor() as cursor:
                cursor.execute("DROP INDEX IF EXISTS problem_statement_trgm_idx")
        slug = f"bench-import-check-{'a' if label == 'with index' else 'b'}"
        Project.objects.filter(slug=slug).delete()
        project = project_create(slug=slug, name="Import check", overlap_k=1)
        out[label] = round(import_chains(project, count, slug, seed=1 if label == "with index" else 2), 2)
        print(f"import {count:,} chains {label}: {out[label]} s", file=sys.stderr)
        project.delete()
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX IF NOT EXISTS problem_statement_trgm_idx ON annotation_problem "
                       "USING gin (UPPER(statement) gin_trgm_ops)")
    return out


def write_docs(record: dict) -> None:
    docs = ROOT / "docs" / "benchmarks.md"
    text = docs.read_text()
    lines = [
        f"Last run: {record['date']}, {record['cpus']} cores, load average {record['load_before']:.2f} before and "
        f"{record['load_after']:.2f} after the run (a busy machine: other engineers' test suites ran on the same "
        f"cores; nothing was paused). {record['chains']:,} chains with a problem each, {record['review_items']:,} "
        "review items; PostgreSQL; `GET /api/projects/<slug>/chains/` through Django's test client, "
        f"{record['runs']} requests per filter.",
        "",
        "| filter | rows on page 1 | p50 (ms) | p95 (ms) | max (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, s in record["list"].items():
        lines.append(f"| {name} | {s['rows']} | {s['p50']} | {s['p95']} | {s['max']} |")
    if record.get("import_check"):
        c = record["import_check"]
        lines += ["", f"Import of {record['import_check_chains']:,} chains (a problem each): {c['with index']} s with "
                      f"the problem trigram index, {c['without index']} s without."]
    lines += ["", "Target: the chain list with filters ≤ 100 ms p95 at 100,000 chains."]
    block = "<!-- bench:chain-list:start -->\n" + "\n".join(lines) + "\n<!-- bench:chain-list:end -->"
    if "<!-- bench:chain-list:start -->" in text:
        head, rest = text.split("<!-- bench:chain-list:start -->", 1)
        text = head + block + rest.split("<!-- bench:chain-list:end -->", 1)[1]
    else:
        text = (text.rstrip() + "\n\n## Chain list with every filter at 100,000 chains (`bench/chain_list.py`)\n\n"
                + block + "\n")
    docs.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="stepwise_chain_list_bench")
    parser.add_argument("--chains", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--import-check", type=int, default=0, metavar="N")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    setup_env(args.database)
    import django

    django.setup()
    load_before = os.getloadavg()[0]
    project, ids, items, seconds = seed(args.chains)
    record = {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count(), "load_before": load_before,
              "chains": len(ids), "review_items": items, "runs": args.runs, "seed_import_seconds": seconds,
              "list": list_run(project, ids, args.runs)}
    if args.import_check:
        record["import_check_chains"] = args.import_check
        record["import_check"] = import_check(args.import_check)
    record["load_after"] = os.getloadavg()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "chain-list-results.jsonl").open("a") as out:
        out.write(json.dumps(record) + "\n")
    print(json.dumps(record, indent=2))
    if not args.no_docs:
        write_docs(record)


if __name__ == "__main__":
    main()
