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
    for chain in release_chains(project=release.project, pinned=pinned, every_annotator=True,
                                adjudicated=filters["label_source"] == "adjudicated"):
        row = pinned[chain.pk]
        released = [s for s in chain.label_sets if s[1] in row.get(s[0], [])]  # the label sets the release used
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


def release_pairs(*, release: DatasetRelease, split: str) -> set[str]:
    """The ids of the release's preference pairs in `split` (its `preference/<split>.jsonl`)."""
    import orjson

    from . import releases_store as store

    if release.status != ReleaseStatus.DONE:
        raise Conflict(f"release {release.pk} is {release.status}; evaluate against a built release.")
    if not any(f["kind"] == "preference" for f in release.manifest.get("files", [])):
        raise ValidationFailed(f"release {release.name} {release.version} has no preference pairs to judge; make a "
                               "release with the 'preference' format.", field="pairs")
    path = f"preference/{split}.jsonl"
    if not store.exists(release_id=release.pk, path=path):
        raise ValidationFailed(f"release {release.name} {release.version} has no preference pairs in split "
                               f"'{split}'.", field="split")
    return {orjson.loads(line)["id"] for line in store.HashedLines(release_id=release.pk, path=path) if line.strip()}


def evaluation_create(*, release: DatasetRelease, user, judge: str, data: bytes, split: str = "test",
                      resamples: int = 1000, pairs: bool = False) -> JudgeEvaluation:
    """Score a judge's predictions (per chain), or with `pairs` a pairwise judge's picks on the release's
    preference pairs shown in both orders (the position-swap check, review/evaluation_pairs.py)."""
    judge = (judge or "").strip()
    if not judge or len(judge) > 200:
        raise ValidationFailed("judge: name the model, critic or PRM (1 to 200 characters).", field="judge")
    if len(data) > MAX_PREDICTION_BYTES:
        raise ValidationFailed(f"the predictions file is {len(data):,} bytes; at most {MAX_PREDICTION_BYTES:,} "
                               "(STEPWISE_EVALUATION_MAX_BYTES).", field="file")
    if not 0 <= resamples <= 10000:
        raise ValidationFailed("resamples: 0 (no intervals) to 10,000.", field="resamples")
    if pairs:
        return _pair_evaluation_create(release=release, user=user, judge=judge, data=data, split=split,
                                       resamples=resamples)
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


def _pair_evaluation_create(*, release, user, judge, data, split, resamples) -> JudgeEvaluation:
    from .evaluation_pairs import PairJudgementsError, parse_pair_judgements, position_swap

    known = release_pairs(release=release, split=split)
    try:
        judged = parse_pair_judgements(data.splitlines(), known)
    except PairJudgementsError as exc:
        raise ValidationFailed("the pair judgements file has bad lines, nothing was scored: " + "; ".join(exc.errors[:20])
                               + (f" (and {len(exc.errors) - 20} more)" if len(exc.errors) > 20 else ""),
                               field="file") from None
    if not judged:
        raise ValidationFailed("the pair judgements file has no lines; one JSON object per pair and order: "
                               '{"id": ..., "shown_first": "chosen"|"rejected", "picked": "first"|"second"}.',
                               field="file")
    results = position_swap(judged, pairs=len(known), resamples=resamples)
    with transaction.atomic():
        return JudgeEvaluation.objects.create(release=release, judge=judge, split=split, created_by=user,
                                              predictions_sha256=hashlib.sha256(data).hexdigest(),
                                              predictions=sum(len(o) for o in judged.values()), results=results)


# --- a judge that is an oversight backend --------------------------------------------------------------------

def _release_chains_of(release: DatasetRelease, split: str) -> dict[int, dict]:
    pinned = {pk: row for pk, row in _pinned_from(release).items() if row["split"] == split}
    if not pinned:
        raise ValidationFailed(f"release {release.name} {release.version} has no chains in split '{split}'.",
                               field="split")
    return pinned


def release_judge_request(*, release: DatasetRelease, backend_name: str, split: str = "test", user=None) -> dict:
    """Ask the oversight backend for a critique of every chain of the split (cached runs are reused). Only
    chains still at the release's revision can be judged on the text the release has; the others are counted."""
    from annotation.models import Chain
    from oversight.services.runs import runs_request_for_chains

    pinned = _release_chains_of(release, split)
    chains = list(Chain.objects.filter(pk__in=list(pinned)).order_by("pk"))
    current = [c for c in chains if c.revision == pinned[c.pk]["revision"]]
    runs = runs_request_for_chains(chains=current, kind="critique", backend_name=backend_name, user=user)
    return {"runs": len(runs), "chains": len(chains), "edited_since": len(chains) - len(current)}


def predictions_from_runs(*, release: DatasetRelease, backend_name: str, split: str = "test") -> tuple[bytes, dict]:
    """The backend's finished critiques of the split's chains (at the release's revisions) as a predictions
    file: a step's score is the probability it is correct (the verdict's confidence, 1 - it for `incorrect`,
    0.5 for `unsure`; a verdict without a confidence counts as sure). A chain without a finished run, or
    with a step without a usable verdict, is left out and counted."""
    import orjson

    from oversight.models import Critique, OversightRun

    pinned = _release_chains_of(release, split)
    runs = dict(OversightRun.objects.filter(chain_id__in=list(pinned), kind="critique", status="done",
                                            backend__name=backend_name).order_by("chain_id", "id")
                .values_list("chain_id", "id"))  # the latest finished run per chain
    runs = {c: r for c, r in runs.items() if c in pinned}
    revision_of = dict(OversightRun.objects.filter(id__in=list(runs.values())).values_list("id", "revision"))
    verdicts: dict[int, dict[int, tuple[str, float | None]]] = {}
    for run_id, key, verdict, confidence in Critique.objects.filter(run_id__in=list(runs.values())).values_list(
            "run_id", "step_key", "verdict", "confidence"):
        verdicts.setdefault(run_id, {})[key] = (verdict, confidence)
    from .releases_selectors import release_chains

    lines, skipped = [], {"no finished run": len(pinned) - len(runs), "another revision": 0, "unusable verdict": 0}
    wanted = {pk: row for pk, row in pinned.items() if pk in runs}
    for chain in release_chains(project=release.project, pinned=wanted):
        run = runs[chain.pk]
        if revision_of[run] != chain.revision:
            skipped["another revision"] += 1
            continue
        keys = chain_keys(chain)
        scores = []
        for key in keys:
            verdict, confidence = verdicts.get(run, {}).get(key, ("missing", None))
            sure = 1.0 if confidence is None else float(confidence)
            if verdict == "correct":
                scores.append(sure)
            elif verdict == "incorrect":
                scores.append(1 - sure)
            elif verdict == "unsure":
                scores.append(0.5)
            else:
                break
        if len(scores) != len(keys):
            skipped["unusable verdict"] += 1
            continue
        lines.append(orjson.dumps({"id": chain.source_id, "step_scores": scores}))
    return b"\n".join(lines), skipped


def chain_keys(chain) -> list[int]:
    """The step keys of the chain's steps as the release has them (0..n-1 for an unedited chain)."""
    from annotation import steps as step_store

    from .selectors import _revisions

    revisions = _revisions([chain.pk])[chain.pk]
    target = next(r for r in revisions if r.number == chain.revision)
    if target.step_keys is None:
        return list(range(target.step_count))
    return step_store.unpack_keys(target.step_keys, target.step_count)
