"""Passes a project's policy runs by itself: on import (every chain without a run on its current revision)
and on disagreement (chains whose submitted annotators disagree on some step). Celery beat calls this
every 30 s: annotation never calls oversight."""

from django.db.models import Count, Exists, F, Max, Min, OuterRef

from annotation.models import AssignmentStatus, Chain, StepLabel

from ..models import OversightPolicy, OversightRun, PassKind, Trigger
from .runs import runs_request_for_chains

MAX_CHAINS_PER_APPLY = 5000  # per project and pass each time; the next beat takes the rest


def policies_apply() -> dict:
    started = {}
    for policy in OversightPolicy.objects.select_related("project").exclude(passes={}):
        for kind, trigger in policy.passes.items():
            if kind == PassKind.DEBATE or trigger == Trigger.ON_DEMAND:
                continue
            has_run = OversightRun.objects.filter(chain=OuterRef("pk"), revision=OuterRef("revision"), kind=kind)
            chains = Chain.objects.filter(project=policy.project).exclude(Exists(has_run))
            if trigger == Trigger.ON_DISAGREEMENT:
                split = (StepLabel.objects.filter(assignment__chain=OuterRef("pk"),
                                                  assignment__status=AssignmentStatus.SUBMITTED,
                                                  rating__isnull=False)
                         .values("step_key").annotate(lo=Min("rating"), hi=Max("rating"), n=Count("id"))
                         .filter(n__gte=2).exclude(lo=F("hi")))
                chains = chains.filter(Exists(split))
            chains = list(chains.order_by("id")[:MAX_CHAINS_PER_APPLY])
            if chains:
                try:
                    runs_request_for_chains(chains=chains, kind=kind)
                except Exception as exc:  # no backend configured: say so in the result, try the others
                    started[f"{policy.project.slug}:{kind}"] = f"not started: {exc}"
                    continue
                started[f"{policy.project.slug}:{kind}"] = len(chains)
    return started
