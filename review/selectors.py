"""Reads for export: stream a project's chains with their submitted labels, a batch of chains at a time.

Memory stays flat however large the project: each batch is fetched with a few plain `values_list`
queries (no model instances) and dropped before the next.
"""

import json
from collections.abc import Iterator

from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Candidate,
    Chain,
    Project,
    Step,
    StepLabel,
)

from .exporters import ChainRecord, LabelSet, prm800k_rows, processbench_row, trl_stepwise_row

BATCH = 1000


def _label_sets(chain_ids: list[int], step_counts: dict[int, int], with_candidates: bool) -> dict[int, list[LabelSet]]:
    assignments = list(
        Assignment.objects.filter(chain_id__in=chain_ids, status=AssignmentStatus.SUBMITTED)
        .order_by("chain_id", "id")
        .values_list("id", "chain_id", "external_source", "annotator__username", "active_seconds", "submitted_at")
    )
    if not assignments:
        return {}
    ids = [a[0] for a in assignments]
    outcomes = {aid: (reason, meta) for aid, reason, meta in
                Annotation.objects.filter(assignment_id__in=ids).values_list("assignment_id", "finish_reason", "source_meta")}
    sets: dict[int, LabelSet] = {}
    by_chain: dict[int, list[LabelSet]] = {}
    for aid, cid, external, username, seconds, submitted in assignments:
        if aid not in outcomes:
            continue
        n = step_counts[cid]
        reason, meta = outcomes[aid]
        label_set = LabelSet(labeler=external.removeprefix("prm800k:") if external else username,
                             finish_reason=reason, ratings=[None] * n, flagged=[None] * n, corrections=[""] * n,
                             active_seconds=seconds, submitted_at=submitted.isoformat() if submitted else "",
                             source_meta=meta or {})
        sets[aid] = label_set
        by_chain.setdefault(cid, []).append(label_set)
    labels = StepLabel.objects.filter(assignment_id__in=ids).values_list(
        "assignment_id", "step__index", "rating", "flagged", "correction")
    for aid, index, rating, flagged, correction in labels.iterator(chunk_size=20000):
        label_set = sets.get(aid)
        if label_set is not None and index < len(label_set.ratings):
            label_set.ratings[index] = rating
            label_set.flagged[index] = flagged
            label_set.corrections[index] = correction
    if with_candidates:
        rows = Candidate.objects.filter(assignment_id__in=ids).values_list(
            "assignment_id", "step_index", "source", "position", "text", "rating", "flagged", "chosen")
        for aid, index, *rest in rows.iterator(chunk_size=20000):
            if aid in sets:
                sets[aid].candidates.setdefault(index, []).append(tuple(rest))
    return by_chain


def chain_records(*, project: Project, with_candidates: bool = False) -> Iterator[ChainRecord]:
    last_id = 0
    while True:
        chains = list(
            Chain.objects.filter(project=project, id__gt=last_id).order_by("id")
            .values_list("id", "source_id", "source_model", "problem__statement", "problem__reference_answer",
                         "metadata", "step_count")[:BATCH]
        )
        if not chains:
            return
        last_id = chains[-1][0]
        ids = [c[0] for c in chains]
        steps: dict[int, list[str]] = {cid: [] for cid in ids}
        rows = Step.objects.filter(chain_id__in=ids, version=1).order_by("chain_id", "index").values_list("chain_id", "text")
        for cid, text in rows.iterator(chunk_size=20000):
            steps[cid].append(text)
        label_sets = _label_sets(ids, {cid: len(texts) for cid, texts in steps.items()}, with_candidates)
        for cid, source_id, model, statement, answer, metadata, _count in chains:
            yield ChainRecord(source_id=source_id, source_model=model, problem=statement, reference_answer=answer,
                              steps=steps[cid], metadata=metadata or {}, label_sets=label_sets.get(cid, []))


def export_rows(*, project: Project, fmt: str) -> Iterator[dict]:
    """Rows of `fmt` for every labelled chain of the project, in chain order."""
    if fmt == "prm800k":
        for record in chain_records(project=project, with_candidates=True):
            yield from prm800k_rows(record)
        return
    build = {"processbench": processbench_row, "trl-stepwise": trl_stepwise_row}[fmt]
    for record in chain_records(project=project):
        row = build(record)
        if row is not None:
            yield row


def export_lines(*, project: Project, fmt: str) -> Iterator[str]:
    """The export file as text chunks: a JSON array for processbench (as its files are), JSON Lines otherwise."""
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    if fmt == "processbench":
        first = True
        for row in export_rows(project=project, fmt=fmt):
            yield ("[\n" if first else ",\n") + dumps(row)
            first = False
        yield "[]\n" if first else "\n]\n"
        return
    for row in export_rows(project=project, fmt=fmt):
        yield dumps(row) + "\n"
