"""The workspace in Chromium against a real uvicorn process on PostgreSQL, SIGKILLed under it: while a save
is being handled (blocked inside its transaction, so it never commits), after a save was stored but before
its reply left, after a submit was stored but before its reply left, and the same for a skip. The page is
never reloaded: it says it is retrying, retries on its own with backoff once the server is back, every
rating lands once, the submit lands once (no 409 anywhere), nothing typed while the server was down is
lost, and the annotator goes on to the next chain."""

import json
import re
import threading
import time

import pytest
from django.db import connection, connections, transaction
from playwright.sync_api import Page, expect

from annotation.models import Annotation, Assignment, AssignmentStatus, StepLabel
from tests.browser import log_in
from tests.processes import WEB_APP_NAME

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A restart on this loaded 2-core machine takes a few seconds, and the page's backoff grows (1, 2, 4, 8 s):
# the page must be back within this after the server is.
RECOVERY_MS = 45_000


def ratings(assignment_id: int) -> dict[int, int]:
    return dict(StepLabel.objects.filter(assignment_id=assignment_id).values_list("step_key", "rating"))


def claim_next(page: Page, server) -> int:
    page.get_by_role("button", name="Annotate next chain").click()
    page.wait_for_url(re.compile(rf"^{re.escape(server.url)}/assignments/\d+/$"))
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "1")
    return int(page.url.rstrip("/").rsplit("/", 1)[1])


def expect_saved(page: Page, timeout: float = 10_000) -> None:
    expect(page.locator("#workspace")).to_have_attribute("data-save", "saved", timeout=timeout)
    expect(page.locator("#save-state")).to_have_text("All changes saved")


def stored_draft(page: Page, assignment_id: int) -> dict:
    """What the page keeps in localStorage for this assignment (its tab's unsaved labels, the comment)."""
    return page.evaluate("""(id) => Object.fromEntries(Object.keys(localStorage)
        .filter((k) => k.startsWith(`stepwise:ws:${id}:`)).map((k) => [k.split(':').slice(3).join(':'), localStorage[k]]))""",
                         assignment_id)


class RowLock:
    """The assignment's row locked FOR UPDATE by another connection, so the server's save blocks inside its
    transaction (read done, conditional UPDATE waiting): the kill then lands in the middle of the save."""

    def __init__(self, assignment_id: int):
        self.assignment_id = assignment_id
        self.locked = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                Assignment.objects.select_for_update().filter(pk=self.assignment_id).get()
                self.locked.set()
                self.release.wait(60)
        finally:
            connections.close_all()

    def __enter__(self) -> "RowLock":
        self.thread.start()
        assert self.locked.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(10)


