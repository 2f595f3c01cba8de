"""Passes executed by the project's own code against a real HTTP model server: results, malformed answers,
failures with reasons, retries that resume, caching, debates with checked quotes."""

import pytest

from annotation.exceptions import Conflict, ValidationFailed
from oversight.models import Critique, DebateTurn, DebateVerdict, OversightRun, RunStatus, SymbolicCheck
from oversight.services import run_request, run_retry, runs_execute, runs_request_for_chains
from tests.oversight.conftest import critic
from tests.oversight.fake_server import Reply, step_number

# The pass runner writes from its own thread: the data must be committed for it to see.
pytestmark = pytest.mark.django_db(transaction=True)


def test_critique_per_step_with_verified_quote_and_a_malformed_answer(chain, backend, model_server):
    model_server.script = critic(wrong_steps=(2,), malformed_steps=(3,))
    run, created = run_request(chain=chain, kind="critique", backend_name="fake")
    assert created and run.status == RunStatus.QUEUED
    [done] = runs_execute(run_ids=[run.pk])
    assert done.status == RunStatus.DONE and done.done == 3 and done.total == 3 and done.malformed == 1
    assert done.prompt_tokens == 300 and done.completion_tokens == 60
    got = {c.step_key: c for c in Critique.objects.filter(run=run)}
    assert got[0].verdict == "correct"
    assert got[1].verdict == "incorrect" and got[1].quote_verified is True and got[1].confidence == 0.8
    assert got[2].verdict == "malformed" and "no JSON object" in got[2].explanation and got[2].raw
    # The request carried the problem, the step before as context, and the schema.
    body = next(r for r in model_server.requests if step_number(r) == 2)  # sent concurrently: any order
    assert "Tom has 17 boxes" in body["messages"][1]["content"]
    assert "Step 1: Each box has 4 apples." in body["messages"][1]["content"]
    assert body["response_format"]["json_schema"]["schema"]["properties"]["verdict"]["enum"] == [
        "correct", "incorrect", "unsure"]


def test_a_quote_not_in_the_step_is_marked_unverified(chain, backend, model_server):
    model_server.script = lambda r: Reply(json={"verdict": "incorrect", "confidence": 0.6, "explanation": "x",
                                                "quote": "17 * 4 = 58"})
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    runs_execute(run_ids=[run.pk])
    assert set(Critique.objects.filter(run=run).values_list("quote_verified", flat=True)) == {False}


def test_asking_twice_is_cached_and_running_twice_changes_nothing(chain, backend, model_server):
    first, created = run_request(chain=chain, kind="critique", backend_name="fake")
    again, created_again = run_request(chain=chain, kind="critique", backend_name="fake")
    assert created and not created_again and first.pk == again.pk
    runs_execute(run_ids=[first.pk])
    runs_execute(run_ids=[first.pk])  # the message delivered twice
    assert len(model_server.requests) == 3 and Critique.objects.filter(run=first).count() == 3
    # Another config is another run.
    other, created = run_request(chain=chain, kind="critique", backend_name="fake", options={"context_chars": 10})
    assert created and other.pk != first.pk


def test_server_error_fails_the_run_with_the_reason_and_retry_resumes(chain, backend, model_server):
    # Step 3 fails last (the first failure cancels the run's requests still in flight).
    model_server.script = lambda r: (Reply(status=500, raw=b'{"error":"CUDA out of memory"}', delay=0.5)
                                     if "step 3" in r["messages"][1]["content"] else critic()(r))
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    [failed] = runs_execute(run_ids=[run.pk])
    assert failed.status == RunStatus.FAILED
    assert "HTTP 500" in failed.error and "CUDA out of memory" in failed.error
    kept = Critique.objects.filter(run=run).count()
    assert kept == 2
    model_server.script = critic()
    model_server.requests.clear()
    run_retry(run=failed)
    [done] = runs_execute(run_ids=[run.pk])
    assert done.status == RunStatus.DONE and Critique.objects.filter(run=run).count() == 3
    assert len(model_server.requests) == 1  # only the step that had no result
    with pytest.raises(Conflict, match="Only a failed run"):
        run_retry(run=done)


