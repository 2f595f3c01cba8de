"""Import chains into a project: parse the whole file, then write it in one transaction or not at all."""

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.db import connection, transaction
from django.utils import timezone

from ..bulk import COPY_NULL, allocate_ids, copy_escape, copy_lines, insert_rows
from ..formats import FileRefused, ParsedChain, RowError, parse_file
from ..formats.parse import FORMATS
from ..formats.records import ParsedLabels, text_hash
from ..models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Candidate,
    Chain,
    Problem,
    Project,
    Step,
    StepLabel,
)
from ..realtime import broadcast_project_event

Progress = Callable[[str, int, int], None]  # (phase, done, total)
_BATCH = 2000  # ids per IN (...) query: SQLite allows 32k parameters, PostgreSQL far more


@dataclass
class ImportResult:
    format: str
    chains_in_file: int
    chains_created: int
    chains_skipped: int
    steps_created: int
    label_sets_created: int
    step_labels_created: int

    def as_dict(self) -> dict:
        return asdict(self)


def chains_import(*, project: Project, data: bytes, fmt: str = "auto", filename: str = "",
                  progress: Progress | None = None) -> ImportResult:
    """Parse `data` and write its chains, steps and attributed labels to `project`.

    Refuses the whole file (FileRefused, nothing written) when any row is bad, an id repeats in the
    file, or an id already in the project has other content. Chains already present with the same
    content are skipped, so importing a file twice adds nothing.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise FileRefused([RowError(0, "format", f"'{fmt}' is not a format; use auto, {', '.join(FORMATS)}")], filename)
    total_rows = data.count(b"\n") + 1

    def parse_progress(done: int) -> None:
        if progress:
            progress("parse", done, total_rows)

    fmt, chains = parse_file(data, fmt=fmt, segmentation=project.segmentation, filename=filename,
                             progress=parse_progress)
    with transaction.atomic():
        # One import at a time per project: the id check below must see every earlier import's chains.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        writer = _Writer(project, filename, progress)
        result = writer.write(fmt, chains)
        transaction.on_commit(lambda: broadcast_project_event(project.pk, "import.done", result.as_dict()))
    return result


class _Writer:
    def __init__(self, project: Project, filename: str, progress: Progress | None):
        self.project = project
        self.filename = filename
        self.progress = progress
        self.now = connection.ops.adapt_datetimefield_value(timezone.now())

    def _report(self, phase: str, done: int, total: int) -> None:
        if self.progress:
            self.progress(phase, done, total)

    def write(self, fmt: str, chains: list[ParsedChain]) -> ImportResult:
        existing = self._existing_chains([c.source_id for c in chains])
        errors, new, known = [], [], []
        for chain in chains:
            found = existing.get(chain.source_id)
            if found is None:
                new.append(chain)
            elif found[1] != chain.content_hash:
                errors.append(RowError(
                    chain.line, "id",
                    f"'{chain.source_id}' is already in project '{self.project.slug}' (chain #{found[0]}) with "
                    "different content; give the changed chain a new id, or leave it out of the file"))
            else:
                known.append((chain, found[0]))
        if errors:
            raise FileRefused(errors, self.filename)

        problem_ids = self._problems(new)
        chain_ids = allocate_ids(Chain, len(new))
        insert_rows(Chain, ["id", "project", "problem", "source_id", "source_model", "final_answer", "raw_text",
                            "segmentation", "content_hash", "step_count", "metadata", "created_at"],
                    ((cid, self.project.pk, problem_ids[text_hash(c.problem)], c.source_id, c.source_model,
                      c.final_answer, c.raw_text, c.segmentation, c.content_hash, len(c.steps),
                      json.dumps(c.metadata, ensure_ascii=False), self.now) for c, cid in zip(new, chain_ids, strict=True)))
        self._report("chains", len(new), len(new))

        step_total = sum(len(c.steps) for c in new)
        step_ids = allocate_ids(Step, step_total)
        step_map: dict[int, list[int]] = {}
        cursor = 0
        for chain, cid in zip(new, chain_ids, strict=True):
            step_map[cid] = step_ids[cursor:cursor + len(chain.steps)]
            cursor += len(chain.steps)

        step_fields = ["id", "chain", "version", "index", "text", "char_start", "char_end"]
        if connection.vendor == "postgresql":
            copy_lines(Step, step_fields, self._step_lines(new, chain_ids, step_map))
        else:
            insert_rows(Step, step_fields, self._step_rows(new, chain_ids, step_map))
        self._report("steps", len(new), len(new))

        # Labels: every label set of a new chain; on a known chain only sources it has not seen yet
        # (a second PRM800K labeler of the same trajectory).
        label_sets: list[tuple[ParsedChain, int, ParsedLabels]] = [
            (c, cid, labels) for c, cid in zip(new, chain_ids, strict=True) for labels in c.labels]
        if known:
            seen = self._existing_sources([cid for _, cid in known])
            missing_steps = {cid for c, cid in known if any(lb.source not in seen.get(cid, ()) for lb in c.labels)}
            step_map.update(self._step_ids(missing_steps))
            label_sets += [(c, cid, labels) for c, cid in known for labels in c.labels
                           if labels.source not in seen.get(cid, ())]
        step_labels = self._labels(label_sets, step_map)
        return ImportResult(format=fmt, chains_in_file=len(chains),
                            chains_created=len(new), chains_skipped=len(known), steps_created=step_total,
                            label_sets_created=len(label_sets), step_labels_created=step_labels)

    def _step_rows(self, chains: list[ParsedChain], chain_ids: list[int], step_map: dict[int, list[int]]):
        for done, (chain, cid) in enumerate(zip(chains, chain_ids, strict=True), start=1):
            spans = chain.spans or [(None, None)] * len(chain.steps)
            for index, (text, sid, span) in enumerate(zip(chain.steps, step_map[cid], spans, strict=True)):
                yield (sid, cid, 1, index, text, span[0], span[1])
            if done % 5000 == 0:
                self._report("steps", done, len(chains))

    def _step_lines(self, chains: list[ParsedChain], chain_ids: list[int], step_map: dict[int, list[int]]):
        """The rows of _step_rows as COPY text, a chain per chunk (a row per step: millions)."""
        null = COPY_NULL
        for done, (chain, cid) in enumerate(zip(chains, chain_ids, strict=True), start=1):
            texts = copy_escape(chain.steps)
            spans = chain.spans or [(null, null)] * len(texts)
            yield "".join(f"{sid}\t{cid}\t1\t{index}\t{text}\t{start}\t{end}\n"
                          for index, (sid, text, (start, end)) in enumerate(zip(step_map[cid], texts, spans, strict=True)))
            if done % 5000 == 0:
                self._report("steps", done, len(chains))

    def _existing_chains(self, source_ids: list[str]) -> dict[str, tuple[int, str]]:
        found: dict[str, tuple[int, str]] = {}
        for i in range(0, len(source_ids), _BATCH):
            rows = Chain.objects.filter(project=self.project, source_id__in=source_ids[i:i + _BATCH])
            found.update({sid: (pk, h) for sid, pk, h in rows.values_list("source_id", "id", "content_hash")})
        return found

    def _existing_sources(self, chain_ids: list[int]) -> dict[int, set[str]]:
        seen: dict[int, set[str]] = {}
        for i in range(0, len(chain_ids), _BATCH):
            rows = Assignment.objects.filter(chain_id__in=chain_ids[i:i + _BATCH]).exclude(external_source="")
            for cid, source in rows.values_list("chain_id", "external_source"):
                seen.setdefault(cid, set()).add(source)
        return seen

    def _step_ids(self, chain_ids: set[int]) -> dict[int, list[int]]:
        ids: dict[int, list[int]] = {}
        ordered = sorted(chain_ids)
        for i in range(0, len(ordered), _BATCH):
            rows = Step.objects.filter(chain_id__in=ordered[i:i + _BATCH], version=1).order_by("chain_id", "index")
            for cid, sid in rows.values_list("chain_id", "id"):
                ids.setdefault(cid, []).append(sid)
        return ids

    def _problems(self, chains: list[ParsedChain]) -> dict[str, int]:
        wanted: dict[str, ParsedChain] = {}
        for chain in chains:
            wanted.setdefault(text_hash(chain.problem), chain)
        hashes = list(wanted)
        ids: dict[str, int] = {}
        for i in range(0, len(hashes), _BATCH):
            rows = Problem.objects.filter(project=self.project, statement_hash__in=hashes[i:i + _BATCH])
            ids.update(dict(rows.values_list("statement_hash", "id")))
        fresh = [h for h in hashes if h not in ids]
        new_ids = allocate_ids(Problem, len(fresh))
        insert_rows(Problem, ["id", "project", "statement", "statement_hash", "reference_answer", "metadata", "source"],
                    ((pid, self.project.pk, wanted[h].problem, h, wanted[h].reference_answer, "{}",
                      wanted[h].problem_source) for h, pid in zip(fresh, new_ids, strict=True)))
        ids.update(zip(fresh, new_ids, strict=True))
        return ids

    def _labels(self, label_sets: list[tuple[ParsedChain, int, ParsedLabels]], step_map: dict[int, list[int]]) -> int:
        assignment_ids = allocate_ids(Assignment, len(label_sets))
        now = self.now
        insert_rows(Assignment, ["id", "chain", "annotator", "external_source", "slot", "status", "created_at",
                                 "started_at", "submitted_at", "active_seconds", "version"],
                    ((aid, cid, None, labels.source, None, AssignmentStatus.SUBMITTED, now, None, now,
                      (labels.source_meta.get("total_time") or 0) // 1000, 1)
                     for (_, cid, labels), aid in zip(label_sets, assignment_ids, strict=True)))
        insert_rows(Annotation, ["assignment", "finish_reason", "first_error_step", "comment", "source_meta",
                                 "created_at"],
                    ((aid, labels.finish_reason, labels.first_error_step, "",
                      json.dumps(labels.source_meta, ensure_ascii=False), now)
                     for (_, _, labels), aid in zip(label_sets, assignment_ids, strict=True)))

        def label_rows():
            for (_, cid, labels), aid in zip(label_sets, assignment_ids, strict=True):
                for sid, rating, flag in zip(step_map[cid], labels.ratings, labels.flagged, strict=True):
                    if rating is not None or flag is not None:
                        yield (aid, sid, rating, "", "", flag, now)

        label_fields = ["assignment", "step", "rating", "rationale", "correction", "flagged", "updated_at"]
        if connection.vendor == "postgresql":
            written = copy_lines(StepLabel, label_fields, self._label_lines(label_sets, assignment_ids, step_map))
        else:
            written = insert_rows(StepLabel, label_fields, label_rows())
        insert_rows(Candidate, ["assignment", "step_index", "position", "source", "text", "rating", "flagged",
                                "chosen"],
                    ((aid, c.step_index, c.position, c.source, c.text, c.rating, c.flagged, c.chosen)
                     for (_, _, labels), aid in zip(label_sets, assignment_ids, strict=True)
                     for c in labels.candidates))
        self._report("labels", len(label_sets), len(label_sets))
        return written

    def _label_lines(self, label_sets: list[tuple[ParsedChain, int, ParsedLabels]], assignment_ids: list[int],
                     step_map: dict[int, list[int]]):
        """The rows of label_rows as COPY text, a label set per chunk."""
        null, now = COPY_NULL, self.now.isoformat()
        flags = {None: null, True: "t", False: "f"}
        for (_, cid, labels), aid in zip(label_sets, assignment_ids, strict=True):
            yield "".join(f"{aid}\t{sid}\t{null if rating is None else rating}\t\t\t{flags[flag]}\t{now}\n"
                          for sid, rating, flag in zip(step_map[cid], labels.ratings, labels.flagged, strict=True)
                          if rating is not None or flag is not None)
