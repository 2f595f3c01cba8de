"""Import chains into a project: stream the file, write it in one transaction, or write nothing.

The file is read once, on a thread of its own, in batches of chains (flat memory however large the
file); the calling thread writes each batch (COPY on PostgreSQL) while the next is parsed, so
PostgreSQL ingests while Python parses. The first bad row stops the writing; reading goes on so
that every bad line is reported; then the transaction is rolled back. Re-importing a file adds
nothing; a chain under a known id with other content, or with other labels from the same source, is
refused with both versions named (or, with `update_labels`, its new labels are added as a new label
set and the old one is kept as history).
"""

import gc
import io
import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .. import steps as step_store
from ..bulk import allocate_ids, copy_binary, copy_json, insert_rows
from ..exceptions import ValidationFailed
from ..formats import FORMATS, FileRefused, Limits, ParsedChain, RowError, add_lines, parse_rows
from ..formats.records import ParsedLabels, text_hash
from ..models import Chain, ChainRevision, ImportedLabelSet, Problem, Project, RevisionKind
from ..realtime import broadcast_project_event

Progress = Callable[[str, int, int], None]  # (phase, done, total): bytes read of the file
BATCH = 500  # chains per batch: ~4 MB of steps for ProcessBench-sized chains
_IMPORT_LOCK = 0x5354_0001  # advisory lock namespace ("ST" 1): one import at a time per project


log = logging.getLogger(__name__)


@dataclass
class ImportResult:
    format: str
    rows_in_file: int = 0
    chains_in_file: int = 0
    chains_created: int = 0
    chains_skipped: int = 0
    steps_created: int = 0
    problems_created: int = 0
    label_sets_created: int = 0
    label_sets_replaced: int = 0
    step_labels_created: int = 0
    unknown_fields: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def import_limits() -> Limits:
    return Limits(max_file_bytes=settings.STEPWISE_IMPORT_MAX_BYTES, max_steps=settings.STEPWISE_IMPORT_MAX_STEPS,
                  max_step_chars=settings.STEPWISE_IMPORT_MAX_STEP_CHARS,
                  max_row_bytes=settings.STEPWISE_IMPORT_MAX_ROW_BYTES)


def _open(data: bytes | str | os.PathLike | IO[bytes]) -> tuple[IO[bytes], int, bool]:
    """(seekable binary stream, size, whether we opened it)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(data)), len(data), True
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        return path.open("rb"), path.stat().st_size, True
    here = data.tell()
    data.seek(0, os.SEEK_END)
    size = data.tell() - here
    data.seek(here)
    return data, size, False


def chains_import(*, project: Project, data: bytes | str | os.PathLike | IO[bytes], fmt: str = "auto",
                  filename: str = "", progress: Progress | None = None, update_labels: bool = False,
                  import_job_id: int | None = None, limits: Limits | None = None) -> ImportResult:
    """Read `data` (bytes, a path, or a binary file) and write its chains, steps and reference labels.

    All or nothing: FileRefused (listing every bad row with line and field) writes nothing.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise FileRefused([RowError(0, "format", f"'{fmt}' is not a format; use auto, {', '.join(FORMATS)}")], filename)
    limits = limits or import_limits()
    stream, size, owned = _open(data)
    collecting = gc.isenabled()
    try:
        if size > limits.max_file_bytes:
            raise FileRefused([RowError(0, "", f"is {file_size(size)}; at most {file_size(limits.max_file_bytes)} per "
                                               "import (STEPWISE_IMPORT_MAX_BYTES): split the file")], filename)
        started = time.perf_counter()
        # Millions of short-lived, acyclic objects: the cyclic collector would walk them again and again
        # (a third of the parse time, measured); reference counting frees them as batches are written.
        gc.disable()
        with transaction.atomic():
            _lock(project)
            writer = _Writer(project, filename, update_labels, import_job_id, limits)
            result = writer.run(stream, size, fmt, progress)
            result.seconds = round(time.perf_counter() - started, 3)
            payload = result.as_dict()
            transaction.on_commit(lambda: broadcast_project_event(project.pk, "import.done", payload))
        if result.chains_created >= ANALYZE_AFTER_CHAINS and not connection.in_atomic_block:
            _analyze()
        return result
    finally:
        if collecting:
            gc.enable()
        if owned:
            stream.close()


