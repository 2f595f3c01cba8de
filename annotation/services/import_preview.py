"""What an import would do, before it is done: the first rows as they will be split, the counts, and every
bad line. Writes nothing.

The counts and the problems come from running the real import inside a transaction that is always
rolled back: the preview cannot disagree with the import (known ids with other content, changed
labels, repeated ids are found by the same code), and nothing of it is ever committed (the import's
after-commit broadcast is discarded with the transaction).
"""

import os
from typing import IO

from django.db import transaction

from ..exceptions import ValidationFailed
from ..formats import FORMATS, FileRefused, RowError, parse_rows
from ..models import Project
from .imports import _open, chains_import, file_size, import_limits

SAMPLE_ROWS = 5
SAMPLE_STEPS = 30
SAMPLE_CHARS = 600


class _RolledBack(Exception):
    def __init__(self, result):
        super().__init__("preview: rolled back")
        self.result = result


def _cut(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + " …"


def import_preview(*, project: Project, data: bytes | str | os.PathLike | IO[bytes], filename: str = "",
                   fmt: str = "auto", rows: int = SAMPLE_ROWS) -> dict:
    """{"ok", "format", "segmentation", "sample": [...], "result": counts | None, "errors": [...], "more": n}.

    `sample`: the first `rows` good rows with their steps as this project will split them (texts cut
    at 600 characters, at most 30 steps shown each). `errors`: every bad line (up to the import's
    limit of 1,000, then `more` counts the rest), each with line, field and message.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise ValidationFailed(f"'{fmt}' is not a format; use auto, {', '.join(FORMATS)}.", field="format")
    stream, size, owned = _open(data)
    try:
        if size == 0:
            raise ValidationFailed(f"{filename or 'The file'} is empty (0 bytes); choose the file again.", field="file")
        limits = import_limits()
        if size > limits.max_file_bytes:
            raise ValidationFailed(f"{filename or 'The file'} is {file_size(size)}; at most "
                                   f"{file_size(limits.max_file_bytes)} per import. Split the file.", field="file")
        start = stream.tell()
        sample, found, sample_errors = [], [], []
        for chain in parse_rows(stream, fmt=fmt, segmentation=project.segmentation, limits=limits,
                                errors=sample_errors, on_format=found.append):
            sample.append({
                "line": chain.line or None, "id": chain.source_id, "problem": _cut(chain.problem),
                "source_model": chain.source_model, "step_count": len(chain.steps),
                "split_from_text": bool(chain.raw_text), "segmentation": chain.segmentation or "given as steps",
                "steps": [_cut(text) for text in chain.steps[:SAMPLE_STEPS]],
                "labels": [labels.source for labels in chain.labels],
            })
            if len(sample) >= rows:
                break
        stream.seek(start)
        errors: list[RowError] = []
        more = 0
        result = None
        try:
            with transaction.atomic():
                outcome = chains_import(project=project, data=stream, fmt=fmt, filename=filename)
                raise _RolledBack(outcome)
        except _RolledBack as done:
            result = done.result.as_dict()
        except FileRefused as refused:
            errors, more = refused.errors, refused.more
        return {"ok": not errors, "filename": filename, "size": size,
                "format": result["format"] if result else (found[0] if found else fmt),
                "segmentation": project.segmentation, "sample": sample, "result": result,
                "errors": [e.as_dict() for e in errors], "more": more}
    finally:
        if owned:
            stream.close()
