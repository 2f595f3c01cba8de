"""Reads for export: a project's chains with their label sets, in chain order, a batch at a time.

Memory stays flat however large the project: BATCH chains at a time, each batch a handful of
`values_list` queries (chains, revisions, imported label sets, submitted assignments and their
labels), the same on PostgreSQL and SQLite. Step texts come as the stored JSON of each revision
(annotation/steps.py): an unedited chain's steps are written to the file as they are stored.

Label sets are aligned with each chain's current revision: labels given on a step that an edit
replaced judged another text and are left out; the steps an edit introduced carry the labels given
on them.
"""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import orjson
from django.db import connection
from django.db.models import CharField, Func, Q, QuerySet

from annotation import steps as step_store
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Chain,
    ChainRevision,
    ImportedLabelSet,
    Project,
    StepLabel,
)

from .exporters import (
    ChainRecord,
    LabelSet,
    StepsJson,
    dumps_row,
    prm800k_lines,
    prm800k_rows,
    processbench_row,
    trl_stepwise_row,
)
from .quality_models import ItemStatus

BATCH = 1000  # chains per batch


def _adjudicated_ratings(*, chain_ids):
    # Imported here: quality_selectors brings numpy, which an export (and every process that can run
    # one: Celery discovers the release tasks) otherwise never loads.
    from .quality_selectors import adjudicated_ratings

    return adjudicated_ratings(chain_ids=chain_ids)


def _consensus_labels(*, project: Project) -> dict[int, dict[int, int]]:
    """The project's consensus rule when it is not majority (Dawid–Skene), by chain and step key; {} under
    majority, which the row builders apply themselves (and then numpy is not loaded, as above)."""
    from .quality_models import ConsensusMethod, ReviewPolicy

    rule = ReviewPolicy.objects.filter(project=project).values_list("consensus", flat=True).first()
    if rule != ConsensusMethod.DAWID_SKENE:
        return {}
    from .quality_selectors import project_consensus_labels

    return project_consensus_labels(project=project)


def _revisions(chain_ids: list[int]) -> dict[int, list[step_store.StoredRevision]]:
    found: dict[int, list[step_store.StoredRevision]] = {}
    wanted = set(chain_ids)
    rows = (ChainRevision.objects.filter(_id_range("chain_id", chain_ids)).order_by("chain_id", "number")
            .values_list("chain_id", "number", "step_keys", "step_count", "first_new_key", "new_count", "texts"))
    for chain_id, *rest in rows:
        if chain_id in wanted:
            found.setdefault(chain_id, []).append(step_store.StoredRevision(*rest))
    return found


def _id_range(field: str, ids: list[int]) -> Q:
    """`field` between the first and last of `ids` (sorted): the rows of a batch of chains taken in id order.

    Two comparisons instead of `IN (1,000 parameters)`: Django prepares and psycopg's client-side cursor
    splits and quotes every parameter, which cost more than the query (a third of a 50,000-chain export).
    The range may also hold other projects' chains (imports running side by side interleave ids): callers
    keep only rows of `ids`.
    """
    return Q(**{f"{field}__gte": ids[0], f"{field}__lte": ids[-1]})


class IsoUtc(Func):
    """A timestamp as text, exactly as Python's `datetime.isoformat()` writes it in UTC (microseconds only when
    not zero), made by PostgreSQL: parsing a datetime per row and formatting it again was a fifth of the CPU of
    reading a release's label sets. PostgreSQL only (`iso_column`)."""

    output_field = CharField()
    template = ("(to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN "
                "mod(extract(microseconds FROM %(expressions)s)::bigint, 1000000) = 0 THEN '' ELSE "
                "to_char(%(expressions)s AT TIME ZONE 'UTC', '.US') END || '+00:00')")


def iso_column(rows: QuerySet, field: str) -> tuple[QuerySet, str, bool]:
    """(rows, the column to read, whether it comes as text already) for `field`'s isoformat text: on
    PostgreSQL as text (IsoUtc), elsewhere the datetime for the caller to format."""
    if connection.vendor != "postgresql":
        return rows, field, False
    return rows.annotate(**{f"{field}_iso": IsoUtc(field)}), f"{field}_iso", True


