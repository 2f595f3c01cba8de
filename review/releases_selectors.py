"""Reads for releases: the chains a release takes, with their label sets and provenance, a batch at a time;
releases and evaluations scoped to the user.

Streams like review/selectors.py (BATCH chains per round of `values_list` queries), and can be pinned:
given a release's selection (chain pk → revision and label set ids) it reads exactly those revisions
and label sets, whatever was labelled or edited since, which is how a release is re-made from its
manifest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from django.conf import settings
from django.db.models import QuerySet

from annotation.exceptions import NotFound
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Chain,
    ImportedLabelSet,
    Project,
    StepLabel,
)
from annotation.selectors import MANAGE_ROLES, project_get_for_user

from .exporters import LabelSet
from .releases_models import DatasetRelease, JudgeEvaluation
from .selectors import _align, _current_steps, _id_range, _keys_of, _revisions, iso_column

# Chains per round of queries. Measured at 10,000 chains × 3 label sets (prm800k + trl-stepwise): 1,000 peaked
# at 158.6 MB, 500 at 137.2 MB (the 150 MB target), at the same speed.
BATCH = 500


@dataclass
class ChainRow:
    pk: int
    source_id: str
    source_model: str
    problem: str
    reference_answer: str
    statement_hash: str
    problem_source: str
    metadata: dict
    revision: int
    is_gold: bool
    is_screening: bool
    planted: bool
    steps: object  # StepsJson or list[str]
    # (kind "reference"|"annotator", id, LabelSet, provenance dict)
    label_sets: list[tuple[str, int, LabelSet, dict]]


def pseudonym(project_id: int, username: str) -> str:
    """A stable pseudonym of an annotator in a project: an HMAC with the site's secret, so it cannot be
    reversed by trying usernames."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{project_id}:{username}".encode(), hashlib.sha256)
    return "a-" + digest.hexdigest()[:10]


def _imported(chain_ids: list[int], meta: dict, ids: set[int] | None) -> dict[int, list]:
    # The batch's id range, not `IN (500 ids)` (review/selectors._id_range); rows of other chains in the
    # range, and label sets a pinned selection did not use, are skipped here.
    rows = ImportedLabelSet.objects.filter(_id_range("chain_id", chain_ids))
    if ids is None:
        rows = rows.filter(replaced_at__isnull=True)
    rows, created_at, as_text = iso_column(rows, "created_at")
    found: dict[int, list] = {}
    for (pk, chain_id, source, revision, ratings, reason, created, human_json, flags, candidates_json,
         meta_json) in rows.order_by("chain_id", "id").values_list(
            "id", "chain_id", "source", "revision", "ratings", "finish_reason", created_at, "human_steps",
            "flagged", "candidates", "source_meta"):
        if chain_id not in meta or (ids is not None and pk not in ids):
            continue
        keys, position, size, revisions = meta[chain_id]
        aligned = revision == 1 and keys == list(range(size))
        old_keys = keys if aligned else _keys_of(revisions, revision)
        ratings = orjson.loads(ratings)
        flagged = orjson.loads(flags) if flags else [None] * len(ratings)
        human_at = orjson.loads(human_json) if human_json else []
        candidates: dict[int, list[tuple]] = {}
        for step, pos, cand_source, text, rating, flag, chosen in (orjson.loads(candidates_json) if candidates_json
                                                                   else []):
            candidates.setdefault(step, []).append((cand_source, pos, text, rating, flag, chosen))
        source_meta = orjson.loads(meta_json) if meta_json else {}
        human = frozenset(human_at)
        if not aligned:
            ratings = _align(ratings, old_keys, position, size, None)
            flagged = _align(flagged, old_keys, position, size, None)
            candidates = {position[old_keys[i]]: c for i, c in candidates.items()
                          if i < len(old_keys) and old_keys[i] in position}
            human = frozenset(position[old_keys[i]] for i in human_at
                              if i < len(old_keys) and old_keys[i] in position)
        seconds = (source_meta.get("total_time") or 0) // 1000
        label_set = LabelSet(labeler=source.removeprefix("prm800k:"), finish_reason=reason, ratings=ratings,
                             flagged=flagged, corrections=[""] * size, active_seconds=seconds,
                             submitted_at=created if as_text else created.isoformat(), source_meta=source_meta, candidates=candidates,
                             human_steps=human, reference=True)
        provenance = {"labeler": source, "kind": "reference", "arm": None, "assistance_shown": None,
                      "active_seconds": seconds or None}
        found.setdefault(chain_id, []).append(("reference", pk, label_set, provenance))
    return found


