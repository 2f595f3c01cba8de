"""The annotation workspace in a real browser: Playwright's sync API driving Debian's Chromium.

Assertions read the database, not only the page, so a key that stops saving fails here. Covered: a
whole chain labelled by keyboard alone with every per-step field; first-error mode; jump, search and
windowing on an 8,000-step chain; autosave, reload and crash restore; a server error and a lost reply
during a save; two tabs in conflict; a key pressed before the page is ready; hostile text; the
extension API; reopening a submitted chain; screenshots.

Screenshots go to a temporary folder; with STEPWISE_SCREENSHOTS=1 they replace the ones under
docs/screenshots/ (run that after a visual change, then look at them).
"""

import json
import os
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from playwright.sync_api import Page, expect

from annotation.models import Annotation, Assignment, AssignmentStatus, Role, StepLabel
from annotation.services import assignment_claim_next, chains_import, membership_set, project_create
from bench.chains import chain_steps, problem_text
from tests.browser import VIEWPORT, log_in
from tests.conftest import FIXTURES, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    if os.environ.get("STEPWISE_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path


def open_workspace(page: Page, server, pk: int) -> None:
    page.goto(f"{server.url}/assignments/{pk}/")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "1")


def claim_next(page: Page, live_server) -> Assignment:
    page.get_by_role("button", name="Annotate next chain").click()
    page.wait_for_url(f"{live_server.url}/assignments/*/")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "1")
    return Assignment.objects.get(pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))


def row(page: Page, index: int):
    return page.locator(f'#steps .step[data-index="{index}"]')


def expect_saved(page: Page) -> None:
    expect(page.locator("#workspace")).to_have_attribute("data-save", "saved")
    expect(page.locator("#save-state")).to_have_text("All changes saved")


def stored(assignment: Assignment) -> dict[int, dict]:
    return {r["step_key"]: r for r in StepLabel.objects.filter(assignment=assignment).values(
        "step_key", "rating", "unsure", "flagged", "rationale", "correction", "error_type")}


def long_chain_annotator(make_user, steps: int, slug: str, *, mode: str = "first_error", texts=None):
    project = project_create(slug=slug, name=f"{steps} steps")
    if mode != "first_error":
        project.label_schema = {"mode": mode}
        project.save(update_fields=["label_schema"])
    user = make_user(f"ann-{slug}")
    membership_set(project=project, user=user, role=Role.ANNOTATOR)
    row_data = {"id": f"{slug}-1", "problem": problem_text(0), "steps": texts or chain_steps(steps)}
    chains_import(project=project, data=json.dumps(row_data).encode(), fmt="stepwise", filename=f"{slug}.json")
    return user, assignment_claim_next(project=project, user=user)


