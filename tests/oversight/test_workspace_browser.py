"""The oversight extension in the annotation workspace, in Chromium: daphne (websockets), a Celery worker on
queue `oversight`, the fake model server over HTTP. Critiques and symbolic mismatches arrive on the right
steps while the annotator works; a rating is saved; a debate shows verified and unverified quotes and the
annotator's verdict is stored.

With STEPWISE_SCREENSHOTS=1 the screenshots replace docs/screenshots/oversight-*.png.
"""

import os

import pytest
from playwright.sync_api import expect

from annotation.services import assignment_claim_next
from oversight.models import AssistanceRating, DebateVerdict, OversightRun
from oversight.services import run_request
from tests.annotation.test_workspace_browser import open_workspace, row
from tests.browser import log_in, off_loop
from tests.conftest import ROOT
from tests.oversight.conftest import critic
from tests.oversight.fake_server import Reply, step_number

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def debate_or_critic(request):
    system = request["messages"][0]["content"]
    if "You argue that it is CORRECT" in system:
        return Reply(json={"argument": "Four apples per box, seventeen boxes: the step follows.",
                           "quotes": ["17 boxes of 4 apples"]})
    if "You argue that it is INCORRECT" in system:
        return Reply(json={"argument": "17 × 4 is 68; the step writes 58. <script>window.__xss=1</script>",
                           "quotes": ["17 \\times 4 = 58", "17 * 4 = 68"]})
    if step_number(request) == 2:
        return Reply(json={"verdict": "incorrect", "confidence": 0.85,
                           "explanation": "<img src=x onerror=window.__xss=2> 17 × 4 = 68, not 58.",
                           "quote": "17 \\times 4 = 58"})
    return critic(wrong_steps=())(request)


@pytest.fixture
def shots(tmp_path):
    return ROOT / "docs" / "screenshots" if os.environ.get("STEPWISE_SCREENSHOTS") == "1" else tmp_path


def test_critiques_arrive_live_are_rated_and_a_debate_is_judged(asgi_server, worker_process, model_server,
                                                                ov_project, chain, assisted_policy, ov_annotator,
                                                                page, shots):
    model_server.script = debate_or_critic
    model_server.latency = 0.2  # slow enough to see the progress
    worker_process(queues="oversight").start()
    assignment = assignment_claim_next(project=ov_project, user=ov_annotator)
    log_in(page, asgi_server, ov_annotator.username)
    open_workspace(page, asgi_server, assignment.pk)
    expect(page.locator("#ws-ext-status")).to_contain_text("oversight: no model passes yet")
    page.keyboard.press("3")  # the annotator works meanwhile
    # A researcher starts the passes; the results arrive over the websocket while the page is open.
    off_loop(run_request, chain=chain, kind="symbolic")
    off_loop(run_request, chain=chain, kind="critique", backend_name="fake")
    note = row(page, 1).locator(".note", has_text="Critic: incorrect (85%)")
    expect(note).to_be_visible(timeout=30_000)
    expect(note).to_contain_text("<img src=x onerror=window.__xss=2>")  # shown as text
    expect(note).to_contain_text("(quoted from the step)")
    expect(row(page, 1).locator(".note", has_text="Symbolic check: mismatch")).to_contain_text(
        "the left side is 68, the right side 58")
    expect(row(page, 0).locator(".note")).to_have_count(0)  # "correct" verdicts add no note
    expect(page.locator(".ov-run", has_text="critique (fake): done 3/3")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(shots / "oversight-critique.png"))
    # Rating the critique is saved.
    note.get_by_role("button", name="Helpful").click()
    expect(row(page, 1).locator(".note", has_text="you said helpful")).to_be_visible()
    critique_rating = AssistanceRating.objects.get(assignment=assignment, critique__isnull=False)
    assert critique_rating.rating == "helpful" and not critique_rating.dismissed
    row(page, 1).locator(".note", has_text="Symbolic check").get_by_role("button", name="Dismiss").click()
    expect(row(page, 1).locator(".note", has_text="Symbolic check")).to_have_count(0)
    assert AssistanceRating.objects.get(assignment=assignment, symbolic_check__isnull=False).dismissed
    # A debate about step 2, judged by the annotator.
    row(page, 1).click()
    page.get_by_role("button", name="Debate step 2").click()
    debate = page.locator(".ov-debate")
    expect(debate.locator("h3")).to_contain_text("Debate about step 2: done", timeout=60_000)
    expect(debate.locator(".ov-turn")).to_have_count(6)
    expect(debate.locator(".ov-verified").first).to_contain_text("17 boxes of 4 apples ✓ verified in the chain")
    expect(debate.locator(".ov-unverified").first).to_contain_text("17 * 4 = 68 ✗ not found in the chain")
    expect(debate.locator(".ov-turn.ov-incorrect").first).to_contain_text("<script>window.__xss=1</script>")
    debate.get_by_label("The step is incorrect").check()
    debate.locator(".ov-credence").fill("90")
    debate.get_by_role("button", name="Record my verdict").click()
    expect(debate.locator(".ov-verdict")).to_contain_text("Your verdict: incorrect, credence 90%")
    run = OversightRun.objects.get(kind="debate")
    verdict = DebateVerdict.objects.get(run=run, judge=ov_annotator)
    assert verdict.verdict == "incorrect" and verdict.credence == 0.9 and run.step_key == 1
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=str(shots / "oversight-debate.png"), full_page=True)


