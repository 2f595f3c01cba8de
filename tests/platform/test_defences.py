"""Defences in front of every view: body limits (before the body is read, in the real server), JSON depth,
401 with a challenge, security headers and no inline scripts, login throttling, the websocket Origin check."""

import json
import re
import socket
import time

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from config.security import websocket_origin_allowed
from config.throttle import throttle_reset
from tests.conftest import PASSWORD


def raw_request(url: str, head: str, body: bytes = b"", *, timeout: float = 10) -> tuple[int, dict, bytes, float]:
    """Send `head` (request line and headers) and `body` on a socket; return status, headers, body, seconds."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        top, _, rest = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return int(lines[0].split()[1]), headers, rest, time.monotonic() - started


# --- body limits, in uvicorn ----------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
def test_oversized_bodies_are_refused_before_they_are_read(web_process, project, researcher):
    server = web_process(STEPWISE_MAX_BODY_BYTES="65536", STEPWISE_UPLOAD_MAX_BYTES="1048576").start()
    # An anonymous 200 MB multipart POST: answered at once (only the headers were sent), no body read.
    status, headers, body, seconds = raw_request(server.url, (
        f"POST /api/projects/{project.slug}/imports/ HTTP/1.1\nHost: 127.0.0.1\n"
        "Content-Type: multipart/form-data; boundary=x\nContent-Length: 200000000\n"))
    assert status == 413 and seconds < 2
    answer = json.loads(body)
    assert answer["setting"] == "STEPWISE_UPLOAD_MAX_BYTES" and "Split the file" in answer["detail"]
    # Within the upload limit but over the small one, and anonymous: 401 with a challenge, body unread.
    status, headers, body, _ = raw_request(server.url, (
        f"POST /api/projects/{project.slug}/imports/ HTTP/1.1\nHost: 127.0.0.1\n"
        "Content-Type: multipart/form-data; boundary=x\nContent-Length: 500000\n"))
    assert status == 401 and headers["www-authenticate"].startswith("Token")
    assert "signed-in user" in json.loads(body)["detail"]
    # A JSON body over the small limit, to any URL: 413 naming the setting.
    status, _, body, _ = raw_request(server.url, (
        "POST /api/auth/token/ HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\nContent-Length: 70000\n"))
    assert status == 413 and json.loads(body)["setting"] == "STEPWISE_MAX_BODY_BYTES"
    # Chunked (no length): counted as it arrives and cut off at the limit.
    chunk = b"a" * 40000
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3)) + b"0\r\n\r\n"
    status, _, body, _ = raw_request(server.url, (
        "POST /api/auth/token/ HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/json\n"
        "Transfer-Encoding: chunked\n"), chunked)
    assert status == 413 and "at most 64 KiB" in json.loads(body)["detail"]
    # A browser's form post over the limit gets a page, not JSON.
    status, headers, body, _ = raw_request(server.url, (
        "POST /login/ HTTP/1.1\nHost: 127.0.0.1\nContent-Type: application/x-www-form-urlencoded\n"
        "Content-Length: 70000\n"))
    assert status == 413 and headers["content-type"].startswith("text/html") and b"STEPWISE_MAX_BODY_BYTES" in body
    # The server is still answering normally.
    status, _, body, _ = raw_request(server.url, "GET /health/ HTTP/1.1\nHost: 127.0.0.1\n")
    assert status == 200


@pytest.mark.django_db(transaction=True)
def test_a_signed_in_researcher_uploads_within_the_upload_limit(web_process, project, researcher):
    server = web_process(STEPWISE_MAX_BODY_BYTES="1024").start()
    client = Client()
    client.force_login(researcher)
    session = client.cookies["sessionid"].value
    content = (b'{"id": "c1", "problem": "1+1?", "steps": ["1+1=2"], "answer": "2"}\n') * 40
    boundary = "stepwiseboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    # No CSRF token: the request is refused by Django's CSRF check, i.e. it got past the size limit.
    status, _, answer, _ = raw_request(server.url, (
        f"POST /api/projects/{project.slug}/imports/ HTTP/1.1\nHost: 127.0.0.1\nCookie: sessionid={session}\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\nContent-Length: {len(body)}\n"), body)
    assert status == 403 and b"CSRF" in answer


# --- JSON, challenges, headers -------------------------------------------------------------------------

def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [40, 5000, 100_000])
def test_deeply_nested_json_is_a_clear_400_everywhere(depth, project, annotator, api_client):
    anonymous = Client().post("/api/auth/token/", data=nested(depth), content_type="application/json")
    assert anonymous.status_code == 400 and "nests deeper than 32 levels" in anonymous.json()["detail"]
    signed_in = api_client(annotator).patch("/api/assignments/1/labels/", data=nested(depth),
                                            content_type="application/json")
    assert signed_in.status_code == 400 and "flatter" in signed_in.json()["detail"]


@pytest.mark.django_db
def test_invalid_json_names_the_problem(annotator, api_client):
    response = api_client(annotator).patch("/api/assignments/1/labels/", data=b'{"labels": [', content_type="application/json")
    assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]


@pytest.mark.django_db
def test_anonymous_api_calls_get_401_with_a_challenge(project):
    response = Client().get(reverse("api-project", args=[project.slug]))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


@pytest.mark.django_db
def test_security_headers_on_pages_and_api(client, annotator):
    client.force_login(annotator)
    for url in ("/", "/login/", "/api/projects/", "/api/docs/"):
        response = client.get(url)
        csp = response["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0], url
        assert "frame-ancestors 'none'" in csp
        assert response["Permissions-Policy"].startswith("accelerometer=()")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)


@pytest.mark.django_db
def test_no_page_carries_an_inline_script(client, imported, annotator):
    from annotation.services import assignment_claim_next

    assignment = assignment_claim_next(project=imported, user=annotator)
    client.force_login(annotator)
    for url in ("/", f"/projects/{imported.slug}/", f"/projects/{imported.slug}/history/",
                f"/assignments/{assignment.pk}/", "/api/docs/"):
        html = client.get(url).content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html))
    Client().get("/login/")
    assert not INLINE_SCRIPT.search(Client().get("/login/").content.decode())


# --- login throttling ----------------------------------------------------------------------------------

@pytest.fixture
def fresh_cache():
    # Only the throttle's keys: the same Redis database carries the channel layer of running servers.
    throttle_reset()
    yield
    throttle_reset()


@pytest.mark.django_db
def test_login_form_is_throttled_after_five_failures(fresh_cache, annotator, settings):
    client = Client()
    for _ in range(settings.STEPWISE_LOGIN_MAX_FAILURES):
        assert client.post("/login/", {"username": "ann1", "password": "wrong"}).status_code == 200
    locked = client.post("/login/", {"username": "ann1", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session  # even the right password is refused while locked
    # Another account from the same address is still let in (the per-address limit is higher).
    other = Client().post("/login/", {"username": "nobody", "password": "x"})
    assert other.status_code == 200


@pytest.mark.django_db
def test_token_endpoint_is_throttled_and_shares_the_count(fresh_cache, annotator, settings):
    client = Client()
    for _ in range(settings.STEPWISE_LOGIN_MAX_FAILURES - 1):
        response = client.post("/api/auth/token/", {"username": "ann1", "password": "wrong"},
                               content_type="application/json")
        assert response.status_code == 400
    assert client.post("/login/", {"username": "ann1", "password": "wrong"}).status_code == 200
    locked = client.post("/api/auth/token/", {"username": "ann1", "password": PASSWORD},
                         content_type="application/json")
    assert locked.status_code == 429 and "try again in" in locked.json()["detail"]


@pytest.mark.django_db
def test_a_success_resets_the_count(fresh_cache, annotator, settings):
    client = Client()
    for _ in range(settings.STEPWISE_LOGIN_MAX_FAILURES - 1):
        client.post("/api/auth/token/", {"username": "ann1", "password": "wrong"}, content_type="application/json")
    ok = client.post("/api/auth/token/", {"username": "ann1", "password": PASSWORD}, content_type="application/json")
    assert ok.status_code == 200 and len(ok.json()["token"]) == 40
    again = client.post("/api/auth/token/", {"username": "ann1", "password": "wrong"}, content_type="application/json")
    assert again.status_code == 400


# --- websocket Origin ----------------------------------------------------------------------------------

def ws_scope(origin: str | None, host: str | None, scheme: str = "ws") -> dict:
    headers = [(b"host", host.encode())] if host else []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(("origin", "host", "allowed"), [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("http://127.0.0.1:9999", "127.0.0.1:8000", False),  # same host, other port: another site
    ("http://localhost", "localhost:80", True),
    ("https://127.0.0.1:8000", "127.0.0.1:8000", False),  # scheme differs from the connection's
    ("http://evil.example:8000", "127.0.0.1:8000", False),
    (None, "127.0.0.1:8000", False),
    ("null", "127.0.0.1:8000", False),
    ("http://evil.example", "evil.example", False),  # not an allowed host
])
def test_websocket_origin_must_match_host_and_port(origin, host, allowed):
    assert websocket_origin_allowed(ws_scope(origin, host)) is allowed


def test_websocket_origin_behind_tls_proxy(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    scope = ws_scope("https://localhost", "localhost")
    scope["headers"].append((b"x-forwarded-proto", b"https"))
    assert websocket_origin_allowed(scope)
    settings.CSRF_TRUSTED_ORIGINS = ["https://stepwise.example.org"]
    assert websocket_origin_allowed(ws_scope("https://stepwise.example.org", "10.0.0.5:8000"))


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    """`manage.py check --deploy` with DEBUG off and what .env.example asks for: no security warning.
    (Only the security checks: drf-spectacular's schema warnings about views are another matter.)"""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update({"DEBUG": "false", "SECRET_KEY": "x" * 20 + "-Production-Like-Secret-Of-Enough-Length-1234567890",
                "ALLOWED_HOSTS": "stepwise.example.org", "STEPWISE_VAR_DIR": str(tmp_path),
                # The two HSTS choices a deployer makes for their domain (docs/deployment.md).
                "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true",
                "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform")])})
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


@pytest.mark.django_db
def test_throttle_reset_forgets_failures_and_nothing_else(fresh_cache, annotator, settings):
    client = Client()
    for _ in range(settings.STEPWISE_LOGIN_MAX_FAILURES):
        client.post("/api/auth/token/", {"username": "ann1", "password": "wrong"}, content_type="application/json")
    cache.set("stepwise-test-unrelated", 1, 60)
    assert throttle_reset() >= 1
    ok = client.post("/api/auth/token/", {"username": "ann1", "password": PASSWORD}, content_type="application/json")
    assert ok.status_code == 200
    assert cache.get("stepwise-test-unrelated") == 1
    cache.delete("stepwise-test-unrelated")
