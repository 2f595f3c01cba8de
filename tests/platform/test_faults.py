"""Faults, with real parts: the web server (uvicorn) killed mid-save, PostgreSQL connections dropped or the
database unreachable, Redis gone. Each proves nothing acknowledged is lost and the service recovers."""

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
