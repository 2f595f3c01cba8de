"""The set-up Progress tab in a real browser, served by daphne: the project's counts, ETA and each
annotator's work follow claims and submissions live, over the project's websocket, without a reload.

Annotators act through the services in the test process; the after-commit broadcast goes through Redis to
daphne's consumer, the page's socket gets the event and the page re-reads `GET …/progress/`.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotation.services import assignment_claim_next
from tests.annotation.test_project_live_browser import KEEP_SOCKETS, LIVE_MS, annotate_one_chain
from tests.annotation.test_setup_browser import shot
from tests.browser import log_in, off_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_progress_tab_follows_claims_and_submissions_live(imported, researcher, annotator, annotator2,
                                                         asgi_server, page):
    project = imported  # 20 chains, k = 2: 40 passes
    page.add_init_script(KEEP_SOCKETS)
    log_in(page, asgi_server, researcher.username)
    page.goto(asgi_server.url + reverse("setup-progress", args=[project.slug]))
    box = page.locator("#live-progress")
    expect(box).to_have_attribute("data-state", "live")
    # The page re-reads the progress once its socket is open; from then on only an event makes it change.
    expect(box).to_have_attribute("data-refreshes", re.compile(r"^[1-9]"))
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    ann1 = page.locator('#progress-members tr[data-user="ann1"]')
    ann2 = page.locator('#progress-members tr[data-user="ann2"]')
    expect(ann1.locator('[data-field="submitted"]')).to_have_text("0")
    expect(box.locator('[data-field="eta"]')).to_have_text("no estimate: no submissions in the last 24 hours")

    off_loop(annotate_one_chain, project=project, user=annotator)
    expect(ann1.locator('[data-field="submitted"]')).to_have_text("1", timeout=LIVE_MS)
    expect(ann1.locator('[data-field="submitted_last_24h"]')).to_have_text("1")
    expect(ann1.locator('[data-field="open"]')).to_have_text("0")
    expect(box.locator('[data-field="passes"]')).to_have_text("1 of 40 (39 to go)")
    expect(box.locator('[data-field="eta"]')).to_have_text("about 39 days at this pace")
    expect(box.locator('[data-field="chains"]')).to_have_text("0 of 20 chains fully annotated (0%)")

    # The second pass over the same chain completes it.
    off_loop(annotate_one_chain, project=project, user=annotator2)
    expect(box.locator('[data-field="chains"]')).to_have_text("1 of 20 chains fully annotated (5%)",
                                                             timeout=LIVE_MS)
    expect(ann2.locator('[data-field="submitted"]')).to_have_text("1")
    expect(box.locator('[data-field="eta"]')).to_have_text("about 19 days at this pace")

    # A claim alone shows as open work.
    off_loop(assignment_claim_next, project=project, user=annotator)
    expect(ann1.locator('[data-field="open"]')).to_have_text("1", timeout=LIVE_MS)

    assert page.evaluate("window.__sameDocument") is True
    assert page.evaluate("window.__sockets.length") == 1, "the socket should have stayed open"
    shot(page, "setup-progress")
