"""An export in two processes (review/export_parts.py) writes the bytes one process writes, whatever the
format and wherever the labelled chains fall, and a forked child never disturbs this process's database
session (it holds the parent's sockets)."""

import io
import json
import os
import signal

import orjson
import pytest
from django.core.management import call_command
from django.db import connection

from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_submit,
    chains_import,
)
from review.export_parts import Part, PartFailed, export_write, median_chain_id
from review.selectors import export_lines
from tests.conftest import DEMO_DATA, FIXTURES

pytestmark = pytest.mark.django_db(transaction=True)  # outside a transaction: the only place an export forks

FORMATS = ("processbench", "trl-stepwise", "prm800k")


@pytest.fixture(autouse=True)
def _postgresql(db):
    if connection.vendor != "postgresql":
        pytest.skip("exports fork on PostgreSQL only")


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def labelled(i: int) -> bytes:
    return orjson.dumps({"id": f"c{i}", "problem": f"What is {i} + {i}?",
                         "steps": [f"{i} + {i} = {2 * i}.", f"So the answer is {2 * i + (i % 3 == 0)}.", "\u00e9 \u2211 \"q\""],
                         "label": 1 if i % 3 == 0 else -1, "final_answer_correct": i % 3 != 0})


def bare(i: int) -> bytes:
    return orjson.dumps({"id": f"b{i}", "problem": f"Bare {i}", "steps": ["a", "b"]})


def two_ways(project, fmt: str) -> tuple[bytes, bytes, int]:
    out = io.BytesIO()
    # BytesIO has no file descriptor: the part is appended by read and write (a file takes sendfile, below).
    written = export_write(project=project, fmt=fmt, handle=out, min_chains=2)
    assert written.processes == 2
    return out.getvalue(), b"".join(export_lines(project=project, fmt=fmt)), written.rows


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_processes_write_the_bytes_of_one(project, annotator, fmt, tmp_path):
    chains_import(project=project, data=b"\n".join(labelled(i) for i in range(61)), filename="a.jsonl")
    chains_import(project=project, data=(FIXTURES / "prm800k_sample.jsonl").read_bytes(), filename="p.jsonl")
    a = assignment_claim_next(project=project, user=annotator)  # an annotator's labels beside the imported
    a = assignment_labels_save(assignment=a, user=annotator, version=a.version,
                               labels=[LabelInput(0, -1, correction="fixed")])
    assignment_submit(assignment=a, user=annotator, finish_reason="found_error", version=a.version)
    forked, plain, rows = two_ways(project, fmt)
    assert forked == plain
    expected = len(orjson.loads(plain)) if fmt == "processbench" else plain.count(b"\n")
    assert rows == expected > 60
    # To a real file the part goes by sendfile(2); the command writes the same file.
    path = tmp_path / "out"
    with path.open("wb") as handle:
        export_write(project=project, fmt=fmt, handle=handle, min_chains=2)
    assert path.read_bytes() == plain


@pytest.mark.parametrize("first_half_labelled", [True, False])
def test_processbench_array_is_whole_when_one_half_has_no_rows(project, first_half_labelled):
    halves = [[labelled(i) for i in range(20)], [bare(i) for i in range(20)]]
    if not first_half_labelled:
        halves.reverse()
    for number, half in enumerate(halves):
        chains_import(project=project, data=b"\n".join(half), filename=f"{number}.jsonl")
    split = median_chain_id(project.pk, minimum=2)
    assert split is not None
    forked, plain, rows = two_ways(project, "processbench")
    assert forked == plain and rows == 20
    assert [r["id"] for r in json.loads(forked)] == [f"c{i}" for i in range(20)]


def test_a_project_with_no_labels_is_an_empty_array_in_two_processes(project):
    chains_import(project=project, data=b"\n".join(bare(i) for i in range(10)), filename="b.jsonl")
    forked, plain, rows = two_ways(project, "processbench")
    assert forked == plain == b"[]\n" and rows == 0


def test_small_projects_and_transactions_stay_in_one_process(project):
    chains_import(project=project, data=b"\n".join(labelled(i) for i in range(5)), filename="a.jsonl")
    assert export_write(project=project, fmt="trl-stepwise", handle=io.BytesIO()).processes == 1  # < MIN_CHAINS
    assert export_write(project=project, fmt="trl-stepwise", handle=io.BytesIO(), parts=1,
                        min_chains=2).processes == 1


def test_the_child_leaves_this_process_session_alone(project):
    chains_import(project=project, data=b"\n".join(labelled(i) for i in range(30)), filename="a.jsonl")
    connection.ensure_connection()

    def child_queries(progress):
        progress(7)
        return backend_pid()  # a query on the child's own connection

    part = Part(child_queries)
    theirs = part.wait()
    mine = backend_pid()  # this process's session still answers, on another backend than the child's
    assert theirs != mine and part.done() == 7
    export_write(project=project, fmt="prm800k", handle=io.BytesIO(), min_chains=2)
    assert backend_pid()  # and after a whole export in two processes


