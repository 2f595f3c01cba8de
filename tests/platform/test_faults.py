"""Faults, with real parts: the web server (uvicorn) killed mid-save, PostgreSQL connections dropped or the
database unreachable, Redis gone. Each proves nothing acknowledged is lost and the service recovers."""

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection
from django.test import Client

from annotation.models import Assignment, StepLabel
from annotation.services import assignment_claim_next
from tests.processes import WEB_APP_NAME


def call(url: str, method: str = "GET", body: dict | None = None, token: str = "", timeout: float = 10):
    """(status, JSON body) of a request; HTTP errors are answers too."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Accept": "application/json",
        **({"Authorization": f"Token {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return exc.code, parsed, dict(exc.headers)


def token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


@pytest.fixture
def claimed(transactional_db, imported, annotator):
    return assignment_claim_next(project=imported, user=annotator)


def test_a_save_whose_reply_was_lost_in_a_crash_lands_exactly_once(web_process, claimed, annotator):
    """The web process is SIGKILLed right after the save was sent; the page retries the same save (same
    version, same save_key) against the restarted server: answered as stored, never as a conflict, and the
    label is written once."""
    server = web_process().start()
    token = token_for(annotator)
    url = f"{server.url}/api/assignments/{claimed.pk}/labels/"
    body = {"version": claimed.version, "save_key": "crash-1", "active_seconds": 5,
            "labels": [{"step": 0, "rating": 1, "rationale": "kept through a crash"}]}
    host, port = server.url.removeprefix("http://").split(":")
    raw = json.dumps(body).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall((f"PATCH /api/assignments/{claimed.pk}/labels/ HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Token {token}\r\nContent-Type: application/json\r\n"
                      f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw)
        time.sleep(0.3)  # the save is being handled (or done); the reply is never read
        server.kill()
    restarted = web_process(port=server.port).start()
    status, answer, _ = call(url, "PATCH", body, token)
    assert status == 200, answer
    # Whether the first attempt committed or not, one save happened: version moved by one, one row.
    assignment = Assignment.objects.get(pk=claimed.pk)
    assert assignment.version == claimed.version + 1 and answer["version"] == assignment.version
    rows = list(StepLabel.objects.filter(assignment=claimed).values_list("rating", "rationale"))
    assert rows == [(1, "kept through a crash")]
    # And the page carries on: the next save with the new version is accepted.
    status, answer, _ = call(url, "PATCH", {"version": assignment.version, "save_key": "crash-2",
                                            "labels": [{"step": 1, "rating": 0}]}, token)
    assert status == 200 and answer["version"] == assignment.version + 1
    restarted.stop()


def _terminate_server_connections() -> int:
    """End the web server's PostgreSQL backends (a network drop, a failover); only its own, by
    application_name: the test process's other threads keep theirs."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND application_name = %s", [WEB_APP_NAME])
        return cursor.fetchone()[0]


def test_dropped_database_connections_answer_503_then_recover(web_process, claimed, annotator):
    # Persistent connections (as production keeps them): the server holds one across requests.
    server = web_process(DB_CONN_MAX_AGE="60").start()
    token = token_for(annotator)
    url = f"{server.url}/api/assignments/{claimed.pk}/"
    assert call(url, token=token)[0] == 200
    assert _terminate_server_connections() >= 1
    answers = [call(url, token=token) for _ in range(3)]
    statuses = [status for status, _, _ in answers]
    # At most the first request meets the dead connection: a clean 503 with JSON and Retry-After, no 500.
    assert 500 not in statuses and statuses[-1] == 200, answers
    for status, body, headers in answers:
        if status == 503:
            assert "database is unreachable" in body["detail"] and headers["Retry-After"] == "5"


def test_database_unreachable_is_a_json_503_for_the_api_and_a_page_for_browsers(web_process, claimed, annotator):
    # A database address where nothing listens: every request that needs it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    server = web_process(DATABASE_URL=f"postgres://postgres@127.0.0.1:{dead_port}/nothing").start()
    status, body, headers = call(f"{server.url}/api/projects/", token="0" * 40)
    assert status == 503 and "nothing was saved" in body["detail"] and headers["Retry-After"] == "5"
    # A signed-in browser (its session is read from the database).
    request = urllib.request.Request(f"{server.url}/projects/gsm8k/", headers={"Accept": "text/html",
                                                                              "Cookie": "sessionid=" + "a" * 32})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 503 and b"Temporarily unavailable" in refused.value.read()