def test_timeouts_and_unreachable_fail_clearly(chain, backend, model_server):
    backend.timeout_seconds = 0.3
    backend.save()
    model_server.script = lambda r: Reply(json={}, delay=2)
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    [failed] = runs_execute(run_ids=[run.pk])
    assert failed.status == RunStatus.FAILED and failed.error.startswith("timeout: no answer from")
    backend.base_url = "http://127.0.0.1:9/v1"
    backend.save()
    other, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    [failed] = runs_execute(run_ids=[other.pk])
    assert failed.status == RunStatus.FAILED and "cannot connect" in failed.error


def test_symbolic_pass_finds_the_slip(chain):
    run, _ = run_request(chain=chain, kind="symbolic")
    [done] = runs_execute(run_ids=[run.pk])
    assert done.status == RunStatus.DONE and done.backend is None
    [check] = SymbolicCheck.objects.filter(run=run)
    assert check.step_key == 1 and check.outcome == "mismatch"
    assert check.findings[0]["lhs"] == "68" and check.findings[0]["rhs"] == "58"


def test_many_chains_in_one_batch(ov_project, backend, model_server):
    model_server.latency = 0.3  # long enough for the second run to be claimed while the first one's requests run
    ids = runs_request_for_chains(chains=ov_project.chains.all(), kind="critique", backend_name="fake")
    assert len(ids) == 2
    runs = runs_execute(run_ids=ids)
    assert [r.status for r in runs] == ["done", "done"] and model_server.peak == 4  # the backend's limit
    assert runs_request_for_chains(chains=ov_project.chains.all(), kind="critique", backend_name="fake") == ids


def test_no_backend_is_a_clear_error(chain):
    with pytest.raises(ValidationFailed, match="STEPWISE_MODEL_BASE_URL"):
        run_request(chain=chain, kind="critique")


def test_default_backend_from_the_environment(chain, model_server, settings):
    settings.STEPWISE_MODEL_BASE_URL = model_server.base_url
    settings.STEPWISE_MODEL_ID = "served-model"
    run, _ = run_request(chain=chain, kind="critique")
    assert run.backend.name == "default" and run.backend.model == "served-model"
    runs_execute(run_ids=[run.pk])
    assert model_server.requests[0]["model"] == "served-model"


@pytest.mark.parametrize("mode", ["sequential", "simultaneous"])
def test_debate_rounds_quotes_and_model_judge(chain, backend, model_server, mode):
    def script(request):
        system = request["messages"][0]["content"]
        if "You judge a debate" in system:
            return Reply(json={"verdict": "incorrect", "credence": 0.8, "reason": "68 is right."})
        if "You argue that it is CORRECT" in system:
            return Reply(json={"argument": "The step multiplies as asked.", "quotes": ["17 boxes of 4 apples"]})
        return Reply(json={"argument": "17 times 4 is 68.", "quotes": ["17 \\times 4 = 58", "17 x 4 = 58"]})
    model_server.script = script
    run, _ = run_request(chain=chain, kind="debate", backend_name="fake", step_key=1,
                         options={"rounds": 2, "mode": mode, "judge": "model"})
    [done] = runs_execute(run_ids=[run.pk])
    assert done.status == RunStatus.DONE and done.done == done.total == 5
    turns = list(DebateTurn.objects.filter(run=run).order_by("round", "side"))
    assert [(t.round, t.side) for t in turns] == [(1, "correct"), (1, "incorrect"), (2, "correct"), (2, "incorrect")]
    assert turns[0].quotes == [{"text": "17 boxes of 4 apples", "verified": True}]
    assert turns[1].quotes == [{"text": "17 \\times 4 = 58", "verified": True},
                               {"text": "17 x 4 = 58", "verified": False}]
    verdict = DebateVerdict.objects.get(run=run)
    assert verdict.judge_model == "fake-model" and verdict.verdict == "incorrect" and verdict.credence == 0.8
    if mode == "sequential":  # the second debater of round 1 saw the first one's argument
        assert "The step multiplies as asked." in model_server.requests[1]["messages"][1]["content"]


def test_debate_needs_a_step_of_the_revision(chain, backend):
    with pytest.raises(ValidationFailed, match="step_key"):
        run_request(chain=chain, kind="debate", backend_name="fake", step_key=99)
    assert not OversightRun.objects.exists()


def test_a_run_that_lost_its_worker_too_often_fails_saying_so(chain, backend):
    from oversight.services import runs_maintain

    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    OversightRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, attempts=3, heartbeat_at=None)
    assert runs_maintain(stale_seconds=0) == {"requeued": [], "failed": [run.pk]}
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "lost its worker 3 times" in run.error
