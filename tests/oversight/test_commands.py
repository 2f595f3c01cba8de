"""`manage.py run_pass` and `export_dataset --format oversight`, through call_command, against the fake server."""

import json
import socket

import pytest
from django.core.management import CommandError, call_command

from oversight.models import Critique, OversightRun, RunStatus
from tests.oversight.conftest import critic

pytestmark = pytest.mark.django_db(transaction=True)


def test_run_pass_critique_in_process_then_export(ov_project, backend, model_server, tmp_path, capsys):
    model_server.script = critic(wrong_steps=(2,), malformed_steps=(3,))
    call_command("run_pass", "--project", "ov", "--pass", "critique", "--backend", "fake", "--in-process",
                 "--no-progress")
    out = capsys.readouterr().out
    assert "2 run(s) done: 6 results, 2 malformed answers recorded as such." in out
    call_command("run_pass", "--project", "ov", "--pass", "symbolic", "--in-process", "--no-progress")
    path = tmp_path / "oversight.jsonl"
    call_command("export_dataset", "--project", "ov", "--format", "oversight", "--out", str(path), "--no-progress")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    critiques = [r for r in rows if r["pass"] == "critique" and r["chain_id"] == "c1"]
    assert [(r["step_index"], r["verdict"]) for r in critiques] == [(0, "correct"), (1, "incorrect"), (2, "malformed")]
    assert critiques[1]["confidence"] == 0.8 and critiques[1]["detail"]["quote_verified"] is True
    symbolic = [r for r in rows if r["pass"] == "symbolic" and r["chain_id"] == "c1"]
    assert [(r["step_index"], r["verdict"]) for r in symbolic] == [(1, "mismatch")]
    assert {"chain_id", "step_index", "pass", "verdict", "confidence", "detail"} <= set(rows[0])
    # Asked again: cached, nothing sent.
    sent = len(model_server.requests)
    call_command("run_pass", "--project", "ov", "--pass", "critique", "--backend", "fake", "--in-process",
                 "--no-progress")
    assert len(model_server.requests) == sent


def test_run_pass_unreachable_server_exits_non_zero_and_queues_nothing(ov_project, backend):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    backend.base_url = f"http://127.0.0.1:{port}/v1"
    backend.save()
    with pytest.raises(CommandError, match=r"Cannot reach the model server of backend 'fake'.*nothing was queued"):
        call_command("run_pass", "--project", "ov", "--pass", "critique", "--backend", "fake", "--no-progress")
    assert not OversightRun.objects.exists()


def test_run_pass_reports_failed_runs_and_a_rerun_retries_them(ov_project, backend, model_server):
    from tests.oversight.fake_server import Reply

    model_server.script = lambda r: Reply(status=500, raw=b"model crashed")
    with pytest.raises(CommandError, match=r"(?s)2 of 2 run\(s\) failed.*HTTP 500.*model crashed"):
        call_command("run_pass", "--project", "ov", "--pass", "critique", "--backend", "fake", "--in-process",
                     "--no-progress")
    model_server.script = critic()
    call_command("run_pass", "--project", "ov", "--pass", "critique", "--backend", "fake", "--in-process",
                 "--no-progress")
    assert set(OversightRun.objects.values_list("status", flat=True)) == {RunStatus.DONE}
    assert Critique.objects.count() == 6


def test_run_pass_refuses_bad_input(ov_project):
    with pytest.raises(CommandError, match="No project 'nope'"):
        call_command("run_pass", "--project", "nope", "--pass", "symbolic")
    with pytest.raises(CommandError, match="No chain zz"):
        call_command("run_pass", "--project", "ov", "--pass", "symbolic", "--chains", "zz")
    with pytest.raises(CommandError, match="STEPWISE_MODEL_BASE_URL"):
        call_command("run_pass", "--project", "ov", "--pass", "critique")
    with pytest.raises(CommandError, match="--step-index"):
        call_command("run_pass", "--project", "ov", "--pass", "debate", "--chains", "c1")


def test_run_pass_through_the_worker(ov_project, backend, model_server, worker_process, capsys):
    worker_process(queues="oversight").start()
    call_command("run_pass", "--project", "ov", "--pass", "critique", "--backend", "fake", "--no-progress")
    assert "2 run(s) done: 6 results" in capsys.readouterr().out