def start_redis(directory, port: int = 0, *durable: str) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    if not port:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    persistence = list(durable) or ["--appendonly", "no"]
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", *persistence,
                                "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start") from None
            time.sleep(0.05)


def end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own (the suite's shared one must stay up), to kill."""
    process, port = start_redis(tmp_path)
    yield process, f"redis://127.0.0.1:{port}/0"
    end(process)


def test_labels_keep_saving_and_submits_land_while_redis_is_down(web_process, own_redis, claimed, annotator):
    """Redis carries broadcasts, the cache and the broker; none of them may stop a save or a submit."""
    process, redis_url = own_redis
    server = web_process(REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url).start()
    token = token_for(annotator)
    base = f"{server.url}/api/assignments/{claimed.pk}"
    status, first, _ = call(f"{base}/labels/", "PATCH", {"version": claimed.version, "save_key": "r1",
                                                         "labels": [{"step": 0, "rating": 1}]}, token)
    assert status == 200
    process.kill()
    process.wait()
    status, second, _ = call(f"{base}/labels/", "PATCH", {"version": first["version"], "save_key": "r2",
                                                          "labels": [{"step": 1, "rating": 1}]}, token, timeout=30)
    assert status == 200, second
    labels = [{"step": i, "rating": 1} for i in range(claimed.chain.step_count)]
    status, done, _ = call(f"{base}/submit/", "POST", {"version": second["version"], "finish_reason": "solution",
                                                       "labels": labels, "comment": ""}, token, timeout=30)
    assert status == 200, done
    assert Assignment.objects.get(pk=claimed.pk).status == "submitted"
    assert StepLabel.objects.filter(assignment=claimed, rating=1).count() == claimed.chain.step_count


def test_csrf_is_enforced_for_session_writes(claimed, annotator):
    """A cross-site form or script cannot write with the annotator's session: no CSRF token, 403."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator)
    response = client.patch(f"/api/assignments/{claimed.pk}/labels/", data={"version": 1, "labels": []},
                            content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert client.post(f"/projects/{claimed.chain.project.slug}/annotate/").status_code == 403



def test_queued_imports_survive_a_broker_restart(web_process, worker_process, tmp_path, project, researcher):
    """The broker as docker-compose.yml runs it (append-only file): an import queued while no worker runs
    is still queued after Redis is killed and restarted, and the worker that comes up imports it."""
    from annotation.models import Chain, ImportJob
    from tests.conftest import DEMO_DATA

    durable = ("--appendonly", "yes", "--appendfsync", "always")  # compose: everysec; always keeps the test exact
    redis, port = start_redis(tmp_path, 0, *durable)
    broker = f"redis://127.0.0.1:{port}/1"
    try:
        server = web_process(CELERY_BROKER_URL=broker, STEPWISE_IMPORT_SYNC_MAX_BYTES="100").start()
        client = Client()
        client.force_login(researcher)
        boundary = "b0undary"
        content = (DEMO_DATA / "processbench_gsm8k_excerpt.json").read_bytes()
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"gsm8k.json\"\r\n"
                "Content-Type: application/json\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"{server.url}/api/projects/{project.slug}/imports/", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                  "Authorization": f"Token {token_for(researcher)}"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            queued = json.loads(reply.read())
        assert reply.status == 202 and queued["status"] == "queued"
        end(redis)  # SIGKILL: no shutdown save
        redis, _ = start_redis(tmp_path, port, *durable)
        worker_process(CELERY_BROKER_URL=broker).start()
        deadline = time.monotonic() + 60
        while ImportJob.objects.get(pk=queued["id"]).status in ("queued", "running"):
            assert time.monotonic() < deadline, "the queued import never ran after the broker restart"
            time.sleep(0.2)
        job = ImportJob.objects.get(pk=queued["id"])
        assert job.status == "done" and job.attempts == 1, job.errors
        assert Chain.objects.filter(project=project).count() == 20
    finally:
        end(redis)


# --- oversight passes: the worker killed mid-pass, the model server failing ---------------------------

STEPS = 6


@pytest.fixture
def model_server():
    from tests.oversight.fake_server import FakeModelServer

    with FakeModelServer() as server:
        yield server


@pytest.fixture
def pass_chain(transactional_db, make_user, model_server):
    """A chain of STEPS steps, a backend on the fake model server (one request at a time, so a pass takes a
    while and stores its results one by one), and a researcher of the project."""
    from annotation.models import Chain, Role
    from annotation.services import chains_import, membership_set, project_create
    from oversight.models import ModelBackend

    project = project_create(slug="faults", name="Faults")
    row = {"id": "long", "problem": "Add the numbers 1 to 6.", "final_answer": "21",
           "steps": [f"Adding {i}: the sum is {i * (i + 1) // 2}." for i in range(1, STEPS + 1)]}
    chains_import(project=project, data=json.dumps([row]).encode(), fmt="stepwise", filename="long.json")
    ModelBackend.objects.create(name="fake", base_url=model_server.base_url, model="fake-model", timeout_seconds=5,
                                max_concurrency=1)
    researcher = make_user("pass-researcher")
    membership_set(project=project, user=researcher, role=Role.RESEARCHER)
    return Chain.objects.get(project=project), researcher


def run_as_the_api_shows_it(run, user) -> dict:
    client = Client()
    client.force_login(user)
    response = client.get(f"/api/oversight/runs/{run.pk}/")
    assert response.status_code == 200
    return response.json()


def wait_for(condition, what: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def assert_whole(run) -> None:
    """Nothing half-written: one critique per step at most, each a complete row, the run's count matching."""
    from oversight.models import Critique

    rows = list(Critique.objects.filter(run=run).values_list("step_key", "verdict", "explanation"))
    keys = [key for key, _, _ in rows]
    assert len(keys) == len(set(keys)), f"a step was critiqued twice: {sorted(keys)}"
    assert all(verdict in ("correct", "incorrect") and explanation for _, verdict, explanation in rows), rows
    run.refresh_from_db()
    assert run.done == len(rows), (run.done, len(rows))


def test_a_pass_whose_worker_keeps_dying_fails_saying_so_and_a_retry_finishes_it(worker_process, pass_chain,
                                                                                   model_server):
    """The worker is SIGKILLed in the middle of the pass, three times, each time after it stored one more
    result and while its next request is in flight; maintenance (Celery beat's runs_maintain, called here as
    it would be once the heartbeat is stale) takes the run back twice, then fails it with the reason. What
    was stored stays, each step once; a retry with a healthy worker asks only for the missing steps."""
    import threading

    from oversight.models import Critique, RunStatus
    from oversight.services import run_request, run_retry, runs_maintain

    chain, researcher = pass_chain
    healthy = model_server.script
    # The test decides how far each worker gets: `allowed` answers in all. A request of a worker that was
    # killed meanwhile (an older epoch) is answered into the void without using one up.
    gate = threading.Condition()
    state = {"epoch": 0, "allowed": 0, "used": 0}

    def gated(request):
        with gate:
            epoch = state["epoch"]
            gate.wait_for(lambda: state["epoch"] != epoch or state["used"] < state["allowed"], timeout=120)
            if state["epoch"] == epoch and state["used"] < state["allowed"]:
                state["used"] += 1
        return healthy(request)

    def change(**values):
        with gate:
            for key, value in values.items():
                state[key] += value
            gate.notify_all()

    model_server.script = gated
    model_server.latency = 0.6  # past the writer's flush interval: each answer is stored as it arrives
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    for attempt in range(1, 4):
        change(allowed=1)
        worker = worker_process(queues="oversight").start()
        wait_for(lambda n=attempt: Critique.objects.filter(run=run).count() == n, f"result {attempt}")
        worker.kill()  # its next request is waiting at the gate: killed in flight
        change(epoch=1)
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING and run.attempts == attempt
        assert_whole(run)
        outcome = runs_maintain(stale_seconds=0)
        assert outcome == ({"requeued": [run.pk], "failed": []} if attempt < 3 else
                           {"requeued": [], "failed": [run.pk]}), (attempt, outcome)
    shown = run_as_the_api_shows_it(run, researcher)
    assert shown["status"] == "failed" and "lost its worker 3 times" in shown["error"], shown
    assert Critique.objects.filter(run=run).count() == 3
    model_server.script = healthy
    asked = len(model_server.requests)
    run_retry(run=run)
    worker_process(queues="oversight").start()
    wait_for(lambda: (run.refresh_from_db() or run.status) == RunStatus.DONE, "the retried run to finish")
    assert_whole(run)
    assert Critique.objects.filter(run=run).count() == STEPS
    assert len(model_server.requests) - asked == STEPS - 3  # the stored steps were not asked again


def _slow(request):
    from tests.oversight.fake_server import Reply

    return Reply(json={"verdict": "correct", "confidence": 0.9, "explanation": "Fine.", "quote": ""}, delay=30)


def _garbage(request):
    from tests.oversight.fake_server import Reply

    return Reply(raw=b"<html><body><h1>502 Bad Gateway</h1></body></html>")  # a proxy in front of the GPU box


@pytest.mark.parametrize(("fault", "message"), [
    ("timeout", "timeout: no answer from"),
    ("garbage", "bad_response"),
    ("down", "unreachable"),
])
def test_a_failing_model_server_ends_the_pass_failed_with_the_reason(worker_process, pass_chain, model_server,
                                                                       fault, message):
    """Through a worker: the model server answers the first steps, then stops answering in time, answers
    garbage, or goes away. The run ends failed with a message that says which; the steps answered before
    are kept whole; once the server is healthy again a retry finishes the pass without asking twice."""
    from oversight.models import Critique, ModelBackend, RunStatus
    from oversight.services import run_request, run_retry
    from tests.oversight.fake_server import FakeModelServer

    chain, researcher = pass_chain
    ModelBackend.objects.filter(name="fake").update(timeout_seconds=1)
    healthy = model_server.script
    answered = {"n": 0}

    def script(request):
        answered["n"] += 1
        if answered["n"] <= 2:
            return healthy(request)
        if fault == "down":  # the third request is in flight when the machine goes away
            deadline = time.monotonic() + 60
            while not model_server.gone and time.monotonic() < deadline:
                time.sleep(0.05)
            return healthy(request)
        return {"timeout": _slow, "garbage": _garbage}[fault](request)

    model_server.script = script
    model_server.latency = 0.6  # past the writer's flush interval: each answer is stored as it arrives
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    worker_process(queues="oversight").start()
    port = model_server.httpd.server_address[1]
    if fault == "down":
        wait_for(lambda: Critique.objects.filter(run=run).count() == 2, "the first results")
        model_server.go_away()
    wait_for(lambda: (run.refresh_from_db() or run.status) not in (RunStatus.RUNNING, RunStatus.QUEUED),
             "the run to end", timeout=90)
    shown = run_as_the_api_shows_it(run, researcher)
    assert shown["status"] == "failed" and shown["error"].startswith(message), shown
    assert_whole(run)
    kept = Critique.objects.filter(run=run).count()
    assert kept == 2, kept
    # The server is healthy again (on the same address, for the one that went away).
    replacement = FakeModelServer(port=port).__enter__() if fault == "down" else None
    try:
        server = replacement or model_server
        server.script = healthy
        asked = len(server.requests)
        run_retry(run=run)
        wait_for(lambda: (run.refresh_from_db() or run.status) == RunStatus.DONE, "the retried run", timeout=60)
        assert_whole(run)
        assert Critique.objects.filter(run=run).count() == STEPS
        assert len(server.requests) - asked == STEPS - kept
    finally:
        if replacement:
            replacement.__exit__(None, None, None)


# --- websockets when Redis (the channel layer) goes away and comes back -------------------------------

def ws_connect(server, path: str, cookie: str):
    from websockets.sync.client import connect

    return connect(server.url.replace("http://", "ws://") + path, open_timeout=10,
                   additional_headers={"Cookie": cookie, "Origin": server.url})


@contextlib.contextmanager
def ws_reconnected(server, path: str, cookie: str, within: float = 20):
    """As a page does: reconnect with backoff until a socket is accepted and its first message, `resync`,
    comes (the web process's first use of a restarted Redis may still meet a dead pooled connection)."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    deadline = time.monotonic() + within
    while True:
        stack = contextlib.ExitStack()
        try:
            socket = stack.enter_context(ws_connect(server, path, cookie))
            first = json.loads(socket.recv(timeout=10))
            break
        except (ConnectionClosed, InvalidStatus) as exc:  # only while connecting: not the caller's errors
            stack.close()
            assert time.monotonic() < deadline, f"no socket was accepted after Redis came back: {exc!r}"
            time.sleep(0.5)
    with stack:
        assert first["event"] == "resync", first
        yield socket


def ws_events(socket, until, timeout: float = 15) -> list[dict]:
    seen = []
    deadline = time.monotonic() + timeout
    while not until(seen):
        seen.append(json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic()))))
    return seen


def submit_next(server, project, user) -> int:
    assignment = assignment_claim_next(project=project, user=user)
    labels = [{"step": i, "rating": 1} for i in range(assignment.chain.step_count)]
    status, body, _ = call(f"{server.url}/api/assignments/{assignment.pk}/submit/", "POST",
                           {"version": assignment.version, "finish_reason": "solution", "labels": labels},
                           token_for(user), timeout=30)
    assert status == 200, body
    return assignment.pk


def test_websockets_are_closed_when_redis_goes_and_catch_up_when_it_is_back(web_process, tmp_path, imported,
                                                                          annotator, annotator2):
    """A page's socket gets the project's events through Redis. Redis is SIGKILLed: the server closes the
    socket (1012, reconnect) instead of leaving it open and deaf; reconnecting while Redis is down is
    refused at once, not left hanging; the submit made meanwhile succeeds though no one is told. Redis
    comes back: the reconnected socket's first message is `resync`, the API read it asks for shows the
    missed submission, and events flow again."""
    from websockets.exceptions import ConnectionClosed

    redis, port = start_redis(tmp_path)
    redis_url = f"redis://127.0.0.1:{port}/0"
    try:
        server = web_process(REDIS_URL=redis_url, CELERY_BROKER_URL=redis_url).start()
        client = Client()
        client.force_login(annotator)
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        path = f"/ws/projects/{imported.slug}/"
        with ws_connect(server, path, cookie) as socket:
            assert json.loads(socket.recv(timeout=10))["event"] == "resync"
            first = submit_next(server, imported, annotator2)
            seen = ws_events(socket, lambda s: any(e["event"] == "assignment.submitted" for e in s))
            assert {"event": "assignment.submitted", "payload": {"assignment": first}} in seen
            end(redis)
            with pytest.raises(ConnectionClosed) as closed:
                ws_events(socket, lambda s: False, timeout=15)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, closed.value
        missed = submit_next(server, imported, annotator)  # saved; its broadcast is lost with Redis
        started = time.monotonic()
        with pytest.raises(ConnectionClosed) as refused, ws_connect(server, path, cookie) as socket:
            ws_events(socket, lambda s: False, timeout=15)
        assert refused.value.rcvd.code == 1013 and time.monotonic() - started < 15, refused.value
        redis, _ = start_redis(tmp_path, port)
        with ws_reconnected(server, path, cookie) as socket:
            # What the page does on resync: read the state. The submission made during the outage is there.
            status, mine, _ = call(f"{server.url}/api/projects/{imported.slug}/assignments/", token=token_for(annotator))
            assert status == 200
            assert any(a["id"] == missed and a["status"] == "submitted" for a in mine), mine
            later = submit_next(server, imported, annotator2)
            seen = ws_events(socket, lambda s: any(e["event"] == "assignment.submitted" for e in s))
            assert {"event": "assignment.submitted", "payload": {"assignment": later}} in seen
    finally:
        end(redis)
