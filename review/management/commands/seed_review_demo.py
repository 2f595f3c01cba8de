"""python manage.py seed_review_demo: a reviewer's day. A project where three annotators have labelled the
ProcessBench GSM8K excerpt (one careful, one a little noisy, one fast and careless), with gold chains and
planted errors mixed in, the disagreement queue filled, and a few chains already adjudicated.

Demo users and password are those of seed_demo. Refuses to run with DEBUG off unless --force. Running it
twice does nothing the second time.
"""

import datetime
import random
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from annotation.exceptions import ValidationFailed
from annotation.models import Assignment, Chain, ImportedLabelSet, Project, Role
from annotation.selectors import chain_steps
from annotation.services.assignments import LabelInput, assignment_submit
from annotation.services.imports import chains_import
from annotation.services.projects import membership_set, project_create
from annotation.services.queue import assignment_claim_next
from review.adjudication import (
    FinalLabelInput,
    chain_adjudicate,
    chain_plant_error,
    chain_set_gold,
    review_policy_set,
    review_queue_refresh,
)
from review.quality_models import ReviewItem

DEMO = Path(__file__).resolve().parents[3] / "annotation" / "demo" / "processbench_gsm8k_excerpt.json"
SLUG = "review-demo"
PASSWORD = "stepwise-demo"  # noqa: S105 (published on purpose: demo only, refused with DEBUG off)
# name, chance to catch a real error, chance to doubt (0) a sound step, chance to call a sound step wrong,
# seconds per step
ANNOTATORS = [("annotator1", 0.95, 0.03, 0.01, 25), ("annotator2", 0.8, 0.08, 0.04, 15),
              ("annotator3", 0.2, 0.0, 0.0, 2.5)]


class Command(BaseCommand):
    help = "Seed a review demo: labelled chains, gold and planted errors, a filled review queue."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Seed even with DEBUG off.")
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args, force: bool, seed: int, **options):
        if not settings.DEBUG and not force:
            raise CommandError("seed_review_demo creates users with a published password; it runs only with DEBUG "
                               "on (or pass --force on a throwaway database).")
        if Project.objects.filter(slug=SLUG).exists():
            self.stdout.write(f"Project '{SLUG}' exists already; nothing to do.")
            return
        rng = random.Random(seed)  # noqa: S311 (simulated annotators, not security)
        users = self._users()
        with transaction.atomic():
            project = project_create(slug=SLUG, name="Review demo (GSM8K)", overlap_k=3,
                                     guidelines="Rate every step: +1 good, 0 neutral, −1 wrong. Stop at the first −1.")
            for user, role in users.values():
                membership_set(project=project, user=user, role=role)
        chains_import(project=project, data=DEMO.read_bytes(), filename=DEMO.name)
        researcher = users["researcher"][0]
        review_policy_set(project=project, user=researcher, queue_rule="any_step", gold_share=0.15,
                          fast_seconds_per_step=2)
        chains = list(Chain.objects.filter(project=project).order_by("id"))
        keys = self._keys(chains)
        for c in chains[:4]:  # gold: their expert labels are the answer key
            chain_set_gold(chain=c, user=researcher, is_gold=True)
        planted = 0
        for c in chains:
            if planted == 3 or keys[c.pk] != -1:
                continue  # plant only into chains the experts found correct
            try:
                chain_plant_error(chain=c, user=researcher, rule="arithmetic", seed=seed + planted)
            except ValidationFailed:
                continue  # no verified equality in this chain to alter: try the next
            planted += 1
        keys = self._keys(list(Chain.objects.filter(project=project)))
        for name, catch, doubt, false_alarm, pace in ANNOTATORS:
            user = users[name][0]
            while (assignment := assignment_claim_next(project=project, user=user)) is not None:
                n = assignment.chain.step_count
                first = keys.get(assignment.chain_id, -1)
                ratings = []
                for i in range(n):
                    caught = i == first and rng.random() < catch
                    if caught or (i != first and rng.random() < false_alarm):
                        ratings.append(-1)
                    else:
                        ratings.append(0 if rng.random() < doubt else 1)
                    if ratings[-1] == -1:
                        break
                finish = "found_error" if ratings[-1] == -1 else "solution"
                assignment_submit(assignment=assignment, user=user, finish_reason=finish, version=assignment.version,
                                  labels=[LabelInput(i, r) for i, r in enumerate(ratings)],
                                  active_seconds=max(1, int(pace * len(ratings) * rng.uniform(0.6, 1.4))))
        self._spread_over_days(project, rng)
        review_queue_refresh(project=project)
        self._morning(project, users["reviewer"][0])
        open_items = ReviewItem.objects.filter(project=project, status="open").count()
        self.stdout.write(self.style.SUCCESS(
            f"Review demo '{SLUG}': {len(chains)} chains + {planted} planted, labelled by "
            f"{len(ANNOTATORS)} annotators; {open_items} chains waiting in the queue. Log in as reviewer "
            f"(password {PASSWORD}) and open /projects/{SLUG}/review/."))

    def _users(self) -> dict:
        User = get_user_model()
        out = {}
        for name, role in [("annotator1", Role.ANNOTATOR), ("annotator2", Role.ANNOTATOR),
                           ("annotator3", Role.ANNOTATOR), ("reviewer", Role.REVIEWER),
                           ("researcher", Role.RESEARCHER), ("admin", Role.ADMIN)]:
            user = User.objects.filter(username=name).first() or User.objects.create_user(
                username=name, password=PASSWORD, is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN)
            out[name] = (user, role)
        return out

    @staticmethod
    def _keys(chains) -> dict[int, int]:
        """The expert first-error index of each chain (−1: none)."""
        found = dict(ImportedLabelSet.objects.filter(chain__in=chains, replaced_at__isnull=True)
                     .values_list("chain_id", "first_error_index"))
        return {c.pk: (found.get(c.pk) if found.get(c.pk) is not None else -1) for c in chains}

    @staticmethod
    def _spread_over_days(project, rng) -> None:
        # Demo only: the simulated week of work is backdated so the dashboard has days to plot.
        now = timezone.now()
        for assignment_id in Assignment.objects.filter(chain__project=project).values_list("id", flat=True):
            when = now - datetime.timedelta(days=rng.randint(0, 6), minutes=rng.randint(0, 600))
            Assignment.objects.filter(pk=assignment_id).update(submitted_at=when)

    @staticmethod
    def _morning(project, reviewer) -> None:
        """The reviewer settled the two oldest items before lunch."""
        for item in ReviewItem.objects.filter(project=project, status="open").select_related("chain").order_by("id")[:2]:
            contested = item.detail.get("contested", [])
            steps = chain_steps(chain=item.chain)
            labels = [FinalLabelInput(step=i, rating=-1 if i == contested[0] else 1,
                                      reason="checked the arithmetic by hand") for i in contested[:1]]
            if labels and steps.keys:
                chain_adjudicate(chain=item.chain, reviewer=reviewer, labels=labels,
                                 note="Settled against the computation in the step.")