def _current_steps(revisions: list[step_store.StoredRevision], number: int) -> tuple[list[int], StepsJson | list[str]]:
    # An unedited chain has one revision: no generator for it (one per chain was 0.6 s of a 50,000-chain profile).
    target = revisions[0] if revisions[0].number == number else next(r for r in revisions if r.number == number)
    if target.step_keys is None and number == 1:
        # Unedited: its block is its steps, as JSON.
        return list(range(target.step_count)), StepsJson(step_store.unpack_json(target.texts or b""), target.step_count)
    steps = step_store.assemble(revisions, number)
    return steps.keys, steps.texts


def _keys_of(revisions: list[step_store.StoredRevision], number: int) -> list[int]:
    target = next((r for r in revisions if r.number == number), None)
    return step_store.unpack_keys(target.step_keys, target.step_count) if target else []


def _align(values: list, keys: list[int], position: dict[int, int], size: int, empty) -> list:
    """`values` given per step of a revision with `keys`, moved to the positions of the current steps."""
    out = [empty] * size
    for key, value in zip(keys, values, strict=False):
        index = position.get(key)
        if index is not None:
            out[index] = value
    return out


def _imported_sets(chain_ids: list[int], meta: dict[int, tuple], with_details: bool) -> dict[int, list[LabelSet]]:
    by_chain: dict[int, list[LabelSet]] = {}
    fields = ["chain_id", "source", "revision", "ratings", "finish_reason", "created_at", "human_steps"]
    if with_details:
        fields += ["flagged", "candidates", "source_meta"]
    rows, fields[5], as_text = iso_column(
        ImportedLabelSet.objects.filter(_id_range("chain_id", chain_ids), replaced_at__isnull=True), "created_at")
    rows = rows.order_by("chain_id", "id").values_list(*fields)
    for row in rows:
        chain_id, source, revision, ratings, reason, created, human_json = row[:7]
        if chain_id not in meta:
            continue  # another project's chain inside the id range
        keys, position, size, revisions = meta[chain_id]
        aligned = revision == 1 and len(keys) == size and keys == list(range(size))
        old_keys = keys if aligned else _keys_of(revisions, revision)
        ratings = orjson.loads(ratings)
        flagged: list = [None] * size
        human_at = orjson.loads(human_json) if human_json else []
        human = frozenset(human_at)
        candidates: dict[int, list[tuple]] = {}
        source_meta: dict = {}
        if not aligned and human_at:
            moved = {position.get(old_keys[i]) for i in human_at if i < len(old_keys)}
            human = frozenset(i for i in moved if i is not None)
        if with_details:
            flags, candidates_json, meta_json = row[7:]
            flagged = orjson.loads(flags) if flags else [None] * len(ratings)
            for step_index, position_, cand_source, text, rating, flag, chosen in (
                    orjson.loads(candidates_json) if candidates_json else []):
                candidates.setdefault(step_index, []).append((cand_source, position_, text, rating, flag, chosen))
            source_meta = orjson.loads(meta_json) if meta_json else {}
            if not aligned:
                flagged = _align(flagged, old_keys, position, size, None)
                candidates = {position[old_keys[i]]: c for i, c in candidates.items()
                              if i < len(old_keys) and old_keys[i] in position}
        if not aligned:
            ratings = _align(ratings, old_keys, position, size, None)
        labeler = source.removeprefix("prm800k:")
        by_chain.setdefault(chain_id, []).append(LabelSet(
            labeler=labeler, finish_reason=reason, ratings=ratings, flagged=flagged, corrections=[""] * size,
            active_seconds=(source_meta.get("total_time") or 0) // 1000,
            submitted_at=created if as_text else created.isoformat(),
            source_meta=source_meta, candidates=candidates, human_steps=human, reference=True))
    return by_chain


