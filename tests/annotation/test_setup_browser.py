"""The researcher's set-up flow in Chromium, end to end: create a project, write guidelines (live preview),
set the schema, preview then import a file, split a step, add an annotator; the annotator then gets the
chain with that schema, that guideline version and the split step. Screenshots go to docs/screenshots/
when STEPWISE_SCREENSHOTS is set.
"""

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from annotation.models import Assignment, Chain, ChainRevision, GuidelineVersion, Project
from annotation.services import project_creator_set
from tests.browser import log_in
from tests.conftest import PASSWORD, ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHAINS = [
    {"id": "q1", "problem": "What is $2 + 3 \\cdot 4$?", "model": "tiny-llm",
     "text": "Step 1: First multiply 3 by 4 to get 12. Then add 2.\nStep 2: So the answer is 14."},
    {"id": "q2", "problem": "What is $10 - 4$?", "model": "tiny-llm", "steps": ["10 - 4 = 6.", "The answer is 6."]},
]


def shot(page: Page, name: str) -> None:
    target = os.environ.get("STEPWISE_SCREENSHOTS")
    if target:
        folder = Path(target) if target != "1" else ROOT / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_researcher_sets_up_a_project_and_the_annotator_gets_it(live_server, make_user, page, tmp_path):
    researcher = make_user("rita")
    project_creator_set(user=researcher, allowed=True)
    log_in(page, live_server, "rita")

    # 1. Create the project.
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Slug").fill("algebra")
    page.get_by_label("Name", exact=True).fill("Algebra pilot")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_text("Project 'algebra' created")).to_be_visible()
    # The segmentations tried on a pasted text, before choosing one.
    expect(page.locator("#segment-preview")).to_contain_text("step_marker: 2 steps")
    page.get_by_label("How chains given as text are split into steps").select_option("step_marker")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    shot(page, "setup-settings")

    # 2. Guidelines, with a live preview (markdown and math), published as version 1.
    page.get_by_role("link", name="Guidelines").click()
    text = page.get_by_label("Guidelines text")
    text.fill("# How to rate\nA step is **wrong** when its arithmetic fails, e.g. $a \\cdot b \\ne b + a$ for most $a, b$.")
    preview = page.locator("#guidelines-preview")
    expect(preview.locator("strong")).to_have_text("wrong")
    expect(preview.locator(".katex").first).to_be_visible()
    page.get_by_label("What changed").fill("first rules")
    page.get_by_role("button", name="Publish as version 1").click()
    expect(page.get_by_text("Guidelines version 1 published")).to_be_visible()
    shot(page, "setup-guidelines")

    # 3. Schema: rename the levels and rate every step (full mode). A bad key is refused first, naming it.
    page.get_by_role("link", name="Label schema").click()
    page.get_by_label("Level 1 key").fill("j")
    page.get_by_role("button", name="Save schema").click()
    expect(page.locator(".messages")).to_contain_text("label_schema.scale[0].key")
    page.get_by_label("Level 1 key").fill("1")
    page.get_by_label("Level 1 name").fill("Wrong")
    page.get_by_label("Level 2 name").fill("Detour")
    page.get_by_label("Level 3 name").fill("Right")
    page.get_by_label("Full: every step is rated").check()
    page.get_by_role("button", name="Save schema").click()
    expect(page.get_by_text("Label schema saved.")).to_be_visible()
    shot(page, "setup-schema")

    # 4. Import: a malformed file lists every bad line and writes nothing; the good one after its preview.
    page.get_by_role("link", name="Import").click()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(CHAINS[0]) + "\n{\"id\": \"x\"}\nnot json\n")
    page.locator("input[type=file]").set_input_files(str(bad))
    page.get_by_role("button", name="Preview").click()
    errors = page.locator("#preview-errors")
    expect(errors).to_contain_text("2")
    expect(errors).to_contain_text("3")
    assert not Chain.objects.filter(project__slug="algebra").exists()
    shot(page, "setup-import-refused")
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(c) for c in CHAINS) + "\n")
    page.locator("input[type=file]").set_input_files(str(good))
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-summary")).to_contain_text("2 new chains")
    # The preview shows how the text is split: by the "Step N:" markers chosen in the settings.
    expect(page.locator("details.sample").first).to_contain_text("First multiply 3 by 4 to get 12. Then add 2.")
    assert not Chain.objects.filter(project__slug="algebra").exists()
    shot(page, "setup-import-preview")
    page.get_by_role("button", name="Import 2 chains").click()
    expect(page.locator("#import-jobs tr.highlight")).to_contain_text("2 chains created")
    assert Chain.objects.filter(project__slug="algebra").count() == 2

    # 5. Split the first step of q1 after its first sentence.
    page.get_by_role("link", name="Chains").click()
    shot(page, "setup-chains")
    page.get_by_role("link", name="q1").click()
    first = page.locator("#step-editor li").first
    first.get_by_text("Edit or split").click()
    box = first.get_by_label("Text of step 1")
    cut = box.input_value().index(" Then")
    box.evaluate("(el, at) => { el.focus(); el.setSelectionRange(at, at); }", cut)
    first.get_by_role("button", name="Split step 1 at the cursor").click()
    expect(page.get_by_text("Revision 2: step split.")).to_be_visible()
    expect(page.locator("#step-editor li")).to_have_count(3)
    expect(page.locator("#step-editor li").nth(1)).to_contain_text("Then add 2.")
    shot(page, "setup-steps")

    # 6. Add an annotator with a new account.
    page.get_by_role("link", name="Members").click()
    page.get_by_label("Username").fill("anna")
    page.get_by_label("Create the account").check()
    page.get_by_label("Password for the new account").fill(PASSWORD)
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("anna added as annotator.")).to_be_visible()
    expect(page.locator("#members tr[data-user=anna]")).to_be_visible()
    shot(page, "setup-members")

    # 7. The annotator gets the chain with that schema, that guideline version and the split step.
    page.get_by_role("button", name="Log out").click()
    log_in(page, live_server, "anna")
    page.get_by_role("button", name="Annotate next chain").click()
    page.wait_for_url(f"{live_server.url}/assignments/*/")
    assignment = Assignment.objects.select_related("chain").get(annotator__username="anna")
    project = Project.objects.get(slug="algebra")
    assert assignment.chain.source_id == "q1" and assignment.revision == 2
    assert assignment.guideline_version == project.guideline_version == 1
    assert GuidelineVersion.objects.get(project=project, number=1).note == "first rules"
    assert ChainRevision.objects.filter(chain=assignment.chain).count() == 2
    expect(page.locator("#guideline-version")).to_have_text("version 1")
    # The rating buttons carry the schema's names (shown as their titles) and the mode is the schema's.
    buttons = page.locator("article").first.get_by_role("group", name="Rating").get_by_role("button")
    assert [buttons.nth(i).get_attribute("title").split(" (")[0] for i in range(3)] == ["Wrong", "Detour", "Right"]
    expect(page.get_by_text("full mode")).to_be_visible()
    expect(page.get_by_text("Then add 2.")).to_be_visible()
    assert page.locator("article").count() >= 3
    # live_server is WSGI: the Settings page's live progress socket is answered 404 there (daphne serves it
    # in production and in tests/annotation/test_progress_live_browser.py); those refusals are expected.
    page.problems[:] = [p for p in page.problems
                        if not re.search(r"WebSocket connection to .*/ws/projects/algebra/' failed: .*404", p)]
    assert not page.problems, page.problems