def test_a_whole_chain_by_keyboard_with_every_field(live_server, make_user, page):
    annotator, assignment = long_chain_annotator(make_user, 5, "kbd", mode="full")
    log_in(page, live_server, annotator.username)
    open_workspace(page, live_server, assignment.pk)
    expect(row(page, 0)).to_be_focused()  # the current step is focused and announced
    expect(row(page, 0)).to_have_attribute("aria-label", "Step 1 of 5, not rated")
    page.keyboard.press("3")  # +1, moves on
    page.keyboard.press("1")  # −1 on step 2: stays
    expect(row(page, 1)).to_be_focused()
    page.keyboard.press("r")
    expect(row(page, 1).locator("textarea[data-field=rationale]")).to_be_focused()
    page.keyboard.type("4 × 7 is 28, not 24: a slip in the product. Keys typed here (3, j) do not rate.")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    expect(row(page, 1).locator("textarea[data-field=correction]")).to_be_focused()
    page.keyboard.type("So 4 × 7 = 28.")
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    expect(row(page, 1).locator("select[data-field=error_type]")).to_be_focused()
    page.keyboard.press("ArrowDown")  # the rubric's first type: arithmetic
    page.keyboard.press("Escape")
    page.keyboard.press("f")
    page.keyboard.press("x")
    page.keyboard.press("j")
    for key in "233":  # 0 on step 3 (moves on), +1, +1
        page.keyboard.press(key)
    page.keyboard.press("k")
    page.keyboard.press("u")  # undoes the last change: step 5's +1
    page.keyboard.press("n")  # next unrated: step 5 again
    expect(row(page, 4)).to_be_focused()
    page.keyboard.press("2")
    expect(page.locator("#rated-count")).to_contain_text("5 of 5 steps rated")
    # Never pre-selected: Ctrl+Enter asks for a finish reason and focuses the suggested one, unchosen.
    expect(page.locator("input[name=finish_reason]:checked")).to_have_count(0)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#submit-error")).to_contain_text("Choose how the chain ended")
    expect(page.locator('input[name=finish_reason][value="found_error"]')).to_be_focused()
    expect(page.locator("input[name=finish_reason]:checked")).to_have_count(0)
    page.keyboard.press("Space")
    # Active time ticks once a second while someone works; a fast run waits for the first tick so the
    # submitted figure is known to be counted (0 would also be right after less than a second).
    expect(page.locator("#active-time")).not_to_have_text("0:00:00")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#done")).to_be_visible()

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED
    labels = stored(assignment)
    assert {k: v["rating"] for k, v in labels.items()} == {0: 1, 1: -1, 2: 0, 3: 1, 4: 0}
    assert labels[1] == {"step_key": 1, "rating": -1, "unsure": True, "flagged": True,
                         "rationale": "4 × 7 is 28, not 24: a slip in the product. Keys typed here (3, j) do not rate.",
                         "correction": "So 4 × 7 = 28.", "error_type": "arithmetic"}
    annotation = Annotation.objects.get(assignment=assignment)
    assert (annotation.finish_reason, annotation.first_error_key) == ("found_error", 1)
    assert assignment.active_seconds >= 1


def test_first_error_mode_ends_labelling_and_next_chain_is_another(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    page.keyboard.press("3")
    page.keyboard.press("1")  # step 2 is the first error
    expect(row(page, 1)).to_have_class(" ".join(["step", "current", "first-error"]))
    expect(row(page, 2)).to_have_class("step after-error")
    expect(row(page, 2).locator("button.r").first).to_be_disabled()
    expect(page.locator("#finish-suggestion")).to_contain_text("Found an error")
    page.keyboard.press("j")
    page.keyboard.press("3")  # past the first error: refused with a reason
    expect(page.locator("#ws-hint")).to_contain_text("Labelling ended at step 2, the first error")
    expect(page.locator("#workspace")).to_have_attribute("data-first-error", "1")
    page.locator('input[name=finish_reason][value="found_error"]').check()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#done")).to_be_visible()
    annotation = Annotation.objects.get(assignment=assignment)
    assert (annotation.finish_reason, annotation.first_error_key) == ("found_error", 1)
    assert {k: v["rating"] for k, v in stored(assignment).items()} == {0: 1, 1: -1}
    page.keyboard.press("n")
    page.wait_for_url(lambda url: url.rstrip("/").endswith(tuple("0123456789")) and f"/{assignment.pk}/" not in url)
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "1")
    assert int(page.url.rstrip("/").rsplit("/", 1)[1]) != assignment.pk