def _annotator_sets(chain_ids: list[int], meta: dict[int, tuple]) -> dict[int, list[LabelSet]]:
    rows, submitted_at, as_text = iso_column(
        Assignment.objects.filter(_id_range("chain_id", chain_ids), status=AssignmentStatus.SUBMITTED), "submitted_at")
    assignments = [row for row in rows.order_by("chain_id", "id")
                   .values_list("id", "chain_id", "annotator__username", "active_seconds", submitted_at)
                   if row[1] in meta]
    if not assignments:
        return {}
    ids = [a[0] for a in assignments]
    reasons = dict(Annotation.objects.filter(assignment_id__in=ids).values_list("assignment_id", "finish_reason"))
    sets: dict[int, LabelSet] = {}
    owner: dict[int, int] = {}
    by_chain: dict[int, list[LabelSet]] = {}
    for aid, chain_id, username, seconds, submitted in assignments:
        if aid not in reasons:
            continue
        size = meta[chain_id][2]
        label_set = LabelSet(labeler=username, finish_reason=reasons[aid], ratings=[None] * size,
                             flagged=[None] * size, corrections=[""] * size, active_seconds=seconds,
                             submitted_at=(submitted or "") if as_text else (submitted.isoformat() if submitted else ""))
        sets[aid] = label_set
        owner[aid] = chain_id
        by_chain.setdefault(chain_id, []).append(label_set)
    labels = StepLabel.objects.filter(assignment_id__in=list(sets)).values_list(
        "assignment_id", "step_key", "rating", "flagged", "correction")
    for aid, key, rating, flagged, correction in labels.iterator(chunk_size=20000):
        index = meta[owner[aid]][1].get(key)
        if index is not None:  # a label on a step an edit replaced judged another text: not exported
            label_set = sets[aid]
            label_set.ratings[index], label_set.flagged[index], label_set.corrections[index] = rating, flagged, correction
    return by_chain


