"""The annotation workspace in a real browser: Playwright's sync API driving Debian's Chromium.

An annotator logs in through the form, claims a chain from the home page, rates every step with the
keyboard, submits with Ctrl+Enter; the assertions read the database, not the page, so a key that
stops saving fails here. Also: math rendering, imported text that must stay text, autosave across a
reload, and a rating typed while offline.

Screenshots go to a temporary folder; with STEPWISE_SCREENSHOTS=1 they replace the ones under
docs/screenshots/ (run that after a visual change, then look at them).
"""

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from annotation.models import Annotation, Assignment, AssignmentStatus, Role
from annotation.selectors import chain_steps
from annotation.services import chains_import, membership_set, project_create
from tests.browser import VIEWPORT, log_in
from tests.conftest import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED = re.compile(r"\bfocused\b")


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    if os.environ.get("STEPWISE_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path


def claim_next(page: Page, live_server) -> Assignment:
    page.get_by_role("button", name="Annotate next chain").click()
    page.wait_for_url(f"{live_server.url}/assignments/*/")
    pk = int(page.url.rstrip("/").rsplit("/", 1)[1])
    expect(page.locator("#workspace")).to_have_attribute("data-assignment", str(pk))
    # workspace.js is deferred: keys pressed before it ran would be lost. It has run once it painted.
    expect(page.locator("#rated-count")).to_contain_text("steps rated")
    return Assignment.objects.get(pk=pk)


def step(page: Page, index: int):
    return page.locator(f'#steps .step[data-index="{index}"]')


def button(page: Page, index: int, rating: int):
    return step(page, index).locator(f'button.r[data-rating="{rating}"]')


def expect_ratings(page: Page, ratings: dict[int, int | None]) -> None:
    """Exactly the given button of each step is pressed (none for None)."""
    for index, rating in ratings.items():
        for value in (-1, 0, 1):
            expect(button(page, index, value)).to_have_attribute("aria-pressed", str(value == rating).lower())


def expect_saved(page: Page) -> None:
    # The page opens with the text "All changes saved" already shown; data-kind=ok is set only by a save
    # the server answered, so this waits for a real round trip.
    expect(page.locator("#save-state")).to_have_attribute("data-kind", "ok")
    expect(page.locator("#save-state")).to_have_text("All changes saved")


def saved_ratings(assignment: Assignment) -> dict[int, int | None]:
    return dict(assignment.labels.values_list("step_key", "rating"))  # an unedited chain: key = index


@pytest.mark.parametrize(("keys", "ratings", "finish_reason", "first_error"), [
    pytest.param(
        # +1, +1 (each advances), back up with k, change step 2 to 0 (advances), +1, then −1 on the
        # last step (−1 does not advance).
        ["3", "3", "k", "2", "3", "1"],
        {0: 1, 1: 0, 2: 1, 3: -1}, "found_error", 3, id="found-error-suggested"),
    pytest.param(
        # Arrow keys and j: down twice, +1 the third step, back up to the first and rate the rest;
        # 3 on a step already +1 keeps it and still moves on.
        ["ArrowDown", "j", "3", "ArrowUp", "ArrowUp", "ArrowUp", "3", "3", "3", "3"],
        {0: 1, 1: 1, 2: 1, 3: 1}, "solution", None, id="solution-suggested"),
])
def test_keyboard_labelling_is_saved_on_submit(live_server, imported, annotator, page, keys, ratings,
                                               finish_reason, first_error):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    steps = assignment.chain.step_count
    assert steps == len(ratings), f"the first chain of the demo file changed: {steps} steps"

    for key in keys:
        page.keyboard.press(key)
    expect_ratings(page, ratings)
    expect(page.locator("#rated-count")).to_have_text(f"{steps} of {steps} steps rated")
    # The finish reason was suggested from the ratings; the annotator accepts it by submitting.
    expect(page.locator(f'input[name=finish_reason][value="{finish_reason}"]')).to_be_checked()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#save-state")).to_have_text("Submitted")

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED
    assert saved_ratings(assignment) == ratings
    annotation = Annotation.objects.get(assignment=assignment)
    assert (annotation.finish_reason, annotation.first_error_key) == (finish_reason, first_error)
    # Closed: the buttons are disabled and keys change nothing.
    expect(button(page, 0, -1)).to_be_disabled()
    page.keyboard.press("1")
    assert saved_ratings(assignment) == ratings


def test_finish_reason_chosen_with_keyboard_overrides_suggestion(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    page.keyboard.press("3")
    page.keyboard.press("1")  # step 2 wrong: "Found an error" is suggested
    expect(page.locator('input[name=finish_reason][value="found_error"]')).to_be_checked()
    # f jumps to the finish reasons; arrows then move between the radios as in any form.
    page.keyboard.press("f")
    expect(page.locator('input[name=finish_reason][value="found_error"]')).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.locator('input[name=finish_reason][value="bad_problem"]')).to_be_checked()
    expect(step(page, 1)).to_have_class(FOCUSED)  # the arrow moved the radio, not the step focus
    page.keyboard.press("Tab")
    expect(page.locator("#comment")).to_be_focused()
    page.keyboard.type("The problem statement contradicts itself; 3 keys typed here must not rate.")
    expect_ratings(page, {0: 1, 1: -1, 2: None})
    # Escape leaves the form; keys rate steps again (k up to step 1, then 0 on it).
    page.keyboard.press("Escape")
    page.keyboard.press("k")
    page.keyboard.press("2")
    expect_ratings(page, {0: 0, 1: -1, 2: None})
    expect(page.locator('input[name=finish_reason][value="bad_problem"]')).to_be_checked()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#done")).to_be_visible()

    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.SUBMITTED
    assert saved_ratings(assignment) == {0: 0, 1: -1}
    annotation = Annotation.objects.get(assignment=assignment)
    assert annotation.finish_reason == "bad_problem"
    assert annotation.first_error_key is None
    assert annotation.comment.startswith("The problem statement contradicts itself")


def test_submit_without_finish_reason_is_refused_in_page(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    page.keyboard.press("2")  # one neutral step: no suggestion yet
    expect(page.locator("input[name=finish_reason]:checked")).to_have_count(0)
    page.keyboard.press("Control+Enter")
    expect(page.locator("#submit-error")).to_have_text("Choose how the chain ended before submitting.")
    expect_saved(page)
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.IN_PROGRESS
    assert saved_ratings(assignment) == {0: 0}


def test_math_renders_with_katex(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    with_math = [i for i, text in enumerate(chain_steps(chain=assignment.chain).texts) if "\\(" in text or "$" in text]
    assert with_math, "the first demo chain should have a step with \\( math"
    for index in with_math:
        text = step(page, index).locator(".step-text")
        expect(text.locator(".katex").first).to_be_visible()
        expect(text).not_to_contain_text("\\(")
    # KaTeX is served by the app itself, with its fonts.
    assert page.evaluate("typeof window.katex") == "object"
    page.evaluate("document.fonts.ready")
    assert page.evaluate("document.fonts.check('16px KaTeX_Main')")


# (text, the TeX of each math part in order)
MATH_CASES = [
    ("Cost per gallon = $3.5, Total = $3.5 * 4000 = $14,000.", []),  # GSM8K prices stay text
    ("rewards of $1 off for every $20 they spend, so $80 / $20 = 4", []),
    ("The answer is $\\boxed{2800}$.", ["\\boxed{2800}"]),
    ("the average of $71,$ $72,$ $73.$", ["71,", "72,", "73."]),
    ("pays $5 and then $x^2$ more", ["x^2"]),
    ("Since \\(1/3 \\times 18 = 6\\) flamingos", ["1/3 \\times 18 = 6"]),
    ("Thus:\n\\[ 500 \\times 1.2 = \\$600 \\]\nso", [" 500 \\times 1.2 = \\$600 "]),
    ("$$a+b$$ and an escaped \\$ sign", ["a+b"]),
    ("a $ with space $ is no math", []),
]


def test_math_delimiters_keep_prices_as_text(live_server, page):
    page.goto(live_server.url + "/login/")
    for text, math in MATH_CASES:
        parts = page.evaluate("(text) => window.stepwiseSplitMath(text)", text)
        assert [part["tex"] for part in parts if "tex" in part] == math, text
        # Nothing is lost but the line breaks beside display math.
        shown = "".join(part.get("source", part.get("text", "")) for part in parts)
        assert shown.replace("\n", "") == text.replace("\n", ""), text


@pytest.fixture
def hostile_annotator(make_user):
    """A project whose one chain carries HTML and script in its problem, answer and steps."""
    project = project_create(slug="hostile", name="Hostile <i>name</i>")
    annotator = make_user("ann-hostile")
    membership_set(project=project, user=annotator, role=Role.ANNOTATOR)
    rows = [{
        "id": "hostile-1",
        "problem": "What is $1+1$? <script>window.__xss = 'problem'</script>",
        "reference_answer": "<img src=x onerror=\"window.__xss='answer'\">2",
        "steps": [
            "<script>window.__xss = 'script'</script>Start with the script tag.",
            "<img src=x onerror=\"window.__xss='img'\"> An image that must not load.",
            "Inline math \\(1+1=2\\) and dollar math $x^2$ next to <b>bold</b> that stays literal.",
            "Math cannot smuggle HTML: $\\text{<img src=x onerror=\"window.__xss='katex'\">}$ or "
            "$\\href{javascript:window.__xss='href'}{click}$.",
            "Costs $5 and $10 are money, not math.",
        ],
    }]
    data = "\n".join(json.dumps(row) for row in rows).encode()
    chains_import(project=project, data=data, fmt="stepwise", filename="hostile.jsonl")
    return annotator


def test_imported_html_is_shown_as_text_and_never_runs(live_server, hostile_annotator, page):
    annotator = hostile_annotator
    log_in(page, live_server, annotator.username)
    claim_next(page, live_server)
    expect(step(page, 0)).to_contain_text("<script>window.__xss = 'script'</script>Start with the script tag.")
    expect(step(page, 1)).to_contain_text("<img src=x onerror=\"window.__xss='img'\"> An image that must not load.")
    expect(step(page, 2).locator(".katex")).to_have_count(2)
    expect(step(page, 2)).to_contain_text("<b>bold</b>")
    expect(step(page, 4).locator(".step-text")).to_have_text("Costs $5 and $10 are money, not math.")
    expect(step(page, 4).locator(".katex")).to_have_count(0)
    expect(page.locator(".problem")).to_contain_text("<script>")
    expect(page.locator("body")).to_contain_text("Hostile <i>name</i>")
    page.wait_for_load_state("load")
    injected = page.locator(":is(.problem, #steps) :is(img, script, b, a[href])")
    assert injected.count() == 0, injected.evaluate_all("els => els.map(e => e.outerHTML)")
    assert page.evaluate("window.__xss") is None


def test_autosave_survives_reload(live_server, imported, annotator, browser, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    page.keyboard.press("3")
    page.keyboard.press("1")
    expect_saved(page)
    assert saved_ratings(assignment) == {0: 1, 1: -1}

    page.reload()
    expect_ratings(page, {0: 1, 1: -1, 2: None, 3: None})
    expect(page.locator("#rated-count")).to_have_text("2 of 4 steps rated")
    expect(step(page, 2)).to_have_class(FOCUSED)  # focus returns to the first unrated step

    # The server has them, not just this browser's localStorage: a second browser sees them too.
    other = browser.new_context(viewport=VIEWPORT)
    try:
        second = other.new_page()
        log_in(second, live_server, annotator.username)
        second.goto(f"{live_server.url}/assignments/{assignment.pk}/")
        expect_ratings(second, {0: 1, 1: -1, 2: None, 3: None})
    finally:
        other.close()


def test_rating_typed_offline_is_kept_and_saved_later(live_server, imported, annotator, page):
    log_in(page, live_server, annotator.username)
    assignment = claim_next(page, live_server)
    page.keyboard.press("3")
    expect_saved(page)

    page.context.set_offline(True)
    page.keyboard.press("1")
    expect(page.locator("#save-state")).to_have_attribute("data-kind", "error")
    expect(page.locator("#save-state")).to_contain_text("Offline")
    expect_ratings(page, {0: 1, 1: -1})
    pending = page.evaluate(f"localStorage.getItem('stepwise:pending:{assignment.pk}')")
    assert json.loads(pending) == [[1, -1]]
    assert saved_ratings(assignment) == {0: 1}
    page.problems.clear()  # the failed fetch is logged to the console while offline; that is expected

    page.context.set_offline(False)
    expect_saved(page)  # retried by itself, without a key press
    # a retry that ran while still offline logged its failed fetch too: expected, like the first
    page.problems[:] = [p for p in page.problems if "ERR_INTERNET_DISCONNECTED" not in p]
    assert saved_ratings(assignment) == {0: 1, 1: -1}
    assert json.loads(page.evaluate(f"localStorage.getItem('stepwise:pending:{assignment.pk}')")) == []


def test_screenshots(live_server, imported, annotator, screenshot_dir, page):
    page.goto(live_server.url + "/login/")
    page.screenshot(path=screenshot_dir / "login.png")
    log_in(page, live_server, annotator.username)
    page.screenshot(path=screenshot_dir / "home.png")
    claim_next(page, live_server)
    for key in "331":  # +1, +1, then −1 on the third step, which keeps the focus
        page.keyboard.press(key)
    expect_saved(page)
    expect(page.locator('input[name=finish_reason][value="found_error"]')).to_be_checked()
    page.evaluate("document.fonts.ready")
    page.mouse.move(0, 0)
    page.screenshot(path=screenshot_dir / "annotation-workspace.png")
    page.screenshot(path=screenshot_dir / "annotation-workspace-full.png", full_page=True)
