"""Services of judge evaluation: read a release's labels (pinned to its selection), score a judge's
predictions against them (review/evaluation.py), keep the result."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import transaction

from annotation.exceptions import Conflict, ValidationFailed

from . import releases_build as rb
from .evaluation import GoldChain, PredictionsError, evaluate, parse_predictions, subset_of
from .releases import _pinned_from
from .releases_models import DatasetRelease, JudgeEvaluation, ReleaseStatus
from .releases_selectors import release_chains

MAX_PREDICTION_BYTES = getattr(settings, "STEPWISE_EVALUATION_MAX_BYTES", 64 * 1024 * 1024)


def release_gold(*, release: DatasetRelease, split: str) -> dict[str, GoldChain]:
    """The release's chains of `split` with the ratings it went out with and each human label set."""
    if release.status != ReleaseStatus.DONE:
        raise Conflict(f"release {release.pk} is {release.status}; evaluate against a built release.")
    pinned = {pk: row for pk, row in _pinned_from(release).items() if row["split"] == split}
    if not pinned:
        raise ValidationFailed(f"release {release.name} {release.version} has no chains in split '{split}'; "
                               f"it has {', '.join(sorted(release.manifest['counts']['chains']))}.", field="split")
    filters = release.filters
    gold: dict[str, GoldChain] = {}
    for chain in release_chains(project=release.project, pinned=pinned, every_annotator=True):
        row = pinned[chain.pk]
        released = [s for s in chain.label_sets if s[1] in row[s[0]]]  # the label sets the release used
        used, ratings, _agreement, _reason = rb.choose_labels(
            released, source=filters["label_source"], min_agreement=0.0, min_label_sets=1,
            size=len(chain.steps))  # type: ignore[arg-type]
        neutral_bad = filters.get("neutral") == "negative"
        ratings = [(-1 if (r == 0 and neutral_bad) else r) for r in ratings]
        humans = [s[2].effective_ratings() for s in chain.label_sets if s[0] == "annotator"]
        if len(humans) < 2:
            humans = [s[2].effective_ratings() for s in chain.label_sets]
        gold[chain.source_id] = GoldChain(id=chain.source_id, subset=subset_of(chain.source_id, chain.metadata),
                                          ratings=ratings, others=humans if len(humans) >= 2 else [])
    return gold


def evaluation_create(*, release: DatasetRelease, user, judge: str, data: bytes, split: str = "test",
                      resamples: int = 1000) -> JudgeEvaluation:
    judge = (judge or "").strip()
    if not judge or len(judge) > 200:
        raise ValidationFailed("judge: name the model, critic or PRM (1 to 200 characters).", field="judge")
    if len(data) > MAX_PREDICTION_BYTES:
        raise ValidationFailed(f"the predictions file is {len(data):,} bytes; at most {MAX_PREDICTION_BYTES:,} "
                               "(STEPWISE_EVALUATION_MAX_BYTES).", field="file")
    if not 0 <= resamples <= 10000:
        raise ValidationFailed("resamples: 0 (no intervals) to 10,000.", field="resamples")
    gold = release_gold(release=release, split=split)
    try:
        predictions = parse_predictions(data.splitlines(), gold)
    except PredictionsError as exc:
        raise ValidationFailed("the predictions file has bad lines, nothing was scored: " + "; ".join(exc.errors[:20])
                               + (f" (and {len(exc.errors) - 20} more)" if len(exc.errors) > 20 else ""),
                               field="file") from None
    if not predictions:
        raise ValidationFailed("the predictions file has no lines; one JSON object per chain: "
                               '{"id": ..., "label": first wrong step or -1, "step_scores": [...]}.', field="file")
    results = evaluate(gold, predictions, resamples=resamples)
    with transaction.atomic():
        return JudgeEvaluation.objects.create(release=release, judge=judge, split=split, created_by=user,
                                              predictions_sha256=hashlib.sha256(data).hexdigest(),
                                              predictions=len(predictions), results=results)
