"""End to end through real processes: a run asked for in this process goes through Redis to a Celery worker
(queue `oversight`) in another, which calls the fake model server over HTTP, stores the results and
broadcasts them through channels-redis to a real websocket of the chain's group."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from annotation.services import assignment_claim_next
from config.asgi import application
from oversight.models import Critique, RunStatus
from oversight.services import arm_draw, run_request
from tests.annotation.test_realtime import session_headers
from tests.oversight.conftest import critic
from tests.oversight.fake_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


async def events_until(communicator, done, timeout=30):
    seen = []
    async with asyncio.timeout(timeout):
        while not done(seen):
            seen.append(await communicator.receive_json_from(timeout=timeout))
    return seen


def finished(kind_status):
    return lambda seen: any(e["event"] == "run" and e["payload"]["status"] == kind_status for e in seen)


@pytest.mark.asyncio
async def test_critique_through_worker_reaches_the_websocket(worker_process, chain, ov_project, backend, model_server,
                                                             assisted_policy, ov_annotator):
    model_server.script = critic(wrong_steps=(2,), malformed_steps=(3,))
    model_server.latency = 0.05
    await sync_to_async(lambda: worker_process(queues="oversight").start())()
    assignment = await sync_to_async(assignment_claim_next)(project=ov_project, user=ov_annotator)
    assert (await sync_to_async(arm_draw)(assignment=assignment)).arm == "assisted"
    headers = await sync_to_async(session_headers)(ov_annotator)
    communicator = WebsocketCommunicator(application, f"/ws/oversight/chains/{chain.pk}/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    run, _ = await sync_to_async(run_request)(chain=chain, kind="critique", backend_name="fake")
    seen = await events_until(communicator, finished("done"))
    critiques = [c for e in seen if e["event"] == "results" for c in e["payload"]["critiques"]]
    assert sorted((c["stepKey"], c["verdict"]) for c in critiques) == [(0, "correct"), (1, "incorrect"),
                                                                      (2, "malformed")]
    wrong = next(c for c in critiques if c["stepKey"] == 1)
    assert wrong["quote"] == "17 \\times 4 = 58" and wrong["quoteVerified"] is True
    assert any(e["event"] == "run" and e["payload"]["status"] == "running" for e in seen)
    assert await sync_to_async(Critique.objects.filter(run=run).count)() == 3
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_a_failing_server_ends_failed_on_the_websocket(worker_process, chain, backend, model_server,
                                                             ov_researcher):
    model_server.script = lambda r: Reply(status=500, raw=b"internal error")
    await sync_to_async(lambda: worker_process(queues="oversight").start())()
    headers = await sync_to_async(session_headers)(ov_researcher)
    communicator = WebsocketCommunicator(application, f"/ws/oversight/chains/{chain.pk}/", headers=headers)
    assert (await communicator.connect())[0]
    run, _ = await sync_to_async(run_request)(chain=chain, kind="critique", backend_name="fake")
    seen = await events_until(communicator, finished("failed"))
    failed = next(e["payload"] for e in seen if e["event"] == "run" and e["payload"]["status"] == "failed")
    assert "HTTP 500" in failed["error"] and failed["id"] == run.pk
    await sync_to_async(run.refresh_from_db)()
    assert run.status == RunStatus.FAILED
    await communicator.disconnect()


@pytest.mark.asyncio
async def test_the_unassisted_arm_and_outsiders_cannot_join(chain, ov_annotator, outsider, ov_project):
    # No policy: the annotator's assignment is drawn unassisted, and the chain's group is closed to them.
    assignment = await sync_to_async(assignment_claim_next)(project=ov_project, user=ov_annotator)
    assert (await sync_to_async(arm_draw)(assignment=assignment)).arm == "unassisted"
    for user in (ov_annotator, outsider):
        headers = await sync_to_async(session_headers)(user)
        communicator = WebsocketCommunicator(application, f"/ws/oversight/chains/{chain.pk}/", headers=headers)
        connected, code = await communicator.connect()
        assert not connected and code == 4404
    anonymous = WebsocketCommunicator(application, f"/ws/oversight/chains/{chain.pk}/",
                                      headers=[(b"origin", b"http://localhost")])
    assert (await anonymous.connect()) == (False, 4401)


def test_a_run_whose_worker_died_is_taken_back_and_finished(worker_process, chain, backend, model_server):
    import time

    from oversight.services import runs_maintain

    backend.max_concurrency = 1
    backend.save()
    model_server.latency = 1.0
    first = worker_process(queues="oversight").start()
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    deadline = time.monotonic() + 30
    while not Critique.objects.filter(run=run).exists():
        assert time.monotonic() < deadline, "the worker stored nothing"
        time.sleep(0.1)
    first.kill()  # SIGKILL in the middle of the run: it stays "running" with one result stored
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert runs_maintain(stale_seconds=60) == {"requeued": [], "failed": []}  # its heartbeat is fresh
    assert runs_maintain(stale_seconds=0) == {"requeued": [run.pk], "failed": []}
    asked_before = len(model_server.requests)
    worker_process(queues="oversight").start()
    while run.status != RunStatus.DONE:
        assert time.monotonic() < deadline + 60, run.status
        time.sleep(0.2)
        run.refresh_from_db()
    assert Critique.objects.filter(run=run).count() == 3 and run.attempts == 2
    assert len(model_server.requests) - asked_before <= 2  # the stored step was not asked again