def test_a_child_that_fails_or_dies_is_reported():
    def fails(progress):
        raise ValueError("the part could not be written")

    with pytest.raises(PartFailed, match="the part could not be written"):
        Part(fails).wait()

    def dies(progress):
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(PartFailed, match="status -9"):
        Part(dies).wait()


def test_the_command_writes_the_same_file_with_one_or_two_processes(project, tmp_path, capsys, settings):
    settings.STEPWISE_EXPORT_SPLIT_MIN_CHAINS = 10  # a small project splits too
    chains_import(project=project, data=b"\n".join(labelled(i) for i in range(40)), filename="a.jsonl")
    outs = {}
    for processes in ("1", "2"):
        out = tmp_path / f"trl{processes}.jsonl"
        call_command("export_dataset", "--project", project.slug, "--format", "trl-stepwise", "--out", str(out),
                     "--no-progress", "--processes", processes)
        outs[processes] = out.read_bytes()
        assert "40 rows" in capsys.readouterr().out
    assert outs["1"] == outs["2"]


LINE_FORMATS = ["prm800k", "trl-stepwise", "processbench", "math-shepherd", "preference", "openai-preference"]


def test_a_release_in_two_processes_is_the_release_one_process_writes(project, annotator, settings, tmp_path):
    from review.releases import release_build, release_create, release_remake

    settings.MEDIA_ROOT = tmp_path / "media"
    for name in ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json"):
        chains_import(project=project, data=(DEMO_DATA / name).read_bytes())
    chains_import(project=project, data=(FIXTURES / "prm800k_sample.jsonl").read_bytes())
    a = assignment_claim_next(project=project, user=annotator)
    a = assignment_labels_save(assignment=a, user=annotator, version=a.version,
                               labels=[LabelInput(0, 1), LabelInput(1, -1, correction="better")])
    assignment_submit(assignment=a, user=annotator, finish_reason="found_error", version=a.version)

    def build(version, label_source):
        release = release_create(project=project, user=None, name="parts", version=version, formats=LINE_FORMATS,
                                 test_fraction=0.3, label_source=label_source)
        release = release_build(release_id=release.pk)
        assert release.status == "done", release.error
        return release

    for label_source in ("reference", "consensus"):
        settings.STEPWISE_EXPORT_SPLIT_MIN_CHAINS = 2
        two = build(f"2-{label_source}", label_source)
        settings.STEPWISE_EXPORT_SPLIT_MIN_CHAINS = 10**9
        one = build(f"1-{label_source}", label_source)
        assert (two.manifest["processes"], one.manifest["processes"]) == (2, 1)
        assert two.content_hash == one.content_hash
        assert {f["path"]: (f["sha256"], f["rows"]) for f in two.manifest["files"]} == \
            {f["path"]: (f["sha256"], f["rows"]) for f in one.manifest["files"]}
        assert two.manifest["counts"] == one.manifest["counts"]
        assert sum(two.manifest["counts"]["chains"].values()) > 0
        # and a re-make (one process, from the selection) gives the same sha256s
        check = release_remake(release=two, out=tmp_path / f"again-{label_source}")
        assert check["identical"]
        # as does a new release made from its selection (pinned) in two processes
        settings.STEPWISE_EXPORT_SPLIT_MIN_CHAINS = 2
        pinned = release_build(release_id=release_create(
            project=project, user=None, name="parts", version=f"2-{label_source}-again", formats=LINE_FORMATS,
            test_fraction=0.3, label_source=label_source, remade_from=two, enqueue=False).pk)
        chosen = sum(two.manifest["counts"]["chains"].values())  # a selection of one chain is not cut in two
        assert pinned.manifest["processes"] == (2 if chosen >= 2 else 1)
        assert pinned.content_hash == two.content_hash


def test_a_release_built_by_the_exports_worker_forks_and_gives_the_same_bytes(project, worker_process, settings):
    """A real Celery worker (its own process, the exports queue) builds the release in two processes; the same
    release built here in one gives the same sha256s."""
    import time

    from review.releases import release_build, release_create

    chains_import(project=project, data=b"\n".join(labelled(i) for i in range(50)), filename="a.jsonl")
    worker_process(queues="exports", STEPWISE_EXPORT_SPLIT_MIN_CHAINS="2").start()
    queued = release_create(project=project, user=None, name="worker", version="2", formats=LINE_FORMATS,
                            test_fraction=0.3)
    deadline = time.monotonic() + 90
    while (queued := type(queued).objects.get(pk=queued.pk)).status in ("queued", "building"):
        assert time.monotonic() < deadline, "the exports worker never built the release"
        time.sleep(0.2)
    assert queued.status == "done", queued.error
    settings.STEPWISE_EXPORT_SPLIT_MIN_CHAINS = 10**9
    here = release_build(release_id=release_create(project=project, user=None, name="worker", version="1",
                                                   formats=LINE_FORMATS, test_fraction=0.3, enqueue=False).pk)
    assert (queued.manifest["processes"], here.manifest["processes"]) == (2, 1)
    assert queued.content_hash == here.content_hash
