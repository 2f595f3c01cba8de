"""Real processes for tests that need them: a Celery worker in a subprocess, on the test database and
the suite's Redis, that a test can kill like a machine going away; uvicorn serving the app; moto's S3 server.

Registered as a plugin in tests/conftest.py.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from tests.conftest import ROOT


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a subprocess that must see what the test sees: the test database, Redis."""
    database = settings.DATABASES["default"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DB_CONN_MAX_AGE": "0",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform"), os.environ.get("PYTHONPATH", "")])}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + database["NAME"]).geturl()
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


def run_on_embedded_sqlite(script: str, var_dir: Path) -> dict:
    """`script` run by a fresh interpreter on the embedded default (SQLite and files under `var_dir`, no
    PostgreSQL, Redis or broker from the suite's environment); returns its last line of output, as JSON."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"}}
    env.update(STEPWISE_VAR_DIR=str(var_dir), DJANGO_SETTINGS_MODULE="config.settings",
               PYTHONPATH=f"{ROOT / 'platform'}:{ROOT}")
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class WorkerProcess:
    log: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    started: list = field(default_factory=list)
    queues: str = "default"

    def start(self) -> "WorkerProcess":
        handle = self.log.open("ab")
        # Its own process group: kill() takes the worker and any child with it, as a machine dying would.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", self.queues,
             "--loglevel=INFO", "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(self.process)
        deadline = time.monotonic() + 60  # a loaded 2-core machine has taken over 30 s
        while b"ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL: no warm shutdown, no acknowledgement, no cleanup."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@pytest.fixture
def worker_process(transactional_db, tmp_path):
    """A factory of Celery worker subprocesses (`.start()`, `.kill()`); all stopped at the end."""
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"] or not os.environ.get("REDIS_URL"):
        pytest.skip("a worker in another process needs the PostgreSQL test database and Redis")
    from config.celery import app

    app.control.purge()  # messages left by earlier tests would run first
    made: list[WorkerProcess] = []

    def make(queues: str = "default", **env: str) -> WorkerProcess:
        worker = WorkerProcess(log=tmp_path / f"worker-{len(made)}.log", env=subprocess_env(**env), queues=queues)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop()


WEB_APP_NAME = "stepwise-test-uvicorn"


@dataclass
class WebProcess:
    """`uvicorn config.asgi:application` in a subprocess (the production server), on the test database."""

    log: Path
    env: dict[str, str]
    workers: int = 1
    process: subprocess.Popen | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebProcess":
        if not self.port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--lifespan", "off", "--no-access-log"],
            cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"uvicorn did not start:\n{self.log.read_text(errors='replace')}") from None
                time.sleep(0.1)
        return self

    def kill(self) -> None:
        """SIGKILL, as a crash: no request finishes, nothing is flushed."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def web_process(transactional_db, tmp_path):
    """A factory of uvicorn subprocesses serving the app on the test database (`.start()`, `.kill()`)."""
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"] or not os.environ.get("DATABASE_URL"):
        pytest.skip("a web server in another process needs the PostgreSQL test database (set DATABASE_URL)")
    made: list[WebProcess] = []

    def make(*, workers: int = 1, port: int = 0, **env: str) -> WebProcess:
        # libpq's application_name tells the server's connections apart (a fault test ends only those).
        server = WebProcess(log=tmp_path / f"web-{len(made)}.log",
                            env=subprocess_env(**{"PGAPPNAME": WEB_APP_NAME, **env}), workers=workers, port=port)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


S3_BUCKET = "stepwise-uploads"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "test-only", "AWS_SECRET_ACCESS_KEY": "test-only-secret"}


@pytest.fixture
def s3_server(tmp_path):
    """moto's S3 server on a free port (a real HTTP server in its own process, standing in for MinIO), with
    the bucket made; yields its URL and a boto3 client."""
    import boto3

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (tmp_path / "moto.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"moto's server did not start:\n{(tmp_path / 'moto.log').read_text()}") from None
            time.sleep(0.1)
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", **{
        "aws_access_key_id": S3_KEYS["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": S3_KEYS["AWS_SECRET_ACCESS_KEY"]})
    client.create_bucket(Bucket=S3_BUCKET)
    yield url, client
    process.terminate()
    process.wait(10)
