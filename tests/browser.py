"""Browser tests' shared parts: Debian's Chromium through Playwright's sync API, a page that fails the test
on any script error, logging in through the form, and daphne serving the ASGI app for pages that need
websockets (pytest-django's `live_server` is WSGI).

Registered as a plugin in tests/conftest.py, so its fixtures (`browser`, `page`, `asgi_server`) reach every
test module; the helpers are imported from here.
"""

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import PASSWORD, ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 900}
TIMEOUT_MS = 10_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture
def browser(monkeypatch):
    # Per test, and requested after the data fixtures: while Playwright's loop runs in this thread,
    # the after-commit broadcasts of writes made here (imports) cannot run and only log an error
    # (write through `off_loop` when the broadcast matters).
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls a test makes between
    # browser steps are still plain blocking calls, which Django refuses under a running loop unless
    # told. Only for browser tests: elsewhere that refusal catches real mistakes.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh context (cookies, localStorage) per test; any uncaught script error or dialog fails the test.

    Problems are collected in `page.problems`; a test that expects one removes it from there.
    """
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1, locale="en-US", timezone_id="UTC",
                                  reduced_motion="reduce")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"uncaught script error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console error: {msg.text}") if msg.type == "error" else None)

    def on_dialog(dialog):
        problems.append(f"unexpected {dialog.type} dialog: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.problems = problems
    yield page
    context.close()
    # While Playwright's loop runs in this thread Django keeps the connection the test's own ORM calls
    # opened in a context variable, out of reach of pytest-django's cleanup: left open, it stops the
    # test database from being dropped at the end of the session.
    connections.close_all()
    assert not problems, problems


def log_in(page: Page, server, username: str) -> None:
    """Through the login form, from the redirect of the home page. `server` is `live_server` or `asgi_server`."""
    page.goto(server.url + "/")
    expect(page).to_have_url(f"{server.url}/login/?next=/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(server.url + "/")


def off_loop(write, /, **kwargs):
    """Run `write(**kwargs)` in another thread and return its result.

    For service calls whose after-commit broadcast must really leave: `async_to_sync` refuses to run
    in the thread where Playwright's loop runs. The thread's own database connection is closed before
    it ends, so the test database can still be dropped.
    """
    def run():
        try:
            return write(**kwargs)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


@dataclass(frozen=True)
class AsgiServer:
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


SERVER_POOL_SIZE = 4
SERVER_APP_NAME = "stepwise-test-daphne"


@pytest.fixture(scope="session")
def asgi_server(django_db_setup, tmp_path_factory):
    """`daphne config.asgi:application` in a subprocess, on the test database and the suite's Redis.

    Data a test writes must be committed to be seen there: use it with
    `@pytest.mark.django_db(transaction=True)`. One server for the session; stopped before the test
    database is dropped.
    """
    database = settings.DATABASES["default"]
    if "postgresql" not in database["ENGINE"] or not os.environ.get("DATABASE_URL"):
        pytest.skip("daphne runs in another process: it needs the PostgreSQL test database (set DATABASE_URL)")
    if not os.environ.get("REDIS_URL"):
        pytest.skip("broadcasts from the test process reach daphne only through Redis (set REDIS_URL)")
    test_database_url = urlsplit(os.environ["DATABASE_URL"])._replace(path="/" + database["NAME"]).geturl()
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    # Production's connection handling (docker-compose.yml): a pool of a few connections per process.
    env = {**os.environ, "DATABASE_URL": test_database_url, "DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": str(SERVER_POOL_SIZE),
           "PGAPPNAME": SERVER_APP_NAME,  # libpq's application_name: its connections can be told apart
           "DJANGO_SETTINGS_MODULE": "config.settings",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "platform"), os.environ.get("PYTHONPATH", "")])}
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with log.open("wb") as out:
        # Port 0: the system picks a free one; daphne prints it.
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", "0", "config.asgi:application"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"daphne exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            found = re.search(r"Listening on TCP address 127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
            port = int(found.group(1)) if found else None
            time.sleep(0.05)
        if port is None:
            pytest.fail(f"daphne did not start listening within 30 s:\n{log.read_text(errors='replace')}")
        yield AsgiServer(url=f"http://127.0.0.1:{port}", log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
