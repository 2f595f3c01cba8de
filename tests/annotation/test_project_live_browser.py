"""The project page's live progress bar in a real browser, served by daphne (websockets need ASGI).

A researcher keeps the project page open; annotators claim, rate and submit chains through the services
in the test process; the after-commit broadcast goes through Redis to daphne's consumer, the page's
socket gets `assignment.submitted`, and the page re-reads the progress from the API, without a reload.
Also: a socket from someone outside the project is refused, and a page whose user lost access stops
reconnecting instead of retrying forever.
"""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from annotation.models import Assignment, FinishReason, Membership, Role
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_submit,
    membership_set,
)
from tests.browser import log_in, off_loop

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LIVE_MS = 5_000  # "within a few seconds": the broadcast, the page's API call and the repaint

# Keeps every socket the page opens in window.__sockets, so the test can see its state and drop it.
KEEP_SOCKETS = """
window.__sockets = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.__sockets.push(this); }
};
"""

# Opens a socket to `path` from the page and says how it went: "open", or "closed <code>".
PROBE = """(path) => new Promise((resolve) => {
  const socket = new WebSocket(`ws://${location.host}${path}`);
  socket.onopen = () => { socket.close(); resolve("open"); };
  socket.onclose = (close) => resolve(`closed ${close.code}`);
})"""


def annotate_one_chain(*, project, user) -> Assignment:
    """What an annotator does in the workspace, through the services: claim, rate every step +1, submit."""
    assignment = assignment_claim_next(project=project, user=user)
    steps = range(assignment.chain.step_count)
    assignment = assignment_labels_save(assignment=assignment, user=user, version=assignment.version,
                                        labels=[LabelInput(step=index, rating=1) for index in steps])
    return assignment_submit(assignment=assignment, user=user, finish_reason=FinishReason.SOLUTION,
                             version=assignment.version)


def is_progress_api(server, project):
    url = server.url + reverse("api-project", args=[project.slug])
    return lambda response: response.url == url


def open_project_page(page: Page, server, project) -> list:
    """Goes to the project page and returns the list of sockets it opens (Playwright's view, grows live).

    Returns once the socket is open and the page has re-read the progress it does on each (re)connection,
    so a later change can only come from an event.
    """
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket))
    with page.expect_response(is_progress_api(server, project)) as answer:
        page.goto(f"{server.url}/projects/{project.slug}/")
    assert answer.value.status == 200
    page.wait_for_function("window.__sockets.some((s) => s.readyState === WebSocket.OPEN)")
    return sockets


def take_problems(page: Page, pattern: str) -> list[str]:
    """Removes the collected console problems matching `pattern` (expected ones) and returns them."""
    taken = [problem for problem in page.problems if re.search(pattern, problem)]
    page.problems[:] = [problem for problem in page.problems if problem not in taken]
    return taken


def test_progress_follows_submissions_without_reload(imported, researcher, annotator, annotator2,
                                                     asgi_server, page):
    project = imported  # 20 chains, two annotator passes each (k = 2)
    page.add_init_script(KEEP_SOCKETS)
    log_in(page, asgi_server, researcher.username)
    sockets = open_project_page(page, asgi_server, project)
    progress = page.locator("#project-progress [aria-live]")
    bar = page.locator("#project-progress .progress span")
    expect(progress).to_have_text("0 of 20 chains fully annotated (0%)")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # The first pass reaches the page, which asks the API again; one pass of two leaves the chain open.
    with page.expect_response(is_progress_api(asgi_server, project), timeout=LIVE_MS):
        off_loop(annotate_one_chain, project=project, user=annotator)
    expect(progress).to_have_text("0 of 20 chains fully annotated (0%)")

    # The second pass over the same chain completes it.
    second = off_loop(annotate_one_chain, project=project, user=annotator2)
    assert second.chain_id == Assignment.objects.get(annotator=annotator).chain_id
    expect(progress).to_have_text("1 of 20 chains fully annotated (5%)", timeout=LIVE_MS)
    expect(bar).to_have_attribute("style", "width: 5%;")
    assert page.evaluate("window.__sameDocument") is True
    assert len(sockets) == 1, "the socket should have stayed open, without reconnecting"


def test_socket_refused_to_outsider_and_anonymous(project, outsider, asgi_server, page):
    path = f"/ws/projects/{project.slug}/"
    page.goto(asgi_server.url + "/login/")
    # Refused at the handshake (HTTP 403): a browser sees 1006, not the consumer's 4401/4404.
    assert page.evaluate(PROBE, path) == "closed 1006", "anonymous"
    log_in(page, asgi_server, outsider.username)
    assert page.evaluate(PROBE, path) == "closed 1006", "outsider"
    # The same user, once a member, gets through: the refusals above were about access.
    membership_set(project=project, user=outsider, role=Role.RESEARCHER)
    assert page.evaluate(PROBE, path) == "open"
    refused = take_problems(page, r"WebSocket connection to .*/ws/projects/gsm8k/' failed: .*response code: 403")
    assert len(refused) == 2, page.problems


def test_page_stops_reconnecting_once_access_is_gone(imported, researcher, asgi_server, page):
    project = imported
    page.add_init_script(KEEP_SOCKETS)
    log_in(page, asgi_server, researcher.username)
    sockets = open_project_page(page, asgi_server, project)
    progress = page.locator("#project-progress [aria-live]")
    expect(progress).to_have_text("0 of 20 chains fully annotated (0%)")

    Membership.objects.filter(project=project, user=researcher).delete()
    # The connection drops (a server restart, a network change): the page connects again, is
    # refused, learns from the API that the project is out of its reach, and stops there.
    with page.expect_response(is_progress_api(asgi_server, project), timeout=LIVE_MS) as answer:
        page.evaluate("window.__sockets[0].close()")
    assert answer.value.status == 404
    assert len(sockets) == 2
    # Backoff would try again 2 s after that refusal, then 4 s, ... forever: nothing comes.
    page.wait_for_timeout(3_000)
    assert len(sockets) == 2, "the page kept reconnecting to a project it cannot see"
    expect(progress).to_have_text("0 of 20 chains fully annotated (0%)")
    # The browser logs the refused socket and the API's 404; nothing else.
    assert len(take_problems(page, r"WebSocket connection to .*/ws/projects/gsm8k/' failed")) == 1, page.problems
    assert len(take_problems(page, r"Failed to load resource: .* status of 404")) == 1, page.problems
