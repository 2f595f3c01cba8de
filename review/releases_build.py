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
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from . import releases_formats as rf
from .exporters import ChainRecord, dumps_row, prm800k_lines

RELEASE_FORMATS = ("prm800k", "trl-stepwise", "processbench", "math-shepherd", "preference",
                   "openai-preference", "parquet", "oversight")
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
    """A file written in order, hashed as it is written (never read back).

    Lines are gathered and go to the file and the hash a megabyte at a time: one write(2) per line (5 KB)
    cost 2.5 times the system time of megabyte writes here (0.20 s against 0.08 s for 330 MB, page cache
    warm), and a hash update per line its own call.
    """

    FLUSH_BYTES = 1 << 20

    def __init__(self, root: Path, info: FileInfo, head: bytes = b"", hashed: bool = True):
        path = root / info.path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.info = info
        self.handle: BinaryIO = path.open("wb", buffering=0)
        self.digest = hashlib.sha256() if hashed else None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        if head:
            self._write(head)

    def _write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= self.FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        if self.digest is not None:
            self.digest.update(data)
        self.handle.write(data)
        self.info.bytes += len(data)

    def line(self, data: bytes) -> None:
        self._write(data + b"\n")
        self.info.rows += 1

    def lines(self, data: list[bytes]) -> None:
        """Several lines at once (a chain's prm800k rows)."""
        if data:
            self._write(b"\n".join(data) + b"\n")
            self.info.rows += len(data)

    def close(self, tail: bytes = b"") -> FileInfo:
        if tail:
            self._write(tail)
        self._flush()
        self.handle.close()
        self.info.sha256 = self.digest.hexdigest() if self.digest is not None else ""
        return self.info

    def append(self, path: Path, rows: int) -> None:
        """Another writer's closed file of the same kind after this one's lines (review/export_parts.py)."""
        self._append_range(path, 0, None)
        self.info.rows += rows

    def _append_range(self, path: Path, start: int, stop: int | None) -> None:
        """Bytes [start, stop) of `path` onto this file: copied by the kernel (copy_file_range: no round trip
        through Python's buffers, about a third of the time of read and write here) while a thread reads and
        hashes them (both let go of the interpreter lock), so both cores work."""
        self._flush()
        with path.open("rb") as handle:
            end = os.fstat(handle.fileno()).st_size if stop is None else stop
            if end <= start:
                return
            hasher, failed = None, []
            if self.digest is not None:
                hasher = threading.Thread(target=_hash_range, args=(self.digest, path, start, end, failed),
                                          name="release-merge-hash")
                hasher.start()
            try:
                _copy_range(handle, self.handle.fileno(), start, end)
            finally:
                if hasher is not None:
                    hasher.join()
            if failed:  # a hash that missed bytes must not be published as the file's
                raise OSError(f"{path}: hashing the appended part failed") from failed[0]
        self.info.bytes += end - start


def _hash_range(digest, path: Path, start: int, end: int, failed: list) -> None:
    # Its own reads, a megabyte at a time (a memory map would count the whole file in this process's memory).
    try:
        with path.open("rb", buffering=0) as handle:
            handle.seek(start)
            left = end - start
            while left > 0 and (block := handle.read(min(left, 1 << 20))):
                left -= len(block)
                digest.update(block)
        if left:
            raise OSError(f"{path} ended {left} bytes early")
    except BaseException as exc:  # reported by the caller after join
        failed.append(exc)


def _copy_range(source: BinaryIO, target: int, start: int, end: int) -> None:
    offset = start
    try:
        while offset < end:
            sent = os.copy_file_range(source.fileno(), target, end - offset, offset)
            if sent == 0:
                raise OSError(f"copy_file_range stopped at byte {offset} of {end}")
            offset += sent
    except OSError:  # a file system or kernel without it (EXDEV, EINVAL, ENOSYS): read and write the rest
        source.seek(offset)  # (what was copied moved the target's position along)
        while offset < end and (block := source.read(min(end - offset, 1 << 20))):
            offset += len(block)
            rest = memoryview(block)
            while rest:
                rest = rest[os.write(target, rest):]