def wait_for_blocked_server_query(timeout: float = 10) -> str:
    """The server's backend waiting on the row lock: its save (or submit) is in flight, uncommitted."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                           "AND application_name = %s AND wait_event_type = 'Lock'", [WEB_APP_NAME])
            row = cursor.fetchone()
        if row:
            return row[0]
        time.sleep(0.05)
    raise AssertionError("the server's request never reached the locked row")


def test_the_page_rides_out_the_web_process_killed_mid_save_and_mid_submit(web_process, imported, annotator, page):
    server = web_process().start()
    answers: list[tuple[int, str]] = []
    page.on("response", lambda r: answers.append((r.status, r.request.method + " " + r.url))
            if "/api/" in r.url else None)
    log_in(page, server, annotator.username)
    first = claim_next(page, server)
    page.keyboard.press("3")  # step 1: +1
    expect_saved(page)

    # 1. Killed while the save of step 2 is inside its transaction: nothing of it commits.
    with RowLock(first):
        page.keyboard.press("3")  # step 2: +1
        assert "UPDATE" in wait_for_blocked_server_query()
        server.kill()
    expect(page.locator("#save-state")).to_contain_text("retrying")
    expect(page.locator("#workspace")).to_have_attribute("data-save", "offline")
    assert ratings(first) == {0: 1}
    # Typed while the server is down: kept in the page and in localStorage until the server has it.
    page.keyboard.press("1")  # step 3: −1, the first error
    page.locator("#comment").fill("typed while the server was down")
    draft = stored_draft(page, first)
    assert draft["comment"] == "typed while the server was down"
    [tab] = [json.loads(v) for k, v in draft.items() if k.startswith("tab:")]
    assert tab["inflight"]["labels"] == [{"step": 1, "rating": 1}] and tab["pending"] == [[2, {"rating": -1}]]
    server = web_process(port=server.port).start()
    expect_saved(page, timeout=RECOVERY_MS)  # no reload: the page retried on its own
    assert ratings(first) == {0: 1, 1: 1, 2: -1}

    # 2. Killed after the save of a flag was stored, before its reply left: the retry is answered as stored.
    def stored_then_crash(route):
        route.fetch()  # the server stores it ...
        server.kill()  # ... and dies before the reply is sent
        route.abort("connectionreset")

    page.route("**/labels/", stored_then_crash, times=1)
    page.locator('#steps .step[data-index="2"]').focus()  # back from the comment to the current step
    page.keyboard.press("f")  # flag it
    expect(page.locator("#workspace")).to_have_attribute("data-save", "offline")
    assert StepLabel.objects.get(assignment_id=first, step_key=2).flagged  # stored before the crash
    version = Assignment.objects.get(pk=first).version
    server = web_process(port=server.port).start()
    expect_saved(page, timeout=RECOVERY_MS)
    assert Assignment.objects.get(pk=first).version == version  # replayed, not stored a second time

    # 3. Killed after the submit was stored, before its reply left: the page retries it, the server says
    # it is done, and the page carries on as after any submit.
    def submitted_then_crash(route):
        route.fetch()
        server.kill()
        route.abort("connectionreset")

    page.route("**/submit/", submitted_then_crash, times=1)
    page.locator('input[name=finish_reason][value="found_error"]').check()
    page.get_by_role("button", name="Submit").click()
    expect(page.locator("#submit-error")).to_contain_text("retrying")
    expect(page.locator("#done")).to_be_hidden()
    # While it waits for the server, the labels are held as they were submitted.
    expect(page.locator('#steps .step[data-index="0"] button.r').first).to_be_disabled()
    server = web_process(port=server.port).start()
    expect(page.locator("#done")).to_be_visible(timeout=RECOVERY_MS)
    expect(page.locator("#done")).to_contain_text("Submitted")
    assignment = Assignment.objects.get(pk=first)
    assert assignment.status == AssignmentStatus.SUBMITTED
    [annotation] = Annotation.objects.filter(assignment_id=first)
    assert (annotation.finish_reason, annotation.comment) == ("found_error", "typed while the server was down")
    assert ratings(first) == {0: 1, 1: 1, 2: -1}
    assert stored_draft(page, first) == {}  # nothing left behind once the server has it all

    # The annotator goes on: the next chain, rated and saved.
    page.keyboard.press("n")
    page.wait_for_url(lambda url: re.search(r"/assignments/\d+/$", url) and f"/{first}/" not in url)
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "1")
    second = int(page.url.rstrip("/").rsplit("/", 1)[1])
    page.keyboard.press("3")
    expect_saved(page)
    assert ratings(second) == {0: 1}
    assert Assignment.objects.filter(annotator=annotator, status=AssignmentStatus.SUBMITTED).count() == 1

    # 4. Skipping it, killed after the skip was stored: retried, answered as done (not "no longer open").
    def skipped_then_crash(route):
        route.fetch()
        server.kill()
        route.abort("connectionreset")

    page.route("**/skip/", skipped_then_crash, times=1)
    page.keyboard.press("s")
    page.get_by_label("Outside my expertise").check()
    page.get_by_role("button", name="Skip the chain").click()
    expect(page.locator("#skip-error")).to_contain_text("retrying")
    assert Assignment.objects.get(pk=second).status == AssignmentStatus.SKIPPED  # stored before the crash
    server = web_process(port=server.port).start()
    expect(page.locator("#done")).to_contain_text("Skipped", timeout=RECOVERY_MS)
    assert Assignment.objects.get(pk=second).skip_reason == "Outside my expertise"
    # Never a conflict or a server error on the way, in any answer the page got.
    assert not [a for a in answers if a[0] == 409 or a[0] >= 500], answers
    # The refused connections while the server was down are logged by Chromium as console errors.
    page.problems[:] = [p for p in page.problems
                        if "ERR_CONNECTION_REFUSED" not in p and "Failed to load resource" not in p
                        and "WebSocket" not in p]
