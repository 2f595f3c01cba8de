"""A critique through the embedded llama.cpp model, end to end (run_pass, the real client, llama-server on the CPU).

Checks structure, never wisdom: a 135M model cannot judge mathematics. `make test` (so CI) builds the model
first and sets STEPWISE_EMBEDDED_REQUIRED=1: there a missing model fails the run. A bare `pytest` without
`make embedded-model` skips it."""

import os
import socket

import pytest
from django.core.management import call_command

from oversight import embedded
from oversight.models import Critique, ModelBackend, OversightRun, RunStatus, Verdict

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(not embedded.available() and not os.environ.get("STEPWISE_EMBEDDED_REQUIRED"),
                                 reason="the embedded model is not built: make embedded-model")]


@pytest.fixture
def llama_server(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    process = embedded.launch(port, tmp_path / "llama.log")
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(10)


def test_critique_through_the_embedded_model(ov_project, llama_server, capsys):
    ModelBackend.objects.create(name="embedded", base_url=llama_server, model=embedded.ALIAS, max_concurrency=2,
                                timeout_seconds=300, is_embedded=True, params={"temperature": 0})
    call_command("run_pass", "--project", "ov", "--pass", "critique", "--backend", "embedded", "--chains", "c1",
                 "--in-process", "--no-progress")
    assert "1 run(s) done" in capsys.readouterr().out
    run = OversightRun.objects.get()
    assert run.status == RunStatus.DONE and run.done == 3 and run.completion_tokens > 0
    for critique in Critique.objects.filter(run=run):
        assert critique.verdict in Verdict.values
        if critique.verdict != Verdict.MALFORMED:
            assert 0 <= critique.confidence <= 1 and isinstance(critique.explanation, str)
            assert critique.quote_verified in (None, True, False)