def _annotated(project_id: int, chain_ids: list[int], meta: dict, ids: set[int] | None) -> dict[int, list]:
    rows = Assignment.objects.filter(_id_range("chain_id", chain_ids))
    if ids is None:
        rows = rows.filter(status=AssignmentStatus.SUBMITTED)
    rows, submitted_at, as_text = iso_column(rows, "submitted_at")
    assignments = [row for row in rows.order_by("chain_id", "id").values_list(
        "id", "chain_id", "annotator__username", "active_seconds", submitted_at, "revision")
        if row[1] in meta and (ids is None or row[0] in ids)]
    if not assignments:
        return {}
    reasons = dict(Annotation.objects.filter(assignment_id__in=[a[0] for a in assignments])
                   .values_list("assignment_id", "finish_reason"))
    sets: dict[int, LabelSet] = {}
    owner: dict[int, int] = {}
    found: dict[int, list] = {}
    for aid, chain_id, username, seconds, submitted, revision in assignments:
        if aid not in reasons:
            continue
        size = meta[chain_id][2]
        label_set = LabelSet(labeler=pseudonym(project_id, username), finish_reason=reasons[aid],
                             ratings=[None] * size, flagged=[None] * size, corrections=[""] * size,
                             active_seconds=seconds,
                             submitted_at=(submitted or "") if as_text else (submitted.isoformat() if submitted else ""))
        sets[aid], owner[aid] = label_set, chain_id
        # The oversight app's experiment arm, when the assignment was drawn into one (else null).
        provenance = {"labeler": label_set.labeler, "kind": "annotator", "arm": None, "assistance_shown": None,
                      "active_seconds": seconds, "revision_seen": revision}
        found.setdefault(chain_id, []).append(("annotator", aid, label_set, provenance))
    from oversight.models import AssignmentArm  # review reads oversight (annotation <- oversight <- review)

    for aid, arm in AssignmentArm.objects.filter(assignment_id__in=list(sets)).values_list("assignment_id", "arm"):
        provenance = next(p for kind, pk, _s, p in found[owner[aid]] if pk == aid)
        provenance["arm"], provenance["assistance_shown"] = arm, arm == "assisted"
    labels = StepLabel.objects.filter(assignment_id__in=list(sets)).values_list(
        "assignment_id", "step_key", "rating", "flagged", "correction")
    for aid, key, rating, flagged, correction in labels.iterator(chunk_size=20000):
        index = meta[owner[aid]][1].get(key)
        if index is not None:
            label_set = sets[aid]
            label_set.ratings[index], label_set.flagged[index], label_set.corrections[index] = rating, flagged, correction
    return found


def _adjudicated(chain_ids: list[int], meta: dict) -> dict[int, list]:
    """Reviewers' final labels (review/quality) as one label set per chain, on the steps they cover."""
    from .quality_selectors import final_labels_of  # here: it loads numpy, which a plain export never needs

    found: dict[int, list] = {}
    for chain_id, finals in final_labels_of(chain_ids=chain_ids).items():
        _keys, position, size, _revisions = meta[chain_id]
        ratings: list[int | None] = [None] * size
        for key, final in finals.items():
            if key in position:  # a final label on a step an edit replaced judged another text
                ratings[position[key]] = final["rating"]
        if not any(r is not None for r in ratings):
            continue
        reviewers = sorted({f["set_by"] for f in finals.values()})
        label_set = LabelSet(labeler="adjudication", finish_reason="found_error" if -1 in ratings else "solution",
                             ratings=ratings, flagged=[None] * size, corrections=[""] * size, active_seconds=0,
                             submitted_at=max(f["set_at"] for f in finals.values()))
        provenance = {"labeler": "adjudication", "kind": "adjudicated", "arm": None, "assistance_shown": None,
                      "active_seconds": None, "reviewers": len(reviewers)}
        found[chain_id] = [("adjudicated", chain_id, label_set, provenance)]
    return found


_CHAIN_FIELDS = ("id", "source_id", "source_model", "problem__statement", "problem__reference_answer",
                 "problem__statement_hash", "problem__source", "metadata", "revision", "is_gold", "is_screening",
                 "planted")