def chain_records(*, project: Project, with_details: bool = True, only_labelled: bool = True, after: int = 0,
                  upto: int | None = None, batch: int = BATCH) -> Iterator[ChainRecord]:
    """Every chain of the project (with at least one label set, unless `only_labelled` is off), in id order;
    with `after` / `upto`, those whose id is in (after, upto] (a part of an export, review/export_parts.py).

    On PostgreSQL, outside a transaction, the next batch is read on a second connection while this one is
    turned into records: the database's work and Python's overlap, so an export takes about the longer of
    the two instead of their sum (tests/review/test_export_prefetch.py). Inside a transaction the
    batches are read in turn on this connection, which sees what the transaction wrote.
    """
    aggregated = _consensus_labels(project=project)
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        last_id = after
        while (read := _fetch_batch(project.pk, last_id, with_details, batch, upto)) is not None:
            last_id = read.last_id
            yield from _records_of(read, only_labelled, aggregated)
        return
    # Two batches are in memory at once here (the one written, the one read): half the size each, so the
    # peak stays where the plain path's is.
    size = max(batch // 2, 1)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-prefetch") as pool:
        pending = pool.submit(_fetch_batch, project.pk, after, with_details, size, upto)
        try:
            while (read := pending.result()) is not None:
                pending = pool.submit(_fetch_batch, project.pk, read.last_id, with_details, size, upto)
                yield from _records_of(read, only_labelled, aggregated)
        finally:
            pending.cancel()
            pool.submit(_close_connection)  # on the prefetch thread: its own connection


def _close_connection() -> None:
    # A function, so `connection` is looked up on the prefetch thread: `pool.submit(connection.close)` would
    # bind the caller's connection and close that one instead.
    connection.close()


@dataclass
class _Batch:
    last_id: int
    chains: list[tuple]
    meta: dict[int, tuple]
    steps_of: dict[int, StepsJson | list[str]]
    imported: dict[int, list[LabelSet]]
    annotated: dict[int, list[LabelSet]]
    adjudicated: dict[int, dict[int, int]]


def _fetch_batch(project_id: int, last_id: int, with_details: bool, size: int = BATCH,
                 upto: int | None = None) -> _Batch | None:
    # A chain quality control dropped (its annotators still disagreed at the most the policy collects) is left
    # out; a reviewer's decision on it makes it resolved, and it comes back.
    chains = Chain.objects.filter(project_id=project_id, id__gt=last_id)
    if upto is not None:
        chains = chains.filter(id__lte=upto)
    chains = list(chains.exclude(
        review_item__status=ItemStatus.DROPPED).order_by("id").values_list(
        "id", "source_id", "source_model", "problem__statement", "problem__reference_answer", "metadata",
        "revision")[:size])
    if not chains:
        return None
    ids = [c[0] for c in chains]
    revisions = _revisions(ids)
    meta: dict[int, tuple] = {}
    steps_of: dict[int, StepsJson | list[str]] = {}
    for chain_id, *_rest, revision in chains:
        keys, texts = _current_steps(revisions[chain_id], revision)
        meta[chain_id] = (keys, dict(zip(keys, range(len(keys)), strict=True)), len(keys), revisions[chain_id])
        steps_of[chain_id] = texts
    return _Batch(last_id=ids[-1], chains=chains, meta=meta, steps_of=steps_of,
                  imported=_imported_sets(ids, meta, with_details), annotated=_annotator_sets(ids, meta),
                  adjudicated=_adjudicated_ratings(chain_ids=ids))


def _records_of(batch: _Batch, only_labelled: bool, aggregated: dict[int, dict[int, int]]) -> Iterator[ChainRecord]:
    for chain_id, source_id, model, statement, answer, metadata, _revision in batch.chains:
        label_sets = batch.imported.get(chain_id, []) + batch.annotated.get(chain_id, [])
        if only_labelled and not label_sets:
            continue
        position = batch.meta[chain_id][1]
        final = {position[key]: rating for key, rating in batch.adjudicated.get(chain_id, {}).items()
                 if key in position}
        rule = {position[key]: rating for key, rating in aggregated.get(chain_id, {}).items() if key in position}
        yield ChainRecord(source_id=source_id, source_model=model, problem=statement, reference_answer=answer,
                          steps=batch.steps_of[chain_id], metadata=metadata or {}, label_sets=label_sets,
                          adjudicated=final, aggregated=rule)


_BUILDERS = {"processbench": processbench_row, "trl-stepwise": trl_stepwise_row}


def export_rows(*, project: Project, fmt: str) -> Iterator[dict]:
    """Rows of `fmt` for every labelled chain of the project, in chain order (steps decoded)."""
    for line in _rows(project, fmt):
        yield orjson.loads(dumps_row(line))


def _rows(project: Project, fmt: str) -> Iterator[dict]:
    if fmt == "prm800k":
        for record in chain_records(project=project, with_details=True):
            if isinstance(record.steps, StepsJson):
                record.steps = record.steps.texts()
            yield from prm800k_rows(record)
        return
    build = _BUILDERS[fmt]
    for record in chain_records(project=project, with_details=False):
        row = build(record)
        if row is not None:
            yield row


def row_lines(*, project: Project, fmt: str, after: int = 0, upto: int | None = None,
              batch: int = BATCH) -> Iterator[bytes]:
    """One JSON line (no newline) per row of `fmt`, in chain order, for the chains with id in (after, upto]."""
    if fmt == "prm800k":
        for record in chain_records(project=project, with_details=True, after=after, upto=upto, batch=batch):
            yield from prm800k_lines(record)
        return
    build = _BUILDERS[fmt]
    for record in chain_records(project=project, with_details=False, after=after, upto=upto, batch=batch):
        row = build(record)
        if row is not None:
            yield dumps_row(row)


def export_lines(*, project: Project, fmt: str) -> Iterator[bytes]:
    """The export file as UTF-8 chunks, a row each: a JSON array for processbench (as its files are), JSON Lines
    otherwise. (review/export_parts.export_write writes the same bytes to a file, in two processes.)"""
    if fmt == "processbench":
        first = True
        for line in row_lines(project=project, fmt=fmt):
            yield (b"[\n" if first else b",\n") + line
            first = False
        yield b"[]\n" if first else b"\n]\n"
        return
    for line in row_lines(project=project, fmt=fmt):
        yield line + b"\n"


def export_counts(*, project: Project) -> dict:
    """What an export of the project would hold, before it is made: chains, labelled chains, label sets."""
    chains = Chain.objects.filter(project=project)
    labelled = chains.filter(Q(imported_labels__replaced_at__isnull=True, imported_labels__isnull=False)
                             | Q(assignments__status=AssignmentStatus.SUBMITTED)).distinct().count()
    return {"chains": chains.count(), "labelled_chains": labelled,
            "imported_label_sets": ImportedLabelSet.objects.filter(chain__project=project,
                                                                   replaced_at__isnull=True).count(),
            "submitted_assignments": Assignment.objects.filter(chain__project=project,
                                                               status=AssignmentStatus.SUBMITTED).count()}