# After a bulk load the planner's row counts are those of before it (autovacuum analyzes later, when it
# gets round to it): a 50,000-chain import left `annotation_chain` estimated at 14 rows for the project, so
# every export batch sorted the whole project (92 ms a batch, 9 s of a 50,000-chain export). ANALYZE
# samples a few thousand rows per table: about a tenth of a second, run once the import has committed.
ANALYZE_AFTER_CHAINS = 1_000
_ANALYZED = ("annotation_problem", "annotation_chain", "annotation_chainrevision", "annotation_importedlabelset")


def _analyze() -> None:
    if connection.vendor != "postgresql":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {', '.join(_ANALYZED)}")
    except DatabaseError:  # statistics are an optimisation: the import has committed, whatever this does
        log.exception("ANALYZE after an import failed")


def file_size(n: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n:,} bytes"


def _lock(project: Project) -> None:
    """One import at a time per project (its known-id checks must see the earlier import's chains).

    An advisory lock, not a row lock: `FOR UPDATE` on the project row would block every insert that
    points at the project (a new member, an assignment) for the whole import. KEY SHARE on the row
    keeps the project from being deleted meanwhile and blocks nothing else. SQLite's IMMEDIATE
    transactions already serialize writers.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_IMPORT_LOCK, project.pk])
        cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(Project._meta.db_table)} WHERE id = %s "  # noqa: S608
                       "FOR KEY SHARE", [project.pk])


# --- reading on a thread of its own ------------------------------------------------------------------

_DONE = object()


@dataclass
class _Batch:
    chains: list[ParsedChain]
    blocks: list[bytes]  # packed step texts, one per chain (pack_many releases the GIL while compressing)


class _Reader(threading.Thread):
    """Parses the file into batches on its own thread; the writer takes them from `out`."""

    def __init__(self, stream: IO[bytes], size: int, fmt: str, segmentation: str, limits: Limits,
                 errors: list[RowError], progress: Progress | None):
        super().__init__(name="stepwise-import-reader", daemon=True)
        self.stream, self.size, self.fmt, self.segmentation = stream, size, fmt, segmentation
        self.limits, self.errors, self.progress = limits, errors, progress
        self.out: queue.Queue = queue.Queue(maxsize=1)  # memory: the batch being written, one parsed ahead
        self.format = ""
        self.failure: BaseException | None = None
        self.stop = threading.Event()

    def _found(self, name: str) -> None:
        self.format = name

    def run(self) -> None:
        try:
            batch: list[ParsedChain] = []
            last_report = 0.0
            for chain in parse_rows(self.stream, fmt=self.fmt, segmentation=self.segmentation, limits=self.limits,
                                    errors=self.errors, on_format=self._found):
                if self.stop.is_set():
                    return
                batch.append(chain)
                if len(batch) >= BATCH:
                    self._put(batch)
                    batch = []
                    now = time.monotonic()
                    if self.progress and now - last_report > 0.5:
                        last_report = now
                        self.progress("parse", self.stream.tell(), self.size)
            if batch:
                self._put(batch)
            if self.progress:
                self.progress("parse", self.size, self.size)
        except BaseException as exc:  # handed to the writer's thread, which re-raises it
            self.failure = exc
        finally:
            self.out.put(_DONE)

    def _put(self, batch: list[ParsedChain]) -> None:
        for chain in batch:  # here, not in the writer: the writer's thread has the database to feed
            chain.problem_hash = text_hash(chain.problem)
            chain.content_hash  # noqa: B018 (computed and kept)
            for labels in chain.labels:
                labels.labels_hash  # noqa: B018
        # Once a row is bad nothing will be written: skip the compression, keep reading for errors.
        blocks = [] if self.errors else step_store.pack_many([c.steps_json for c in batch])
        while not self.stop.is_set():
            try:
                self.out.put(_Batch(batch, blocks), timeout=0.5)
                return
            except queue.Full:
                continue

    def batches(self) -> Iterator[_Batch]:
        while True:
            item = self.out.get()
            if item is _DONE:
                if self.failure is not None:
                    raise self.failure
                return
            yield item


# --- writing ----------------------------------------------------------------------------------------

@dataclass(slots=True)
class _Seen:
    """A chain of this file already handled: where, and what it became. One per chain of the file, kept to
    the end (ids must be unique in a file), so it is small: slots, and the labelers as a tuple (one or a
    few), about 150 bytes with its id against 600 as a plain dataclass with a set."""

    line: int
    item: int
    chain_id: int | None
    sources: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line else f"item {self.item}"


class _Writer:
    def __init__(self, project: Project, filename: str, update_labels: bool, import_job_id: int | None,
                 limits: Limits):
        self.project = project
        self.filename = filename
        self.update_labels = update_labels
        self.import_job_id = import_job_id
        self.limits = limits
        self.errors: list[RowError] = []
        self.now = timezone.now()
        self.postgres = connection.vendor == "postgresql"
        self.seen: dict[str, _Seen] = {}
        self.problems: dict[str, int] = {}  # statement hash -> id, for this file's problems
        self.reused_problems: set[int] = set()
        self.known_chains: set[int] = set()
        self.unknown = Counter()
        self.replaced_ids: list[int] = []
        self.format = ""

    def run(self, stream: IO[bytes], size: int, fmt: str, progress: Progress | None) -> ImportResult:
        reader = _Reader(stream, size, fmt, self.project.segmentation, self.limits, self.errors, progress)
        reader.start()
        result = ImportResult(format=fmt)
        try:
            for batch in reader.batches():
                self.format = reader.format
                result.rows_in_file += len(batch.chains)
                self._batch(batch, result)
        finally:
            reader.stop.set()
            reader.join(timeout=30)
        result.format = reader.format or (fmt if fmt != "auto" else "stepwise")
        if not reader.format and not self.errors:
            self.errors.append(RowError(0, "", "the file holds no rows"))
        if self.errors:
            more = max(len(self.errors) - self.limits.max_errors, 0)
            listed = add_lines(stream, sorted(self.errors[:self.limits.max_errors], key=_order), self.limits)
            raise FileRefused(listed, self.filename, more=more)
        self._check_references()
        result.chains_in_file = len(self.seen)
        result.unknown_fields = dict(self.unknown.most_common())
        return result

    # -- one batch --

    def _batch(self, batch: _Batch, result: ImportResult) -> None:
        chains = batch.chains
        for chain in chains:
            self.unknown.update(chain.unknown_fields)
        existing = self._existing_chains([c.source_id for c in chains if c.source_id not in self.seen])
        known_labels = self._current_label_sets({found[0] for found in existing.values()}
                                                | {s.chain_id for c in chains if (s := self.seen.get(c.source_id))
                                                   and s.chain_id is not None})
        new: list[tuple[ParsedChain, bytes]] = []
        label_rows: list[tuple[int, ParsedLabels]] = []
        for chain, block in zip(chains, batch.blocks or [b""] * len(chains), strict=True):
            first = self.seen.get(chain.source_id)
            if first is not None:  # the same id again in this file
                if self.format != "prm800k":
                    self._error(chain, "id", f"'{chain.source_id}' is repeated (first at {first.where}); ids must be "
                                             "unique in a file")
                    continue
                # PRM800K names a chain by its content: this is another labeler of a trajectory already read.
                self._labels_of(chain, first, known_labels, label_rows)
                continue
            found = existing.get(chain.source_id)
            if found is None:
                self.seen[chain.source_id] = _Seen(chain.line, chain.item, None,
                                                   tuple(dict.fromkeys(labels.source for labels in chain.labels)))
                new.append((chain, block))
                continue
            chain_id, stored_hash = found
            seen = self.seen[chain.source_id] = _Seen(chain.line, chain.item, chain_id)
            if stored_hash != chain.content_hash:
                self._error(chain, "id", f"'{chain.source_id}' is already in project '{self.project.slug}' (chain "
                                         f"#{chain_id}) with different content; give the changed chain a new id, or "
                                         "leave it out of the file")
                continue
            result.chains_skipped += 1
            self.known_chains.add(chain_id)
            self._labels_of(chain, seen, known_labels, label_rows)
        if self.errors or not (new or label_rows):
            return
        self._write(new, label_rows, result)

    def _labels_of(self, chain: ParsedChain, seen: _Seen, known: dict, label_rows: list) -> None:
        """Queue `chain`'s label sets for a chain written before: new sources added, changed ones refused
        (or added as a new current set with update_labels), identical ones skipped."""
        for labels in chain.labels:
            if labels.source in seen.sources:
                self._error(chain, "labeler", f"'{labels.source}' already labeled this same chain at {seen.where}")
                continue
            seen.sources = (*seen.sources, labels.source)
            stored = known.get((seen.chain_id, labels.source)) if seen.chain_id is not None else None
            if stored is None:
                label_rows.append((seen.chain_id if seen.chain_id is not None else -1, labels, chain))
                continue
            stored_id, stored_hash, description = stored
            if stored_hash == labels.labels_hash:
                continue
            if not self.update_labels:
                self._error(chain, "label", f"chain '{chain.source_id}' is already in project '{self.project.slug}' "
                                            f"with other labels from '{labels.source}' ({description}); this file says "
                                            f"{describe_labels(labels.ratings, labels.finish_reason, labels.first_error_step)}. "
                                            "Import with --update-labels (update_labels=true) to add these as a new "
                                            "label set (the stored one is kept as history), or fix the row")
                continue
            self.replaced_ids.append(stored_id)
            label_rows.append((seen.chain_id, labels, chain))

    def _error(self, chain: ParsedChain, field_name: str, message: str) -> None:
        self.errors.append(RowError(chain.line, field_name, message, item=chain.item))

    def _write(self, new: list[tuple[ParsedChain, bytes]], label_rows: list, result: ImportResult) -> None:
        problem_ids = self._problem_ids([c for c, _ in new], result)
        chain_ids = allocate_ids(Chain, len(new))
        for (chain, _), chain_id in zip(new, chain_ids, strict=True):
            self.seen[chain.source_id].chain_id = chain_id
        self._insert_chains(new, chain_ids, problem_ids)
        self._insert_revisions(new, chain_ids)
        result.chains_created += len(new)
        result.steps_created += sum(len(c.steps) for c, _ in new)
        sets = [(chain_id, labels) for (chain, _), chain_id in zip(new, chain_ids, strict=True)
                for labels in chain.labels]
        sets += [(self.seen[chain.source_id].chain_id if chain_id == -1 else chain_id, labels)
                 for chain_id, labels, chain in label_rows]
        if self.replaced_ids:
            ImportedLabelSet.objects.filter(pk__in=self.replaced_ids).update(replaced_at=self.now)
            result.label_sets_replaced += len(self.replaced_ids)
            self.replaced_ids = []
        self._insert_label_sets(sets)
        result.label_sets_created += len(sets)
        result.step_labels_created += sum(sum(r is not None for r in labels.ratings) for _, labels in sets)

    # -- reads of what the project already has (between the batch's writes) --

    def _existing_chains(self, source_ids: list[str]) -> dict[str, tuple[int, str]]:
        if not source_ids:
            return {}
        rows = Chain.objects.filter(project=self.project, source_id__in=source_ids)
        return {sid: (pk, h) for sid, pk, h in rows.values_list("source_id", "id", "content_hash")}

    def _current_label_sets(self, chain_ids: set[int]) -> dict[tuple[int, str], tuple[int, str, str]]:
        if not chain_ids:
            return {}
        rows = ImportedLabelSet.objects.filter(chain_id__in=chain_ids, replaced_at__isnull=True).values_list(
            "chain_id", "source", "id", "labels_hash", "ratings", "finish_reason", "first_error_index", "created_at")
        found = {}
        for chain_id, source, pk, labels_hash, ratings, reason, first_error, created in rows:
            described = describe_labels(orjson.loads(ratings), reason, first_error)
            found[(chain_id, source)] = (pk, labels_hash, f"{described}, imported {created:%Y-%m-%d}")
        return found

    def _problem_ids(self, chains: list[ParsedChain], result: ImportResult) -> dict[str, int]:
        wanted: dict[str, ParsedChain] = {}
        for chain in chains:
            digest = chain.problem_hash
            if digest not in self.problems:
                wanted.setdefault(digest, chain)
        if wanted:
            rows = Problem.objects.filter(project=self.project, statement_hash__in=list(wanted))
            for digest, pk in rows.values_list("statement_hash", "id"):
                self.problems[digest] = pk
                self.reused_problems.add(pk)
            fresh = [h for h in wanted if h not in self.problems]
            ids = allocate_ids(Problem, len(fresh))
            insert_rows(Problem, ["id", "project", "statement", "statement_hash", "reference_answer", "metadata",
                                  "source"],
                        ((pid, self.project.pk, wanted[h].problem, h, wanted[h].reference_answer, "{}",
                          wanted[h].problem_source) for h, pid in zip(fresh, ids, strict=True)))
            self.problems.update(zip(fresh, ids, strict=True))
            result.problems_created += len(fresh)
        return self.problems

    # -- inserts --

    def _insert_chains(self, new: list[tuple[ParsedChain, bytes]], chain_ids: list[int], problems: dict) -> None:
        dumps = orjson.dumps
        insert_rows(Chain, ["id", "project", "problem", "source_id", "source_model", "final_answer", "raw_text",
                            "segmentation", "content_hash", "revision", "step_count", "next_step_key", "metadata",
                            "is_gold", "is_screening", "planted", "created_at"],
                    ((cid, self.project.pk, problems[c.problem_hash], c.source_id, c.source_model,
                      c.final_answer, c.raw_text, c.segmentation, c.content_hash, 1, len(c.steps), len(c.steps),
                      dumps(c.metadata).decode(), False, False, None, self.now)
                     for (c, _), cid in zip(new, chain_ids, strict=True)))

    def _insert_revisions(self, new: list[tuple[ParsedChain, bytes]], chain_ids: list[int]) -> None:
        fields = ["chain", "number", "kind", "step_keys", "step_count", "first_new_key", "new_count", "texts", "spans",
                  "detail", "created_by", "created_at"]
        detail_text = (b'{"filename": ' + orjson.dumps(self.filename[-255:]) + b"}").decode()
        detail = copy_json(detail_text) if self.postgres else detail_text
        rows = ((cid, 1, RevisionKind.IMPORT.value, None, len(c.steps), 0, len(c.steps), block,
                 orjson.dumps(c.spans).decode() if c.spans else "", detail, None, self.now)
                for (c, block), cid in zip(new, chain_ids, strict=True))
        if self.postgres:
            copy_binary(ChainRevision, fields, ["int8", "int4", "text", "bytea", "int4", "int4", "int4", "bytea",
                                                "text", "jsonb", "int8", "timestamptz"], rows)
        else:
            insert_rows(ChainRevision, fields, rows)

    def _insert_label_sets(self, sets: list[tuple[int, ParsedLabels]]) -> None:
        dumps = orjson.dumps

        def rows():
            for chain_id, labels in sets:
                flags = "" if all(f is None for f in labels.flagged) else dumps(labels.flagged).decode()
                yield (chain_id, self.import_job_id, labels.source, 1, dumps(labels.ratings).decode(), flags,
                       dumps(labels.human_steps).decode() if labels.human_steps else "",
                       labels.finish_reason, labels.first_error_step,
                       dumps([c.as_list() for c in labels.candidates]).decode() if labels.candidates else "",
                       dumps(labels.source_meta).decode() if labels.source_meta else "",
                       labels.labels_hash, self.now, None)

        insert_rows(ImportedLabelSet, ["chain", "import_job", "source", "revision", "ratings", "flagged", "human_steps",
                                       "finish_reason", "first_error_index", "candidates", "source_meta", "labels_hash",
                                       "created_at", "replaced_at"], rows())

    def _check_references(self) -> None:
        """The set-based check that stands in for the foreign keys these tables do not have (see Chain):
        the rows written point at chains and problems that existed before and still do."""
        for model, ids in ((Chain, self.known_chains), (Problem, self.reused_problems)):
            if ids and model.objects.filter(pk__in=list(ids)).count() != len(ids):
                raise ValidationFailed(f"a {model._meta.verbose_name} this file refers to was deleted during the "
                                       "import; nothing was written. Import the file again.")


def _order(error: RowError) -> tuple[int, int]:
    return (error.item or error.line, error.line)


def describe_labels(ratings: list, finish_reason: str, first_error: int | None) -> str:
    rated = sum(r is not None for r in ratings)
    if first_error is not None:
        where = f"first wrong step {first_error} (0-based)"
    elif finish_reason == "solution":
        where = "no wrong step"
    else:
        where = f"finish reason {finish_reason}"
    return f"{where}, {rated} of {len(ratings)} steps rated"


def label_set_ratings(row: Any) -> list[int | None]:
    """The ratings of an ImportedLabelSet row (for callers that need them decoded)."""
    return orjson.loads(row.ratings)
