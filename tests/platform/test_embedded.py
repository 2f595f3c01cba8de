"""Smoke test of the embedded default: SQLite, filesystem broker, a worker process, uvicorn. No services."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "annotation" / "demo" / "processbench_math_excerpt.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def embedded(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    env.update(STEPWISE_VAR_DIR=str(tmp_path / "var"), STEPWISE_IMPORT_SYNC_MAX_BYTES="0",
               PYTHONPATH=f"{ROOT / 'platform'}:{ROOT}")

    def manage(*args):
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    manage("migrate", "--noinput", "-v0")
    port = free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=threads",
                          "--concurrency=1", "-Q", "default", "--loglevel=WARNING"], cwd=tmp_path, env=env,
                         stdout=subprocess.DEVNULL, stderr=open(tmp_path / "worker.log", "w")),  # noqa: SIM115
        subprocess.Popen([sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
                          "--port", str(port), "--lifespan", "off"],
                         cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                         stderr=open(tmp_path / "web.log", "w")),  # noqa: SIM115
    ]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/health/", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError((tmp_path / "web.log").read_text()) from None
            time.sleep(0.3)
    try:
        yield manage, base, tmp_path
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=20)


def post_file(url, token, path):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: application/json\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Authorization": f"Token {token}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_embedded_default_serves_imports_on_the_worker_and_exports(embedded):
    manage, base, tmp_path = embedded
    assert json.loads(urllib.request.urlopen(base + "/health/").read())["database"] == "sqlite"
    assert (tmp_path / "var" / "stepwise.sqlite3").exists()
    manage("seed_demo")
    token = json.loads(urllib.request.urlopen(urllib.request.Request(
        base + "/api/auth/token/", data=b"username=researcher&password=stepwise-demo", method="POST")).read())["token"]
    manage("shell", "-c", "from annotation.services import project_create, membership_set;"
                          "from django.contrib.auth.models import User;"
                          "p = project_create(slug='smoke');"
                          "membership_set(project=p, user=User.objects.get(username='researcher'), role='researcher')")
    status, job = post_file(f"{base}/api/projects/smoke/imports/", token, DEMO)
    assert status == 202 and job["status"] == "queued"  # the request did not wait for the import
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
        time.sleep(0.3)
        request = urllib.request.Request(f"{base}/api/imports/{job['id']}/", headers={"Authorization": f"Token {token}"})
        job = json.loads(urllib.request.urlopen(request).read())
    assert job["status"] == "done" and job["result"]["chains_created"] == 10
    out = tmp_path / "smoke.json"
    manage("export_dataset", "--project", "smoke", "--format", "processbench", "--out", str(out), "--no-progress")
    assert json.loads(out.read_text()) == json.loads(DEMO.read_text())
    assert urllib.request.urlopen(base + "/static/vendor/katex/katex.min.js").status == 200
