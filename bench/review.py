"""Quality control at scale, on PostgreSQL: the dashboard's figures, the dashboard page and the review
queue over about a million submitted step labels (10,000 chains × 3 annotators × ~33 steps).

    DATABASE_URL=postgres://.../stepwise_qc_bench REDIS_URL=redis://.../5 DEBUG=true SECRET_KEY=x \
        .venv/bin/python bench/review.py [--chains 10000] [--repeat 3]

Seeds (once per size) a project `bench-review-<chains>` with the labels of bench/quality.py's generator:
chains imported through the import service, users, submitted assignments and their outcomes written with
bulk_create, the step labels with COPY. Then times, `--repeat` times each:
- reading the labels from the database into StepLabels (one query);
- `project_quality` computed (α, AC1, κ, first error with 200 resamples, per annotator, per position,
  per day, Dawid–Skene, gold): what runs once per change of the project's submissions;
- `project_quality` answered from the cache (the fingerprint queries and a cache read);
- the dashboard page (GET /projects/<slug>/quality/ through Django's test client, figures cached);
- the review queue refresh: the first one (judges every chain) and one with nothing changed.
Prints a table; the figures in docs/review-quality.md come from this script.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "platform")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def seed(chains: int, steps: int) -> str:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from annotation.models import Annotation, Assignment, AssignmentStatus, Chain, Project, Role
    from annotation.services.imports import chains_import
    from annotation.services.projects import membership_set, project_create
    from bench.quality import generate

    slug = f"bench-review-{chains}"
    if Project.objects.filter(slug=slug).exists():
        return slug
    t0 = time.perf_counter()
    data = generate(chains, steps, 3)
    chain_n, step_n, coder_n, rating_n = data["chain"], data["step"], data["coder"], data["rating"]
    lengths = np.bincount(chain_n, minlength=chains)
    lengths = np.maximum(lengths, 1)
    max_step = np.zeros(chains, dtype=np.int64)
    np.maximum.at(max_step, chain_n, step_n)
    project = project_create(slug=slug, name=f"Bench review {chains}", overlap_k=3)
    rows = "\n".join(json.dumps({"id": f"b{i}", "problem": f"Problem {i}: what is {i} + {i}?",
                                 "steps": [f"Step {j} of chain {i}." for j in range(int(max_step[i]) + 1)]})
                     for i in range(chains))
    chains_import(project=project, data=rows.encode(), fmt="stepwise")
    User = get_user_model()
    names = [f"bench-ann-{k}" for k in range(25)]
    User.objects.bulk_create([User(username=n, password="!") for n in names], ignore_conflicts=True)  # noqa: S106
    users = {u.username: u for u in User.objects.filter(username__in=names)}
    for n in names:
        membership_set(project=project, user=users[n], role=Role.ANNOTATOR)
    reviewer = User.objects.filter(username="bench-reviewer").first() or User.objects.create_user("bench-reviewer")
    membership_set(project=project, user=reviewer, role=Role.REVIEWER)
    chain_ids = dict(Chain.objects.filter(project=project).values_list("source_id", "id"))
    pairs = sorted({(int(c), int(k)) for c, k in zip(chain_n, coder_n, strict=True)})
    now = timezone.now()
    rng = np.random.default_rng(1)
    slots: dict[int, int] = {}
    assignments = []
    for c, k in pairs:
        slot = slots.get(c, 0)
        slots[c] = slot + 1
        assignments.append(Assignment(
            chain_id=chain_ids[f"b{c}"], annotator=users[names[k]], slot=slot, status=AssignmentStatus.SUBMITTED,
            submitted_at=now - datetime.timedelta(minutes=int(rng.integers(0, 30 * 24 * 60))),
            active_seconds=int(rng.integers(30, 900))))
    Assignment.objects.bulk_create(assignments, batch_size=5000)
    aid = {(a.chain_id, a.annotator_id): a.pk for a in assignments}
    Annotation.objects.bulk_create([Annotation(assignment_id=a.pk, finish_reason="solution") for a in assignments],
                                   batch_size=5000)
    buffer = io.StringIO()
    for c, s, k, r in zip(chain_n, step_n, coder_n, rating_n, strict=True):
        buffer.write(f"{aid[(chain_ids[f'b{c}'], users[names[k]].pk)]}\t{s}\t{r}\tf\t\t\t\t{now.isoformat()}\n")
    with connection.cursor() as cursor, cursor.copy(
            "COPY annotation_steplabel (assignment_id, step_key, rating, unsure, rationale, correction, error_type, "
            "updated_at) FROM STDIN") as copy:
        copy.write(buffer.getvalue())
    print(f"seeded {slug}: {len(chain_n):,} labels, {len(assignments):,} assignments in "
          f"{time.perf_counter() - t0:.1f} s")
    return slug


def timed(fn, repeat: int) -> tuple[object, list[float]]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=33)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    slug = seed(args.chains, args.steps)
    from django.contrib.auth import get_user_model

    from annotation.models import Project
    from review.adjudication import review_queue_refresh
    from review.quality_models import ReviewItem
    from review.quality_selectors import project_quality, project_step_labels

    project = Project.objects.get(slug=slug)
    results = []

    def row(what, times, note=""):
        results.append((what, times, note))
        print(f"{what:<58} {min(times):7.3f}–{max(times):7.3f} s  {note}", flush=True)

    labels, t = timed(lambda: project_step_labels(project=project), args.repeat)
    row("labels from PostgreSQL into StepLabels (one query)", t, f"{labels.n_labels:,} labels")
    q, t = timed(lambda: project_quality(project=project, use_cache=False), args.repeat)
    row("project_quality computed (200 resamples, all breakdowns, DS)", t,
        f"α = {q['krippendorff_alpha']['value']:.3f}")
    cache.clear()
    project_quality(project=project)
    _, t = timed(lambda: project_quality(project=project), args.repeat)
    row("project_quality from the cache (fingerprint + read)", t)
    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.get(username="bench-reviewer"))
    response, t = timed(lambda: client.get(f"/projects/{slug}/quality/"), args.repeat)
    assert response.status_code == 200, response.status_code
    row("dashboard page, figures cached (GET, rendered)", t)
    response, t = timed(lambda: client.get(f"/api/projects/{slug}/quality/"), args.repeat)
    row("GET /api/projects/<slug>/quality/, figures cached", t)
    ReviewItem.objects.filter(project=project).delete()
    start = time.perf_counter()
    counts = review_queue_refresh(project=project)
    row("review queue refresh, first (judges every chain)", [time.perf_counter() - start],
        f"{counts['judged']:,} judged, {counts['opened']:,} queued")
    _, t = timed(lambda: review_queue_refresh(project=project), args.repeat)
    row("review queue refresh, nothing changed", t)
    response, t = timed(lambda: client.get(f"/projects/{slug}/review/"), args.repeat)
    row("review queue page (refresh + first 200 items)", t)
    print(f"\nload average {os.getloadavg()[0]:.1f}; median of each: "
          + ", ".join(f"{statistics.median(t):.3f}" for _, t, _ in results))


if __name__ == "__main__":
    main()