def test_unassisted_arm_sees_nothing(asgi_server, ov_project, backend, ov_annotator, page):
    from oversight.services import policy_set

    policy_set(project=ov_project, passes={"critique": "on_demand"}, assisted_share=0.0, backend_name=backend.name)
    assignment = assignment_claim_next(project=ov_project, user=ov_annotator)
    log_in(page, asgi_server, ov_annotator.username)
    open_workspace(page, asgi_server, assignment.pk)
    page.wait_for_function("document.querySelector('#ws-ext-status') !== null")
    page.wait_for_timeout(500)
    expect(page.locator(".ext-panel")).to_have_count(0)
    assert assignment.oversight_arm.arm == "unassisted"


def test_the_page_works_without_the_websocket_and_catches_up(asgi_server, model_server, ov_project, chain,
                                                            assisted_policy, ov_annotator, page):
    from oversight.services import runs_execute

    socket_up = {"on": False}

    def handler(ws):  # the websocket is down until the test says so; then it reaches daphne
        if socket_up["on"]:
            ws.connect_to_server()
        else:
            ws.close()

    page.route_web_socket("**/ws/oversight/**", handler)
    assignment = assignment_claim_next(project=ov_project, user=ov_annotator)
    # A result stored before the page opened comes from the API, websocket or not.
    symbolic, _ = run_request(chain=chain, kind="symbolic")
    runs_execute(run_ids=[symbolic.pk])
    log_in(page, asgi_server, ov_annotator.username)
    open_workspace(page, asgi_server, assignment.pk)
    expect(page.locator("#ws-ext-status")).to_contain_text("offline, reconnecting")
    expect(row(page, 1).locator(".note", has_text="Symbolic check: mismatch")).to_be_visible()
    page.keyboard.press("3")  # labelling goes on
    # A critique finishes while the socket is down; nothing can tell the page.
    model_server.script = critic(wrong_steps=(2,))
    run, _ = off_loop(run_request, chain=chain, kind="critique", backend_name="fake")
    off_loop(runs_execute, run_ids=[run.pk])
    expect(row(page, 1).locator(".note", has_text="Critic")).to_have_count(0)
    socket_up["on"] = True
    # On reconnect the page reads everything again.
    expect(row(page, 1).locator(".note", has_text="Critic: incorrect (80%)")).to_be_visible(timeout=20_000)
    expect(page.locator("#ws-ext-status")).not_to_contain_text("offline")


def test_the_project_report_page(asgi_server, chain, assisted_policy, model_server, ov_researcher, page, shots):
    from oversight.services import runs_execute

    model_server.script = critic(wrong_steps=(2,))
    ids = [off_loop(run_request, chain=chain, kind=kind, backend_name="fake")[0].pk for kind in ("critique", "symbolic")]
    off_loop(runs_execute, run_ids=ids)  # asyncio.run cannot run in the thread of Playwright's loop
    log_in(page, asgi_server, ov_researcher.username)
    page.goto(f"{asgi_server.url}/projects/ov/")
    page.get_by_role("link", name="Critiques, debates and symbolic checks").click()
    expect(page.locator("h1")).to_have_text("Model assistance in Oversight")
    expect(page.locator("#ov-critics")).to_contain_text("critique:fake")
    expect(page.locator("#ov-runs")).to_contain_text("critique")
    page.screenshot(path=str(shots / "oversight-report.png"), full_page=True)


def test_with_no_websocket_at_all_a_running_pass_is_polled(asgi_server, model_server, ov_project, chain,
                                                          assisted_policy, ov_annotator, page):
    from oversight.services import runs_execute

    page.route_web_socket("**/ws/oversight/**", lambda ws: ws.close())  # a layer that never delivers
    assignment = assignment_claim_next(project=ov_project, user=ov_annotator)
    model_server.script = critic(wrong_steps=(2,))
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")  # queued: no worker yet
    log_in(page, asgi_server, ov_annotator.username)
    open_workspace(page, asgi_server, assignment.pk)
    expect(page.locator(".ov-run", has_text="critique (fake): queued")).to_be_visible()
    off_loop(runs_execute, run_ids=[run.pk])
    expect(row(page, 1).locator(".note", has_text="Critic: incorrect (80%)")).to_be_visible(timeout=20_000)
    expect(page.locator(".ov-run", has_text="critique (fake): done 3/3")).to_be_visible()
