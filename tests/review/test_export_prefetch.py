"""On PostgreSQL, outside a transaction, an export reads its next batch of chains on a second connection
while the first batch is written (review/selectors.py). The file must be the one the plain path writes,
batch boundaries included, and the second connection must be closed when the export ends, also when the
reader stops early."""

import os
import threading
import time

import orjson
import pytest
from django.db import connection, transaction

from annotation.services import chains_import, project_create
from review.selectors import BATCH, export_lines

pytestmark = pytest.mark.django_db(transaction=True)

CHAINS = BATCH * 2 + 137  # several batches on either path (the prefetch reads half-size ones), the last short


APP_NAME = f"stepwise-prefetch-test-{os.getpid()}"


def prefetch_backends() -> int:
    """Connections opened under APP_NAME: the test sets it (libpq's PGAPPNAME) just before the export,
    so only the prefetch thread's connection carries it (this thread's was opened before; other processes
    of the suite never do)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [APP_NAME])
        return cursor.fetchone()[0]


def prefetch_backends_settle_at_zero() -> int:
    """The count once a closed backend has exited (it leaves pg_stat_activity a moment after its client
    hung up), or what it is after 5 s."""
    deadline = time.monotonic() + 5
    while (now := prefetch_backends()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


@pytest.fixture
def big_project(db):
    if connection.vendor != "postgresql":
        pytest.skip("the prefetch runs on PostgreSQL only")
    project = project_create(slug="prefetch", name="Prefetch")
    rows = [orjson.dumps({"id": f"c{i}", "problem": f"What is {i} + {i}?",
                          "steps": [f"{i} + {i} = {2 * i}.", f"So the answer is {2 * i + (i % 3 == 0)}."],
                          "label": 1 if i % 3 == 0 else -1, "final_answer_correct": i % 3 != 0})
            for i in range(CHAINS)]
    chains_import(project=project, data=b"\n".join(rows), filename="big.jsonl")
    return project


def test_the_prefetching_export_writes_what_the_plain_path_writes(big_project, monkeypatch):
    connection.ensure_connection()
    monkeypatch.setenv("PGAPPNAME", APP_NAME)
    lines = export_lines(project=big_project, fmt="processbench")
    head = next(lines)
    assert prefetch_backends() == 1  # the next batch is being read on a connection of its own
    overlapped = head + b"".join(lines)
    with transaction.atomic():  # inside a transaction the batches are read in turn on this connection
        plain = b"".join(export_lines(project=big_project, fmt="processbench"))
    assert overlapped == plain
    rows = orjson.loads(overlapped)
    assert [r["id"] for r in rows] == [f"c{i}" for i in range(CHAINS)]
    assert [r["label"] for r in rows] == [1 if i % 3 == 0 else -1 for i in range(CHAINS)]
    assert not any(t.name.startswith("export-prefetch") for t in threading.enumerate())
    assert prefetch_backends_settle_at_zero() == 0


def test_a_reader_that_stops_early_leaves_no_connection_behind(big_project, monkeypatch):
    connection.ensure_connection()
    monkeypatch.setenv("PGAPPNAME", APP_NAME)
    lines = export_lines(project=big_project, fmt="trl-stepwise")
    first = [next(lines) for _ in range(BATCH + 5)]  # a few batches in, the next one being read
    lines.close()
    assert orjson.loads(first[-1])["prompt"]
    assert not any(t.name.startswith("export-prefetch") for t in threading.enumerate())
    assert prefetch_backends_settle_at_zero() == 0
