"""`export_dataset` for the release formats (math-shepherd, preference, openai-preference, parquet): the
project's labelled chains with every label set's consensus, as review/selectors.export_lines does for
prm800k, trl-stepwise and processbench. Streamed: a batch of chains at a time."""

from collections.abc import Iterator
from pathlib import Path

from annotation.models import Project

from . import releases_formats as rf
from .exporters import dumps_row
from .releases_build import _parquet_schema
from .selectors import chain_records

EXTRA_FORMATS = ("math-shepherd", "preference", "openai-preference", "parquet")


def export_extra_lines(*, project: Project, fmt: str) -> Iterator[bytes]:
    details = fmt in ("preference", "openai-preference")  # alternatives offered come with the details
    for record in chain_records(project=project, with_details=details):
        if fmt == "math-shepherd":
            try:
                row = rf.math_shepherd_row(record, record.consensus())
            except rf.FormatRefusal:
                continue  # a text with the step tag in it cannot be tagged faithfully (docs/releases.md)
            rows = [row] if row else []
        elif fmt == "preference":
            rows = rf.preference_rows(record)
        else:
            rows = rf.openai_preference_rows(record)
        for row in rows:
            yield dumps_row(row) + b"\n"


def export_parquet(*, project: Project, out: Path) -> int:
    """One Parquet file of the project's labelled chains (the release's Parquet columns, no split)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows, batch = 0, []
    with pq.ParquetWriter(out, _parquet_schema(), compression="zstd") as parquet:
        for record in chain_records(project=project, with_details=False):
            ratings = record.consensus()
            end = rf.labelled_prefix(ratings)
            batch.append({"id": record.source_id, "problem": record.problem, "steps": list(record.steps),
                          "ratings": ratings, "labels": [r is not None and r >= 0 for r in ratings[:end]],
                          "label": rf.processbench_row(record, ratings)["label"], "generator": record.source_model,
                          "provenance": "{}"})
            if len(batch) >= 1000:
                parquet.write_table(pa.Table.from_pylist(batch, schema=_parquet_schema()))
                rows += len(batch)
                batch = []
        if batch:
            parquet.write_table(pa.Table.from_pylist(batch, schema=_parquet_schema()))
            rows += len(batch)
    return rows
