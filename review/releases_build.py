"""Writing a release's files from chain records: every format and split in one streamed pass. Pure: no Django.

A release directory:
```
manifest.json                      # what went in, every file with sha256 and rows (written last)
selection.jsonl                    # per chain: pk, revision, split, the label sets used (the pin to re-make it)
README.md, data/<split>.parquet    # format `parquet`: the dataset card and one Parquet file per split
<format>/<split>.jsonl             # prm800k, trl-stepwise, math-shepherd, preference, openai-preference
processbench/<split>.json          # a JSON array, as ProcessBench ships
provenance/<split>.jsonl           # always: who labelled each chain, arm, assistance, active time
```
Nothing in a file depends on the time or the machine: the same records give the same bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from . import releases_formats as rf
from .exporters import ChainRecord, StepsJson, dumps_row, prm800k_rows

RELEASE_FORMATS = ("prm800k", "trl-stepwise", "processbench", "math-shepherd", "preference",
                   "openai-preference", "parquet")
SPLITS = ("train", "test")


@dataclass
class FileInfo:
    path: str  # relative to the release directory
    kind: str  # a format name, or "provenance" / "selection" / "card"
    split: str
    rows: int = 0
    bytes: int = 0
    sha256: str = ""

    def as_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "split": self.split, "rows": self.rows, "bytes": self.bytes,
                "sha256": self.sha256}


class _HashedFile:
    """A file written in order, hashed as it is written (never read back)."""

    def __init__(self, root: Path, info: FileInfo, head: bytes = b""):
        path = root / info.path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.info = info
        self.handle: BinaryIO = path.open("wb")
        self.digest = hashlib.sha256()
        if head:
            self._write(head)

    def _write(self, data: bytes) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.info.bytes += len(data)

    def line(self, data: bytes) -> None:
        self._write(data + b"\n")
        self.info.rows += 1

    def close(self, tail: bytes = b"") -> FileInfo:
        if tail:
            self._write(tail)
        self.handle.close()
        self.info.sha256 = self.digest.hexdigest()
        return self.info


class _JsonArrayFile(_HashedFile):
    def line(self, data: bytes) -> None:
        self._write((b"[\n" if self.info.rows == 0 else b",\n") + data)
        self.info.rows += 1

    def close(self, tail: bytes = b"") -> FileInfo:
        return super().close(b"[]\n" if self.info.rows == 0 else b"\n]\n")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Entry:
    """One chain going into the release: the record (label sets used), the aggregated ratings, its split."""

    record: ChainRecord
    ratings: list[int | None]
    split: str
    provenance: dict
    selection: dict


@dataclass
class ReleaseWriter:
    root: Path
    formats: tuple[str, ...]
    neutral: str = "positive"
    parquet_batch: int = 1000
    files: dict[tuple[str, str], _HashedFile] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    chains: dict[str, int] = field(default_factory=dict)
    _parquet: dict[str, Any] = field(default_factory=dict)
    _parquet_rows: dict[str, list] = field(default_factory=dict)
    _parquet_info: dict[str, FileInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.selection = _HashedFile(self.root, FileInfo("selection.jsonl", "selection", ""))

    def _file(self, kind: str, split: str) -> _HashedFile:
        key = (kind, split)
        handle = self.files.get(key)
        if handle is None:
            if kind == "processbench":
                handle = _JsonArrayFile(self.root, FileInfo(f"processbench/{split}.json", kind, split))
            else:
                handle = _HashedFile(self.root, FileInfo(f"{kind}/{split}.jsonl", kind, split))
            self.files[key] = handle
        return handle

    def skip(self, reason: str) -> None:
        self.left_out[reason] = self.left_out.get(reason, 0) + 1

    def add(self, entry: Entry) -> None:
        record, ratings, split = entry.record, entry.ratings, entry.split
        self.chains[split] = self.chains.get(split, 0) + 1
        self.selection.line(orjson.dumps(entry.selection))
        self._file("provenance", split).line(orjson.dumps({"id": record.source_id, **entry.provenance}))
        provenance = entry.provenance
        for fmt in self.formats:
            builder = _BUILDERS.get(fmt)
            if builder is None:
                continue
            handle = self._file(fmt, split)  # every format has a file in every split that has chains
            try:
                rows = builder(record, ratings, self.neutral, provenance)
            except rf.FormatRefusal as refusal:
                self.skip(f"{fmt}: {refusal}")
                continue
            if not rows and fmt in _STEPWISE:  # (most chains give no preference pair: not counted)
                self.skip(f"{fmt}: no labelled first step")
            for row in rows:
                handle.line(dumps_row(row))
        if "parquet" in self.formats:
            self._parquet_add(entry)

    # Parquet: a row group per `parquet_batch` chains, so memory stays flat.
    def _parquet_add(self, entry: Entry) -> None:
        record, ratings = entry.record, entry.ratings
        labels_end = rf.labelled_prefix(ratings, self.neutral)
        pb = rf.processbench_row(record, ratings, self.neutral)
        rows = self._parquet_rows.setdefault(entry.split, [])
        rows.append({"id": record.source_id, "problem": record.problem, "steps": list(record.steps),
                     "ratings": ratings, "labels": [rf._good(r, self.neutral) for r in ratings[:labels_end]],  # type: ignore[arg-type]
                     "label": pb["label"], "generator": record.source_model,
                     "provenance": orjson.dumps(entry.provenance).decode()})
        if len(rows) >= self.parquet_batch:
            self._parquet_flush(entry.split)

    def _parquet_flush(self, split: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = self._parquet_rows.get(split) or []
        if not rows:
            return
        schema = _parquet_schema()
        writer = self._parquet.get(split)
        if writer is None:
            info = FileInfo(f"data/{split}.parquet", "parquet", split)
            (self.root / "data").mkdir(parents=True, exist_ok=True)
            writer = pq.ParquetWriter(self.root / info.path, schema, compression="zstd")
            self._parquet[split], self._parquet_info[split] = writer, info
        writer.write_table(pa.Table.from_pylist(rows, schema=schema))
        self._parquet_info[split].rows += len(rows)
        self._parquet_rows[split] = []

    def close(self) -> list[FileInfo]:
        out = [self.selection.close()]
        out += [handle.close() for handle in self.files.values()]
        if "parquet" in self.formats:
            for split in list(self._parquet_rows):
                self._parquet_flush(split)
            for split, writer in self._parquet.items():
                writer.close()
                info = self._parquet_info[split]
                path = self.root / info.path
                info.bytes, info.sha256 = path.stat().st_size, sha256_of(path)
                out.append(info)
        return sorted(out, key=lambda f: f.path)

    def write_card(self, *, name: str, version: str, description: str, manifest: dict) -> FileInfo:
        splits = {split: info.rows for split, info in sorted(self._parquet_info.items())}
        text = rf.dataset_card(name=name, version=version, description=description, splits=splits,
                               manifest=manifest).encode()
        (self.root / "README.md").write_bytes(text)
        return FileInfo("README.md", "card", "", rows=0, bytes=len(text), sha256=hashlib.sha256(text).hexdigest())


def _parquet_schema():
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("problem", pa.string()), ("steps", pa.list_(pa.string())),
                      ("ratings", pa.list_(pa.int8())), ("labels", pa.list_(pa.bool_())), ("label", pa.int32()),
                      ("generator", pa.string()), ("provenance", pa.string())])


def content_hash(files: list[FileInfo]) -> str:
    """One sha256 for the release's content: over each data file's path and sha256, in path order."""
    digest = hashlib.sha256()
    for info in sorted(files, key=lambda f: f.path):
        digest.update(f"{info.path}\t{info.sha256}\n".encode())
    return digest.hexdigest()


# --- per-format rows -----------------------------------------------------------------------------------

Built = list[dict[str, Any]]


def _with(row: dict | None, provenance: dict) -> Built:
    return [] if row is None else [{**row, "provenance": provenance}]


def _prm800k(record: ChainRecord, ratings, neutral, provenance) -> Built:
    if isinstance(record.steps, StepsJson):
        record = ChainRecord(**{**record.__dict__, "steps": record.steps.texts()})
    return prm800k_rows(record)


_STEPWISE = ("trl-stepwise", "math-shepherd")
_BUILDERS: dict[str, Callable[[ChainRecord, list, str, dict], Built]] = {
    "prm800k": _prm800k,
    "trl-stepwise": lambda r, ratings, n, p: _with(rf.trl_stepwise_row(r, ratings, n), p),
    "processbench": lambda r, ratings, n, p: _with(rf.processbench_row(r, ratings, n), p),
    "math-shepherd": lambda r, ratings, n, p: _with(rf.math_shepherd_row(r, ratings, n), p),
    "preference": lambda r, ratings, n, p: [{**row, "provenance": p} for row in rf.preference_rows(r)],
    "openai-preference": lambda r, ratings, n, p: rf.openai_preference_rows(r),  # OpenAI refuses unknown keys
}


# --- which labels a chain goes out with ------------------------------------------------------------------

def choose_labels(label_sets: list[tuple[str, int, Any, dict]], *, source: str, min_agreement: float,
                  min_label_sets: int, size: int) -> tuple[list, list[int | None], float | None, str | None]:
    """(label sets used, ratings per step, agreement, reason left out or None) for one chain.

    reference: the labels that came with the data (their consensus when several labelers);
    single: the first annotator to submit; consensus: every annotator's labels, the most common rating
    per step (a tie to the lower). Agreement: the lowest share, over the steps anyone rated, of the
    label sets that gave the step its consensus rating (1.0 with one label set).
    """
    from .voting import consensus

    if source == "reference":
        used = [s for s in label_sets if s[0] == "reference"]
    elif source == "single":
        used = [s for s in label_sets if s[0] == "annotator"][:1]
    else:
        used = [s for s in label_sets if s[0] == "annotator"]
    if not used:
        return [], [], None, f"no {source} labels"
    if len(used) < min_label_sets:
        return used, [], None, f"fewer than {min_label_sets} label sets"
    per_set = [s[2].effective_ratings() for s in used]
    ratings = consensus(per_set, size)
    agreement = 1.0
    for index, rating in enumerate(ratings):
        if rating is None:
            continue
        votes = [r[index] for r in per_set if index < len(r) and r[index] is not None]
        agreement = min(agreement, sum(v == rating for v in votes) / len(votes))
    if agreement < min_agreement:
        return used, ratings, agreement, f"agreement below {min_agreement}"
    return used, ratings, agreement, None
