"""Reads for export: stream a project's chains with their submitted labels, in chain order.

Memory stays flat however large the project. On PostgreSQL one query streams the whole project over
the binary protocol: each chain is one row, its steps and label sets aggregated into arrays, so the
server builds the next rows on its own core while Python writes the last ones (a 50,000-chain,
2-million-step project went from 45 s to a few seconds; docs/benchmarks.md). Elsewhere (the embedded
SQLite default) chains are read a batch at a time with a few plain `values_list` queries. Both paths
give the same records, and the same bytes out.

While a PostgreSQL export is being iterated its connection is busy streaming: use the database only
after the iterator is exhausted or closed.
"""

import json
from collections.abc import Callable, Iterator, Sequence

from django.db import connection

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

from .exporters import (
    ChainRecord,
    JoinedSteps,
    LabelSet,
    dumps_row,
    prm800k_rows,
    processbench_row,
    trl_stepwise_row,
)

BATCH = 1000  # chains per batch on the generic path
STREAM_CHUNK = 200  # rows per network read of the PostgreSQL stream (libpq 17+; one at a time before)


# --- generic path (SQLite) -------------------------------------------------------------------------

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
        rows = Candidate.objects.filter(assignment_id__in=ids).order_by("id").values_list(
            "assignment_id", "step_index", "source", "position", "text", "rating", "flagged", "chosen")
        for aid, index, *rest in rows.iterator(chunk_size=20000):
            if aid in sets:
                sets[aid].candidates.setdefault(index, []).append(tuple(rest))
    return by_chain


def _chain_records_batched(project: Project, with_candidates: bool) -> Iterator[ChainRecord]:
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


# --- PostgreSQL: one streamed query ----------------------------------------------------------------