class _JsonArrayFile(_HashedFile):
    def line(self, data: bytes) -> None:
        self._write((b"[\n" if self.info.rows == 0 else b",\n") + data)
        self.info.rows += 1

    def lines(self, data: list[bytes]) -> None:
        for one in data:
            self.line(one)

    def close(self, tail: bytes = b"") -> FileInfo:
        return super().close(b"[]\n" if self.info.rows == 0 else b"\n]\n")

    def append(self, path: Path, rows: int) -> None:
        # The other file is "[\n" row (",\n" row)* "\n]\n", or "[]\n" without rows: its rows go on this array.
        if rows == 0:
            return
        self._write(b"[\n" if self.info.rows == 0 else b",\n")
        self._append_range(path, 2, path.stat().st_size - 3)
        self.info.rows += rows


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
    hashed: bool = True  # off for a part another writer appends and hashes (review/export_parts.py)
    files: dict[tuple[str, str], _HashedFile] = field(default_factory=dict)
    left_out: dict[str, int] = field(default_factory=dict)
    chains: dict[str, int] = field(default_factory=dict)
    _parquet: dict[str, Any] = field(default_factory=dict)
    _parquet_rows: dict[str, list] = field(default_factory=dict)
    _parquet_info: dict[str, FileInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.selection = _HashedFile(self.root, FileInfo("selection.jsonl", "selection", ""), hashed=self.hashed)

    def _file(self, kind: str, split: str) -> _HashedFile:
        key = (kind, split)
        handle = self.files.get(key)
        if handle is None:
            if kind == "processbench":
                handle = _JsonArrayFile(self.root, FileInfo(f"processbench/{split}.json", kind, split),
                                        hashed=self.hashed)
            else:
                handle = _HashedFile(self.root, FileInfo(f"{kind}/{split}.jsonl", kind, split), hashed=self.hashed)
            self.files[key] = handle
        return handle

    def merge(self, root: Path, part: dict) -> None:
        """Append the closed files of the writer that wrote the chains after this one's (`root`, its result as
        review/releases._write_in_two returns it): each file goes on the end of this writer's of the same path."""
        for info in part["files"]:
            if info["kind"] == "selection":
                target = self.selection
            else:
                target = self._file(info["kind"], info["split"])
                if target.info.path != info["path"]:
                    raise ValueError(f"{info['path']}: no file of this release writes it")
            target.append(root / info["path"], info["rows"])
        for reason, count in part["left_out"].items():
            self.left_out[reason] = self.left_out.get(reason, 0) + count
        for split, count in part["chains"].items():
            self.chains[split] = self.chains.get(split, 0) + count

    def oversight_line(self, split: str, line: bytes) -> None:
        """A line of oversight/exporting.py's format, kept as it is."""
        self._file("oversight", split).line(line.rstrip(b"\n"))

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
                lines = builder(record, ratings, self.neutral, provenance)
            except rf.FormatRefusal as refusal:
                self.skip(f"{fmt}: {refusal}")
                continue
            if not lines and fmt in _STEPWISE:  # (most chains give no preference pair: not counted)
                self.skip(f"{fmt}: no labelled first step")
            handle.lines(lines)
        if "parquet" in self.formats:
            self._parquet_add(entry)

    # Parquet: a row group per `parquet_batch` chains, so memory stays flat.
    def _parquet_add(self, entry: Entry) -> None:
        record, ratings = entry.record, entry.ratings
        pb = rf.processbench_row(record, ratings, self.neutral)
        rows = self._parquet_rows.setdefault(entry.split, [])
        rows.append({"id": record.source_id, "problem": record.problem, "steps": list(record.steps),
                     "ratings": ratings, "labels": rf.stepwise_labels(ratings, self.neutral),
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

Lines = list[bytes]


def _with(row: dict | None, provenance: dict) -> Lines:
    return [] if row is None else [dumps_row({**row, "provenance": provenance})]


_STEPWISE = ("trl-stepwise", "math-shepherd")
_BUILDERS: dict[str, Callable[[ChainRecord, list, str, dict], Lines]] = {
    "prm800k": lambda r, ratings, n, p: prm800k_lines(r),
    "trl-stepwise": lambda r, ratings, n, p: _with(rf.trl_stepwise_row(r, ratings, n), p),
    "processbench": lambda r, ratings, n, p: _with(rf.processbench_row(r, ratings, n), p),
    "math-shepherd": lambda r, ratings, n, p: _with(rf.math_shepherd_row(r, ratings, n), p),
    "preference": lambda r, ratings, n, p: [dumps_row({**row, "provenance": p}) for row in rf.preference_rows(r)],
    "openai-preference": lambda r, ratings, n, p: [dumps_row(row) for row in rf.openai_preference_rows(r)],  # OpenAI refuses unknown keys
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
    if source == "adjudicated":
        # Reviewers' final labels override, step by step, the annotators' consensus (review/quality).
        final = next((s for s in label_sets if s[0] == "adjudicated"), None)
        if final is None:
            return [], [], None, "no adjudicated labels"
        annotators = [s for s in label_sets if s[0] == "annotator"]
        base = _consensus([_padded(s[2].effective_ratings(), size) for s in annotators], size)[0] if annotators \
            else [None] * size
        ratings = [f if f is not None else b for f, b in zip(_padded(final[2].ratings, size), base, strict=True)]
        final[2].ratings = ratings
        return [final, *annotators], ratings, None, None
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
    per_set = [_padded(s[2].effective_ratings(), size) for s in used]
    ratings, agreement = _consensus(per_set, size)
    if agreement < min_agreement:
        return used, ratings, agreement, f"agreement below {min_agreement}"
    return used, ratings, agreement, None


def _padded(ratings: list, size: int) -> list:
    return ratings[:size] if len(ratings) >= size else ratings + [None] * (size - len(ratings))


def _consensus(per_set: list[list], size: int) -> tuple[list[int | None], float]:
    """review.voting.consensus (most common rating per step, a tie to the lower) and the agreement
    (the lowest share of votes for the consensus over the rated steps).

    Votes are counted only on the steps where the label sets differ: the steps where every set gave the
    same rating (most steps of most chains) are their own consensus with a share of 1. A Counter on every
    step cost 0.5 ms per chain, numpy on the whole chain 0.1 ms; this is a few microseconds.
    """
    first = per_set[0]
    if all(other == first for other in per_set[1:]):
        return list(first), 1.0
    ratings = list(first)
    agreement = 1.0
    sets = len(per_set)
    for index, column in enumerate(zip(*per_set, strict=True)):
        if column.count(column[0]) == sets:
            continue  # every set alike (rated alike, or none rated it)
        counts: dict[int, int] = {}
        for rating in column:
            if rating is not None:
                counts[rating] = counts.get(rating, 0) + 1
        best = max(counts.values())
        ratings[index] = min(rating for rating, n in counts.items() if n == best)
        agreement = min(agreement, best / sum(counts.values()))
    return ratings, agreement