def release_chains(*, project: Project, include_gold: bool = True, include_screening: bool = True,
                   include_planted: bool = True, pinned: dict[int, dict] | None = None,
                   every_annotator: bool = False, adjudicated: bool = False, after: int = 0,
                   upto: int | None = None, batch: int = BATCH) -> Iterator[ChainRow]:
    """The project's chains in id order with every label set, a batch at a time; with `after` / `upto`, those
    whose id is in (after, upto] (a part of a release, review/export_parts.py).

    `pinned` (chain pk → {"revision", "reference", "annotator"}) reads only those chains, at those
    revisions, with those label sets (and, with `every_annotator`, every annotator's submitted labels
    as they are now, for comparisons such as the human ceiling of a judge evaluation). Reviewers' final
    labels are read only when asked (`adjudicated`).
    """
    base = Chain.objects.filter(project=project)
    if not include_gold:
        base = base.filter(is_gold=False)
    if not include_screening:
        base = base.filter(is_screening=False)
    if not include_planted:
        base = base.filter(planted__isnull=True)
    if upto is not None:
        base = base.filter(id__lte=upto)
    pinned_ids = ([pk for pk in sorted(pinned) if after < pk and (upto is None or pk <= upto)]
                  if pinned is not None else None)
    last_id, offset = after, 0
    while True:
        if pinned_ids is not None:
            wanted = pinned_ids[offset:offset + batch]
            offset += batch
            if not wanted:
                return
            chains = list(Chain.objects.filter(project=project, id__in=wanted).order_by("id")
                          .values_list(*_CHAIN_FIELDS))
            if len(chains) != len(wanted):
                missing = sorted(set(wanted) - {c[0] for c in chains})[:5]
                raise NotFound(f"chains {missing} of the release's selection no longer exist; it cannot be re-made.")
        else:
            chains = list(base.filter(id__gt=last_id).order_by("id").values_list(*_CHAIN_FIELDS)[:batch])
            if not chains:
                return
            last_id = chains[-1][0]
        ids = [c[0] for c in chains]
        revisions = _revisions(ids)
        meta, steps_of = {}, {}
        for row in chains:
            number = pinned[row[0]]["revision"] if pinned is not None else row[8]
            keys, texts = _current_steps(revisions[row[0]], number)
            meta[row[0]] = (keys, dict(zip(keys, range(len(keys)), strict=True)), len(keys), revisions[row[0]])
            steps_of[row[0]] = (number, texts)
        # This batch's pinned label sets only (all of the release's would make every query's IN list huge).
        ref_ids = {i for pk in ids for i in pinned[pk]["reference"]} if pinned is not None else None
        ann_ids = ({i for pk in ids for i in pinned[pk]["annotator"]} if pinned is not None and not every_annotator
                   else None)
        imported = _imported(ids, meta, ref_ids)
        annotated = _annotated(project.pk, ids, meta, ann_ids)
        finals = _adjudicated(ids, meta) if adjudicated else {}
        for (pk, source_id, model, statement, answer, statement_hash, problem_source, metadata, _rev, gold,
             screening, planted) in chains:
            number, texts = steps_of[pk]
            yield ChainRow(pk=pk, source_id=source_id, source_model=model, problem=statement, reference_answer=answer,
                           statement_hash=statement_hash, problem_source=problem_source, metadata=metadata or {},
                           revision=number, is_gold=gold, is_screening=screening, planted=planted is not None,
                           steps=texts, label_sets=imported.get(pk, []) + annotated.get(pk, []) + finals.get(pk, []))


def release_chain_total(*, project: Project) -> int:
    return Chain.objects.filter(project=project).count()


# --- releases and evaluations, scoped to the user --------------------------------------------------------

def release_list_for_user(*, project_slug: str, user) -> tuple[Project, QuerySet[DatasetRelease]]:
    project = project_get_for_user(slug=project_slug, user=user, roles=MANAGE_ROLES)
    return project, DatasetRelease.objects.filter(project=project).order_by("-created_at", "-id")


def release_get_for_user(*, release_id: int, user) -> DatasetRelease:
    release = DatasetRelease.objects.select_related("project").filter(pk=release_id).first()
    if release is None:
        raise NotFound(f"No release {release_id}.")
    try:
        project_get_for_user(slug=release.project.slug, user=user, roles=MANAGE_ROLES)
    except NotFound:
        raise NotFound(f"No release {release_id} in a project where you are a researcher or admin.") from None
    return release


def evaluation_get_for_user(*, evaluation_id: int, user) -> JudgeEvaluation:
    evaluation = JudgeEvaluation.objects.select_related("release__project").filter(pk=evaluation_id).first()
    if evaluation is None:
        raise NotFound(f"No evaluation {evaluation_id}.")
    release_get_for_user(release_id=evaluation.release_id, user=user)
    return evaluation