def test_jump_search_and_windowing_on_8000_steps(live_server, make_user, page):
    annotator, assignment = long_chain_annotator(make_user, 8000, "long8000")
    log_in(page, live_server, annotator.username)
    open_workspace(page, live_server, assignment.pk)
    rendered = page.locator("#steps .step").count()
    assert 3 < rendered < 80, rendered  # windowed: only the rows near the viewport exist
    page.keyboard.press("g")
    page.keyboard.type("5000")
    page.keyboard.press("Enter")
    expect(row(page, 4999)).to_be_focused()
    expect(row(page, 4999)).to_have_attribute("aria-posinset", "5000")
    expect(row(page, 4999)).to_have_attribute("aria-setsize", "8000")
    expect(page.locator("#ws-position")).to_have_text("Step 5000 of 8000")
    page.keyboard.press("3")
    page.keyboard.press("/")
    page.keyboard.type("Step 7777:")
    expect(page.locator("#ws-search-count")).to_have_text("1 of 1 steps")
    expect(row(page, 7776)).to_have_class("step current match")
    page.keyboard.press("Escape")
    expect(row(page, 7776)).to_be_focused()
    page.keyboard.press("2")
    # The rows of the overscan are built in idle time after a jump: let them come, then the window
    # is still bounded.
    page.wait_for_timeout(500)
    assert page.locator("#steps .step").count() < 80
    # The rail jumps: a click near its top lands on an early step.
    box = page.locator("#ws-rail").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + 2)
    expect(page.locator("#ws-position")).to_have_text(re.compile(r"^Step ([1-9]|[1-3][0-9]) of 8000$"))
    expect_saved(page)
    assert {k: v["rating"] for k, v in stored(assignment).items()} == {4999: 1, 7776: 0}


def test_autosave_then_reload_restores_and_a_crashed_tab_hands_over(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    page.keyboard.press("f")
    page.keyboard.press("3")
    expect_saved(page)  # within a second of the key, without any other action
    assert stored(assignment)[0]["rating"] == 1 and stored(assignment)[0]["flagged"]
    page.reload()
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "1")
    expect(row(page, 0).locator("button.r[data-value='1']")).to_have_attribute("aria-pressed", "true")
    expect(row(page, 1)).to_be_focused()  # back at the first unrated step

    # A tab dies with a save in flight (its request never answered): the next tab takes the save over.
    page.route("**/labels/", lambda route: None)
    page.keyboard.press("2")
    page.wait_for_function("Object.keys(localStorage).some(k => k.includes(':tab:') && localStorage[k].includes('inflight'))")
    context = page.context
    page.close()  # never answered, no beforeunload: a crash
    successor = context.new_page()
    open_workspace(successor, live_server, assignment.pk)
    expect(successor.locator("#ws-hint")).to_contain_text("from a closed tab were restored")
    expect_saved(successor)
    assert stored(assignment)[1]["rating"] == 0