def _stream_sql(*, joined_steps: bool, details: bool, with_candidates: bool) -> str:
    """One row per chain of a project, in id order, with its version-1 steps and submitted label sets.

    `joined_steps` sends each chain's steps as one bytea (UTF-8 texts joined by 0xFF, see JoinedSteps)
    instead of a text array. Without `details` the label sets come with their ratings only, what
    processbench and trl-stepwise read; prm800k rows need the rest. Each aggregate sorts by its own
    ORDER BY: an ordered subquery only "usually" keeps its order.

    A label's step index is looked up among the chain's own step ids (array_position over a few
    dozen), so 1.4 million labels cost no index probes; only a step of another version (none today)
    falls back to reading its row.
    """
    q = connection.ops.quote_name
    chain, step, assignment, annotation, step_label, candidate = (
        q(model._meta.db_table) for model in (Chain, Step, Assignment, Annotation, StepLabel, Candidate))
    problem = q(Chain._meta.get_field("problem").related_model._meta.db_table)
    user_model = Assignment._meta.get_field("annotator").related_model
    user, username = q(user_model._meta.db_table), q(user_model._meta.get_field("username").column)
    if joined_steps:
        # textsend gives the client encoding's bytes: UTF-8 on Django's connections (checked by the caller).
        steps = "count(*) AS size, string_agg(textsend(s.text), '\\xff'::bytea ORDER BY s.index) AS texts"
    else:
        steps = "count(*) AS size, array_agg(s.text ORDER BY s.index) AS texts"
    if details:
        label_details = "array_agg(l.flagged) AS flagged, array_agg(l.correction) AS corrections"
        assignment_details = f"""array_agg(a.external_source ORDER BY a.id) AS externals,
                   array_agg(u.{username} ORDER BY a.id) AS usernames,
                   array_agg(a.active_seconds ORDER BY a.id) AS seconds,
                   array_agg(a.submitted_at ORDER BY a.id) AS submitted,
                   array_agg(an.finish_reason ORDER BY a.id) AS reasons,
                   array_agg(an.source_meta::text ORDER BY a.id) AS metas"""
        user_join = f"LEFT JOIN {user} u ON u.id = a.annotator_id"
    else:
        label_details = "NULL::boolean[] AS flagged, NULL::text[] AS corrections"
        user_join = ""
        assignment_details = ("NULL::text[] AS externals, NULL::text[] AS usernames, NULL::int[] AS seconds, "
                              "NULL::timestamptz[] AS submitted, NULL::text[] AS reasons, NULL::text[] AS metas")
    candidates_select = candidates_join = ""
    if with_candidates:
        candidates_select = ", k.aids, k.step_indexes, k.sources, k.positions, k.texts, k.ratings, k.flagged, k.chosen"
        candidates_join = f"""
        CROSS JOIN LATERAL (
            SELECT array_agg(k.assignment_id ORDER BY k.id) AS aids, array_agg(k.step_index ORDER BY k.id) AS step_indexes,
                   array_agg(k.source ORDER BY k.id) AS sources, array_agg(k.position ORDER BY k.id) AS positions,
                   array_agg(k.text ORDER BY k.id) AS texts, array_agg(k.rating ORDER BY k.id) AS ratings,
                   array_agg(k.flagged ORDER BY k.id) AS flagged, array_agg(k.chosen ORDER BY k.id) AS chosen
            FROM {candidate} k WHERE k.assignment_id = ANY(a.ids)
        ) k"""  # noqa: S608 (table names from the models)
    return f"""
        SELECT c.source_id, c.source_model, p.statement, p.reference_answer, c.metadata::text, st.size, st.texts,
               a.ids, a.externals, a.usernames, a.seconds, a.submitted, a.reasons, a.metas,
               l.aids, l.indexes, l.ratings, l.flagged, l.corrections{candidates_select}
        FROM {chain} c
        JOIN {problem} p ON p.id = c.problem_id
        CROSS JOIN LATERAL (
            SELECT array_agg(s.id ORDER BY s.index) AS ids, array_agg(s.index ORDER BY s.index) AS indexes, {steps}
            FROM {step} s WHERE s.chain_id = c.id AND s.version = 1
        ) st
        CROSS JOIN LATERAL (
            SELECT array_agg(a.id ORDER BY a.id) AS ids, {assignment_details}
            FROM {assignment} a
            JOIN {annotation} an ON an.assignment_id = a.id
            {user_join}
            WHERE a.chain_id = c.id AND a.status = %(submitted)s
        ) a
        CROSS JOIN LATERAL (
            SELECT array_agg(l.assignment_id) AS aids,
                   array_agg(COALESCE(st.indexes[array_position(st.ids, l.step_id)],
                                      (SELECT s2.index FROM {step} s2 WHERE s2.id = l.step_id))) AS indexes,
                   array_agg(l.rating) AS ratings, {label_details}
            FROM {step_label} l WHERE l.assignment_id = ANY(a.ids)
        ) l{candidates_join}
        WHERE c.project_id = %(project)s
        ORDER BY c.id
    """  # noqa: S608 (table and column names from the models; values are bound parameters)


def _record_from_row(row: tuple, joined_steps: bool, details: bool, with_candidates: bool) -> ChainRecord:
    (source_id, model, statement, answer, metadata, size, texts, a_ids, externals, usernames, seconds, submitted,
     reasons, metas, l_aids, l_indexes, l_ratings, l_flagged, l_corrections) = row[:19]
    steps: Sequence[str] = JoinedSteps(texts or b"", size) if joined_steps else (texts or [])
    label_sets: list[LabelSet] = []
    by_id: dict[int, LabelSet] = {}
    for i, aid in enumerate(a_ids or ()):
        if details:
            external, at, meta = externals[i], submitted[i], metas[i]
            label_set = LabelSet(labeler=external.removeprefix("prm800k:") if external else usernames[i],
                                 finish_reason=reasons[i], ratings=[None] * size, flagged=[None] * size,
                                 corrections=[""] * size, active_seconds=seconds[i],
                                 submitted_at=at.isoformat() if at else "",
                                 source_meta=(json.loads(meta) if meta else None) or {})
        else:
            label_set = LabelSet(labeler="", finish_reason="", ratings=[None] * size, flagged=[], corrections=[],
                                 active_seconds=0, submitted_at="")
        label_sets.append(label_set)
        by_id[aid] = label_set
    if l_aids:
        k = len(l_aids)
        if len(label_sets) == 1 and k <= size and l_indexes == list(range(k)):
            # The usual shape (one label set, steps 0..k-1 labelled, in order): whole lists at once.
            only = label_sets[0]
            only.ratings[:k] = l_ratings
            if l_flagged is not None:
                only.flagged[:k], only.corrections[:k] = l_flagged, l_corrections
        else:
            for i, (aid, index) in enumerate(zip(l_aids, l_indexes, strict=True)):
                label_set = by_id.get(aid)
                if label_set is not None and index < size:
                    label_set.ratings[index] = l_ratings[i]
                    if l_flagged is not None:
                        label_set.flagged[index] = l_flagged[i]
                        label_set.corrections[index] = l_corrections[i]
    if with_candidates and row[19]:
        for aid, index, *rest in zip(*row[19:], strict=True):
            if aid in by_id:
                by_id[aid].candidates.setdefault(index, []).append(tuple(rest))
    return ChainRecord(source_id=source_id, source_model=model, problem=statement, reference_answer=answer,
                       steps=steps, metadata=json.loads(metadata) if metadata else {}, label_sets=label_sets)


