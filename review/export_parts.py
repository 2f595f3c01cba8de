"""Long exports in two processes: the second half of the chains in a forked child, the first half here.

An export's time is Python building rows, chain after chain, on one core (the database's share is small:
docs/benchmarks.md). On PostgreSQL a project above `MIN_CHAINS` chains is cut at its median chain id; a
forked child writes the rows of the chains after it to a part file on its own connection (a backend of its
own), while this process writes the rows up to it, then appends the part. The bytes are those of one
process writing everything in chain order (tests/review/test_export_parts.py compares them).

Fork, not a new interpreter: the child starts in microseconds with the code already imported (a fresh
`manage.py` took 1.4 s of CPU here), and shares the parent's memory until either writes to it. The child
never touches the parent's database connections (their sockets are the parent's): it forgets them without
closing them, opens its own, and leaves with `os._exit` (no finalizer, atexit handler or Celery shutdown
runs in it). A release reads one snapshot: the child imports it (`pg_export_snapshot`).
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import os
import signal
import struct
import tempfile
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from django.conf import settings
from django.db import connection, connections

MIN_CHAINS = 20_000  # the default of settings.STEPWISE_EXPORT_SPLIT_MIN_CHAINS: below it a second process gains little
# Chains each of the two processes reads at a time: half of one process's batch (selectors.BATCH), so that two
# processes hold about what one did (measured: 17-22 MB less than full batches, ~10 % more CPU).
PART_BATCH = 500
_KEPT: list[Any] = []  # in a child: the parent's connections and pools, held so they are never closed


class PartFailed(RuntimeError):
    """The child writing a part of an export failed (its traceback is the message)."""


def can_split(*, parts: int) -> bool:
    """Whether an export may fork here: PostgreSQL (SQLite's file locks and the embedded default stay in one
    process), outside a transaction it would have to share, on a system with fork."""
    return parts > 1 and connection.vendor == "postgresql" and hasattr(os, "fork")


def median_chain_id(project_id: int, *, minimum: int = MIN_CHAINS) -> int | None:
    """The id cutting the project's chains in two halves, or None when it has fewer than `minimum` chains."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM annotation_chain WHERE project_id = %s", [project_id])
        total = cursor.fetchone()[0]
        if total < max(minimum, 2):
            return None
        cursor.execute("SELECT id FROM annotation_chain WHERE project_id = %s ORDER BY id OFFSET %s LIMIT 1",
                       [project_id, total // 2 - 1])
        return cursor.fetchone()[0]


def _forget_connections() -> None:
    """In a forked child: drop the parent's connections without closing them (closing would end the parent's
    sessions: the sockets are shared), so the next query opens the child's own, without a pool."""
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _KEPT.append(conn.connection)
        conn.connection = None
        conn.in_atomic_block = False
        conn.savepoint_ids = []
        conn.atomic_blocks = []
        conn.needs_rollback = False
        conn.closed_in_transaction = False
        conn.run_on_commit = []
        conn.savepoint_state = 0
        conn.commit_on_exit = True
        pools = getattr(type(conn), "_connection_pools", None)
        if pools and conn.alias in pools:
            _KEPT.append(pools.pop(conn.alias))
        options = {k: v for k, v in conn.settings_dict.get("OPTIONS", {}).items() if k != "pool"}
        conn.settings_dict = {**conn.settings_dict, "OPTIONS": options}


class Part:
    """`work(progress)` run in a forked child; it returns a JSON-able result, `progress(n)` publishes a count
    the parent reads with `done()`. `wait()` returns the result or raises PartFailed."""

    def __init__(self, work: Callable[[Callable[[int], None]], Any], *, directory: Path | None = None):
        self._counter = mmap.mmap(-1, 8)  # anonymous and shared: the child's progress
        fd, result = tempfile.mkstemp(prefix="stepwise-part-", suffix=".json", dir=directory)
        os.close(fd)
        self._result = Path(result)
        # Objects that exist now are left out of the child's garbage collections, so its collector does not
        # write to (and copy) every page it shares with this process; this process collects them as before.
        gc.freeze()
        self.pid = os.fork()
        if self.pid != 0:
            gc.unfreeze()
        if self.pid == 0:  # the child
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _forget_connections()
                value = work(self._progress)
                self._result.write_bytes(orjson.dumps({"ok": value}))
                code = 0
            except BaseException:
                with contextlib.suppress(BaseException):  # the parent then reports the exit status alone
                    self._result.write_bytes(orjson.dumps({"error": traceback.format_exc()}))
            finally:
                os._exit(code)
        self._waited = False

    def _progress(self, count: int) -> None:
        self._counter[:8] = struct.pack("<q", count)

    def done(self) -> int:
        return struct.unpack("<q", self._counter[:8])[0]

    def wait(self) -> Any:
        try:
            _pid, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:  # reaped by a SIGCHLD handler of the host process: the result file tells
            code = None
        self._waited = True
        try:
            outcome = orjson.loads(self._result.read_bytes() or b"{}")
        except (OSError, orjson.JSONDecodeError):
            outcome = {}
        finally:
            self._result.unlink(missing_ok=True)
        if code not in (0, None) or "ok" not in outcome:
            raise PartFailed(outcome.get("error") or f"the export's second process ended with status {code} "
                                                    "and no result")
        return outcome["ok"]

    def cancel(self) -> None:
        if self._waited:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self._waited = True
        self._result.unlink(missing_ok=True)


def append_file(target: BinaryIO, source: Path, *, skip: int = 0) -> None:
    """Append `source` (from byte `skip`) to the open `target`, in the kernel where it can."""
    target.flush()
    with source.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = skip
        try:
            while offset < size:
                sent = os.sendfile(target.fileno(), handle.fileno(), offset, size - offset)
                if sent == 0:
                    break
                offset += sent
        except (OSError, AttributeError, ValueError):  # a target sendfile cannot write (a socket wrapper, BytesIO)
            handle.seek(offset)
            while block := handle.read(1 << 20):
                target.write(block)


class _Lines:
    """Lines gathered and written a megabyte at a time (one write per row cost 2.5x the system time)."""

    def __init__(self, handle: BinaryIO):
        self.handle, self.pending, self.size, self.rows = handle, [], 0, 0

    def add(self, data: bytes) -> None:
        self.pending.append(data)
        self.size += len(data)
        self.rows += 1
        if self.size >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.handle.write(b"".join(self.pending))
            self.pending, self.size = [], 0


@dataclass(frozen=True)
class Written:
    rows: int
    processes: int


def export_write(*, project, fmt: str, handle: BinaryIO, parts: int = 2, min_chains: int | None = None,
                 on_rows: Callable[[int], None] | None = None, directory: Path | None = None) -> Written:
    """Write `fmt`'s export of the project to `handle` (the bytes of `selectors.export_lines`): in two
    processes when `can_split`, outside a transaction and with at least `min_chains` chains (default: the setting
    STEPWISE_EXPORT_SPLIT_MIN_CHAINS), else in this one.
    `on_rows(n)` is called every 1,000 rows with the rows written so far (both processes')."""
    from .selectors import row_lines

    if min_chains is None:
        min_chains = getattr(settings, "STEPWISE_EXPORT_SPLIT_MIN_CHAINS", MIN_CHAINS)
    split = (median_chain_id(project.pk, minimum=min_chains)
             if can_split(parts=parts) and not connection.in_atomic_block else None)
    array = fmt == "processbench"  # a JSON array, as ProcessBench ships; JSON Lines otherwise
    lines = _Lines(handle)

    def write(rows: Iterator[bytes], theirs: Callable[[], int]) -> None:
        for line in rows:
            lines.add(((b"[\n" if lines.rows == 0 else b",\n") + line) if array else line + b"\n")
            if on_rows and lines.rows % 1000 == 0:
                on_rows(lines.rows + theirs())
        lines.flush()

    if split is None:
        write(row_lines(project=project, fmt=fmt), lambda: 0)
        if array:
            handle.write(b"\n]\n" if lines.rows else b"[]\n")
        return Written(rows=lines.rows, processes=1)
    fd, name = tempfile.mkstemp(prefix="stepwise-export-", suffix=".part", dir=directory)
    os.close(fd)
    part_path = Path(name)

    def second_half(progress: Callable[[int], None]) -> int:
        # Every row with its separator before it (an array) or its newline after: the part goes on as it is.
        with part_path.open("wb") as out:
            theirs = _Lines(out)
            for line in row_lines(project=project, fmt=fmt, after=split, batch=PART_BATCH):
                theirs.add(b",\n" + line if array else line + b"\n")
                if theirs.rows % 1000 == 0:
                    progress(theirs.rows)
            theirs.flush()
            progress(theirs.rows)
            return theirs.rows

    connection.close()  # the child opens its own; this one reconnects on its next query
    part = Part(second_half, directory=directory)
    try:
        write(row_lines(project=project, fmt=fmt, upto=split, batch=PART_BATCH), part.done)
        mine, theirs = lines.rows, part.wait()
        if array and theirs:
            if not mine:
                handle.write(b"[\n")
            append_file(handle, part_path, skip=0 if mine else 2)  # no ",\n" before the array's first row
        elif not array:
            append_file(handle, part_path)
        if array:
            handle.write(b"\n]\n" if mine or theirs else b"[]\n")
        if on_rows:
            on_rows(mine + theirs)
        return Written(rows=mine + theirs, processes=2)
    finally:
        part.cancel()
        part_path.unlink(missing_ok=True)