def test_a_server_error_and_a_lost_reply_are_retried_and_nothing_is_lost(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    calls = {"n": 0}

    def flaky(route):
        calls["n"] += 1
        if calls["n"] == 1:
            route.fulfill(status=500, body="boom")
        elif calls["n"] == 2:
            route.fetch()  # the server stores it ...
            route.abort()  # ... and the reply is lost on the way back
        else:
            route.continue_()

    page.route("**/labels/", flaky)
    page.keyboard.press("3")
    expect(page.locator("#save-state")).to_contain_text("Not saved yet")
    page.keyboard.press("3")
    expect_saved(page)
    assert calls["n"] >= 4
    assert {k: v["rating"] for k, v in stored(assignment).items()} == {0: 1, 1: 1}
    # The lost-reply save was stored once (answered `replayed` on retry), then the second step's save.
    assignment.refresh_from_db()
    assert assignment.version == 3
    page.problems[:] = [p for p in page.problems if "500" not in p and "Failed to load" not in p]


def test_two_tabs_conflict_clearly_and_the_reload_offers_the_lost_change(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    other = page.context.new_page()
    open_workspace(other, live_server, assignment.pk)
    page.keyboard.press("3")
    expect_saved(page)
    other.keyboard.press("j")
    other.keyboard.press("1")
    conflict = other.locator("#ws-conflict")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("changed in another tab or window")
    expect(conflict).to_contain_text("kept in this browser")
    assert "version" not in conflict.inner_text().lower()
    other.problems = []
    other.on("dialog", lambda d: (page.problems.append(f"leave-page prompt: {d.message}"), d.dismiss()))
    conflict.get_by_role("button", name="Reload").click()
    expect(other.locator("#workspace")).to_have_attribute("data-ready", "1")
    expect(other.locator("#ws-restore")).to_contain_text("Changes to 1 step (2)")
    expect(row(other, 0).locator("button.r[data-value='1']")).to_have_attribute("aria-pressed", "true")
    other.get_by_role("button", name="Apply them").click()
    expect_saved(other)
    assert {k: v["rating"] for k, v in stored(assignment).items()} == {0: 1, 1: -1}
    other.close()


def test_a_key_pressed_before_the_page_is_ready_counts(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = assignment_claim_next(project=imported, user=annotator)

    def slow(route):
        page.wait_for_timeout(700)
        route.continue_()

    page.route("**/js/workspace/main.js", slow)
    page.goto(f"{live_server.url}/assignments/{assignment.pk}/", wait_until="commit")
    expect(page.locator("#problem-text")).to_be_visible()
    assert page.evaluate("document.getElementById('workspace').dataset.ready") is None
    page.keyboard.press("3")
    page.keyboard.press("3")
    expect(page.locator("#workspace")).to_have_attribute("data-ready", "1")
    expect(row(page, 1).locator("button.r[data-value='1']")).to_have_attribute("aria-pressed", "true")
    expect_saved(page)
    assert {k: v["rating"] for k, v in stored(assignment).items()} == {0: 1, 1: 1}


HOSTILE_STEPS = [
    "<script>window.__xss = 'script'</script>Start with the script tag.",
    "<img src=x onerror=\"window.__xss='img'\"> An image that must not load.",
    "[a link](javascript:window.__xss='link') and **<b>bold</b>** and \\(1+1=2\\)",
    "Math cannot smuggle HTML: $\\text{<img src=x onerror=\"window.__xss='katex'\">}$ or "
    "$\\href{javascript:window.__xss='href'}{click}$.",
    "{{ request.user.password }} {% debug %} ${window.__xss='tpl'} <%= 1 %>",
    "Reads as abc\u202Efed\u202C and zero\u200Bwidth\u2066 joiners",
    "Costs $5 and $10 are money, not math.",
    "x" * 50_000,
]


def test_hostile_strings_execute_nothing_and_render_as_text(live_server, make_user, page):
    annotator, assignment = long_chain_annotator(make_user, len(HOSTILE_STEPS), "hostile", texts=HOSTILE_STEPS)
    log_in(page, live_server, annotator.username)
    open_workspace(page, live_server, assignment.pk)
    text = lambda i: row(page, i).locator(".step-text")  # noqa: E731
    expect(text(0)).to_have_text("<script>window.__xss = 'script'</script>Start with the script tag.")
    expect(text(1)).to_contain_text("<img src=x onerror=")
    expect(text(2)).to_contain_text("[a link](javascript:window.__xss='link')")
    expect(text(2).locator("strong")).to_have_text("<b>bold</b>")
    expect(text(2).locator(".katex")).to_have_count(1)
    expect(text(4)).to_have_text("{{ request.user.password }} {% debug %} ${window.__xss='tpl'} <%= 1 %>")
    expect(text(5).locator(".ctl")).to_have_count(4)
    expect(text(6)).to_have_text("Costs $5 and $10 are money, not math.")
    page.keyboard.press("End")
    expect(row(page, 7)).to_be_focused()
    assert len(text(7).inner_text()) == 50_000
    page.wait_for_load_state("load")
    injected = page.locator("#steps :is(img, script, b, svg[onload], a[href^='javascript'], [onerror], [onclick])")
    assert injected.count() == 0, injected.evaluate_all("els => els.map(e => e.outerHTML)")
    assert page.locator("#steps .katex a").count() == 0
    assert page.evaluate("window.__xss") is None


@pytest.fixture
def extension(settings):
    settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, FIXTURES / "static"]
    settings.STEPWISE_WORKSPACE_EXTENSIONS = ["stepwise-test/extension.js"]
    finders.get_finder.cache_clear()
    yield
    finders.get_finder.cache_clear()


EARLY_EXTENSION = """
window.__ext = {events: [], actions: [], started: []};
window.StepwiseWorkspace = {_queue: [], register(x) { this._queue.push(x); }};
window.StepwiseWorkspace.register({name: "early", init(api) { window.__ext.started.push({name: "early", n: api.assignment.stepCount}); }});
"""


def test_extension_api_notes_rail_panel_events(live_server, make_user, extension, page):
    annotator, assignment = long_chain_annotator(make_user, 400, "ext")
    page.add_init_script(EARLY_EXTENSION)  # registered before the workspace exists: queued, then started
    log_in(page, live_server, annotator.username)
    open_workspace(page, live_server, assignment.pk)
    # Extensions start once every step's text is in the page (the page carries 200; the rest is fetched).
    expect(page.locator("#workspace")).to_have_attribute("data-texts", "all")
    page.wait_for_function("window.__ext.started.length === 2")
    started = page.evaluate("window.__ext.started")
    assert started[0] == {"name": "early", "n": 400}
    assert started[1]["assignment"] == {"id": assignment.pk, "revision": 1, "project": "ext",
                                        "chain": {"id": "ext-1", "pk": assignment.chain_id}, "stepCount": 400}
    assert started[1]["step0"]["key"] == 0 and started[1]["step0"]["text"].startswith("Step 1:")
    assert started[1]["indexOfLast"] == 399
    note = row(page, 0).locator(".note")
    expect(note).to_contain_text("<img src=x onerror=")  # untrusted title shown as text
    expect(note).to_contain_text("The sum <b>17 + 4</b> is 21")
    expect(row(page, 0)).to_have_attribute("aria-label", "Step 1 of 400, not rated, 1 note")
    expect(page.locator(".ext-panel summary")).to_have_text("Debate <script>")
    expect(page.locator(".ext-panel .test-debate")).to_contain_text("Prover: step 1 holds.")
    expect(page.locator("#ws-ext-status")).to_contain_text("test-critic: 2 critiques ready")
    # Keyboard: Enter on the step reaches its note's actions.
    page.keyboard.press("Enter")
    expect(note.get_by_role("button", name="Helpful")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_function("window.__ext.actions.length === 1")
    assert page.evaluate("window.__ext.actions") == [{"noteId": "c1", "actionId": "helpful", "stepKey": 0}]
    expect(page.locator("#ws-ext-status")).to_contain_text('thanks for "helpful"')
    # Notes survive windowing: the last step's note is there when its row is rendered, and step 1's again after.
    page.keyboard.press("Escape")
    page.keyboard.press("End")
    expect(row(page, 399).locator(".note")).to_contain_text("sympy agrees")
    expect(row(page, 0)).to_have_count(0)
    page.keyboard.press("Home")
    expect(row(page, 0).locator(".note")).to_contain_text("Suspicious step")
    page.keyboard.press("3")
    events = page.evaluate("window.__ext.events")
    assert ["focus", 399, 399] in events and ["label", 0, 0, {"rating": 1}] in events
    assert page.evaluate("window.__xss") is None
    # The rail shows the extension's marks (two kinds, two colours) beside the labels.
    colours = page.evaluate("""() => { const c = document.getElementById('ws-rail'), x = c.getContext('2d');
        const d = x.getImageData(0, 0, c.width, 3).data; const s = new Set();
        for (let i = 0; i < d.length; i += 4) s.add(d[i] + ',' + d[i+1] + ',' + d[i+2]); return [...s]; }""")
    assert "122,90,248" in colours  # the first kind's colour at step 1


def test_reopen_a_submitted_chain(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    for key in "3333":
        page.keyboard.press(key)
    page.locator('input[name=finish_reason][value="solution"]').check()
    page.locator("#comment").fill("All fine.")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#done")).to_be_visible()
    page.get_by_role("button", name="Reopen this chain to change it").click()
    expect(page.locator("#workspace")).to_have_attribute("data-status", "in_progress")
    expect(page.locator("#comment")).to_have_value("All fine.")  # the comment is offered again
    assert not Annotation.objects.filter(assignment=assignment).exists()
    row(page, 3).click()
    page.keyboard.press("1")
    page.locator('input[name=finish_reason][value="found_error"]').check()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#done")).to_be_visible()
    annotation = Annotation.objects.get(assignment=assignment)
    assert (annotation.finish_reason, annotation.first_error_key, annotation.comment) == ("found_error", 3, "All fine.")
    page.goto(f"{live_server.url}/projects/{imported.slug}/history/")
    expect(page.locator(f"tr[data-assignment='{assignment.pk}']")).to_contain_text("Found an error")


def test_skip_needs_a_reason(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    page.keyboard.press("s")
    page.get_by_role("button", name="Skip the chain").click()
    expect(page.locator("#skip-error")).to_have_text("Choose or write a reason for skipping.")
    page.get_by_label("Outside my expertise").check()
    page.locator("#skip-detail").fill("Needs a probabilist.")
    page.get_by_role("button", name="Skip the chain").click()
    expect(page.locator("#done")).to_contain_text("Skipped.")
    assignment.refresh_from_db()
    assert (assignment.status, assignment.skip_reason) == ("skipped", "Outside my expertise: Needs a probabilist.")


def test_math_delimiters_keep_prices_as_text(live_server, page):
    page.goto(live_server.url + "/login/")
    page.wait_for_function("typeof window.stepwiseSplitMath === 'function'")
    for text, math in [("Total = $3.5 * 4000 = $14,000.", []), ("pays $5 and then $x^2$ more", ["x^2"])]:
        parts = page.evaluate("(text) => window.stepwiseSplitMath(text)", text)
        assert [part["tex"] for part in parts if "tex" in part] == math, text


def test_screenshots(live_server, imported, annotator, make_user, browser, screenshot_dir, page):
    page.goto(live_server.url + "/login/")
    page.screenshot(path=screenshot_dir / "login.png")
    log_in(page, live_server, annotator.username)
    page.screenshot(path=screenshot_dir / "home.png")
    assignment = claim_next(page, live_server)
    page.keyboard.press("3")
    expect_saved(page)
    page.mouse.move(0, 0)
    page.screenshot(path=screenshot_dir / "annotation-workspace.png")
    page.keyboard.press("1")  # first-error mode: step 2 wrong, the rest greyed
    page.keyboard.press("r")
    page.keyboard.type("The sum is 21, not 22: 17 + 4 was added wrong.")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    page.keyboard.type("So the total is 17 + 4 = 21 apples.")
    expect_saved(page)
    page.screenshot(path=screenshot_dir / "annotation-first-error-editor.png")

    long_user, long_assignment = long_chain_annotator(make_user, 8000, "shots8000")
    other = browser.new_context(viewport=VIEWPORT)
    try:
        tab = other.new_page()
        log_in(tab, live_server, long_user.username)
        open_workspace(tab, live_server, long_assignment.pk)
        for _ in range(12):
            tab.keyboard.press("3")
        tab.keyboard.press("g")
        tab.keyboard.type("4200")
        tab.keyboard.press("Enter")
        for key in "3332f31":
            tab.keyboard.press(key)
        expect_saved(tab)
        tab.screenshot(path=screenshot_dir / "annotation-8000-steps.png")
        twin = other.new_page()
        open_workspace(twin, live_server, long_assignment.pk)
        tab.keyboard.press("k")
        tab.keyboard.press("2")
        expect_saved(tab)
        twin.keyboard.press("3")
        expect(twin.locator("#ws-conflict")).to_be_visible()
        twin.screenshot(path=screenshot_dir / "annotation-conflict.png")
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                    has_touch=True)
        try:
            small = phone.new_page()
            log_in(small, live_server, annotator.username)
            open_workspace(small, live_server, assignment.pk)
            small.screenshot(path=screenshot_dir / "annotation-phone.png")
        finally:
            phone.close()
    finally:
        other.close()