def _chain_records_streamed(project: Project, *, joined_steps: bool, details: bool,
                            with_candidates: bool) -> Iterator[ChainRecord]:
    import psycopg  # only on this path: the embedded default runs without it

    connection.ensure_connection()
    raw = connection.connection
    joined_steps = joined_steps and raw.info.encoding == "utf-8"
    sql = _stream_sql(joined_steps=joined_steps, details=details, with_candidates=with_candidates)
    size = STREAM_CHUNK if psycopg.pq.version() >= 170000 else 1
    # A plain psycopg cursor: Django's client-side-binding cursor cannot read binary results.
    with psycopg.Cursor(raw) as cursor:
        for row in cursor.stream(sql, {"project": project.pk, "submitted": AssignmentStatus.SUBMITTED.value},
                                 binary=True, size=size):
            yield _record_from_row(row, joined_steps, details, with_candidates)


# --- public -----------------------------------------------------------------------------------------

def chain_records(*, project: Project, with_candidates: bool = False) -> Iterator[ChainRecord]:
    if connection.vendor == "postgresql":
        return _chain_records_streamed(project, joined_steps=False, details=True, with_candidates=with_candidates)
    return _chain_records_batched(project, with_candidates)


_BUILDERS: dict[str, Callable[[ChainRecord], dict | None]] = {
    "processbench": processbench_row,
    "trl-stepwise": trl_stepwise_row,
}


def export_rows(*, project: Project, fmt: str) -> Iterator[dict]:
    """Rows of `fmt` for every labelled chain of the project, in chain order."""
    if fmt == "prm800k":
        for record in chain_records(project=project, with_candidates=True):
            yield from prm800k_rows(record)
        return
    build = _BUILDERS[fmt]
    for record in chain_records(project=project):
        row = build(record)
        if row is not None:
            yield row


def _row_lines(project: Project, fmt: str) -> Iterator[str]:
    dumps = json.JSONEncoder(ensure_ascii=False).encode
    if fmt == "prm800k" or connection.vendor != "postgresql":
        for row in export_rows(project=project, fmt=fmt):
            yield dumps(row)
        return
    # processbench and trl-stepwise read only the steps and the ratings: their records come with the
    # steps as joined bytes (JSON-encoded all at once by dumps_row) and without the label details.
    build = _BUILDERS[fmt]
    for record in _chain_records_streamed(project, joined_steps=True, details=False, with_candidates=False):
        row = build(record)
        if row is not None:
            yield dumps_row(row, dumps)


def export_lines(*, project: Project, fmt: str) -> Iterator[str]:
    """The export file as text chunks: a JSON array for processbench (as its files are), JSON Lines otherwise."""
    if fmt == "processbench":
        first = True
        for line in _row_lines(project, fmt):
            yield ("[\n" if first else ",\n") + line
            first = False
        yield "[]\n" if first else "\n]\n"
        return
    for line in _row_lines(project, fmt):
        yield line + "\n"
