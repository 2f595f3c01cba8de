"""A reviewer's path in Chromium, served by daphne: the queue fills live as the third annotator submits a
disagreeing pass, the reviewer opens the chain, sees the three ratings side by side, sets the final label
with a reason and a note, and the export reads it. An annotator of the chain who is also a reviewer is
refused on the same page."""

import json

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from annotation.models import Role
from annotation.services import membership_set
from review.quality_models import Decision, FinalLabel, ItemStatus, ReviewItem
from review.selectors import export_lines
from tests.browser import log_in, off_loop
from tests.review.quality_helpers import annotate, chain, make_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_three_annotators_disagree_and_a_reviewer_adjudicates_in_the_browser(make_user, asgi_server, browser, page):
    project, users = make_project(make_user)
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")

    log_in(page, asgi_server, "rev")
    page.goto(f"{asgi_server.url}{reverse('review-queue', args=[project.slug])}")
    expect(page.locator("#review-queue tbody")).to_contain_text("Nothing here")
    expect(page.locator("#review-queue")).to_have_attribute("data-live", "yes")

    # The third annotator calls step 2 wrong; the broadcast after commit reaches the open queue page.
    off_loop(annotate, project=project, user=users["ann3"], ratings=[1, -1, 1], chain="c1")
    row = page.locator("#review-queue tbody tr[data-chain]")
    expect(row).to_have_count(1, timeout=8_000)
    expect(row).to_contain_text("c1")
    expect(row).to_contain_text("Annotators rated a step differently")

    row.get_by_role("link", name="Adjudicate").click()
    expect(page.get_by_role("heading", name="Adjudicate c1")).to_be_visible()
    step2 = page.locator('tr[data-step="1"]')
    expect(step2).to_have_class("contested")
    expect(step2.locator(".rating")).to_have_text(["+1", "+1", "−1", "+1"])  # A, B, C, majority
    page.get_by_label("Final label of step 2").select_option("-1")
    page.get_by_label("Reason for step 2").fill("2 + 12 is right, but 3 * 4 was meant as (2 + 3) * 4")
    page.get_by_label("Note for the audit log").fill("Settled with the problem's wording")
    page.get_by_role("button", name="Save final labels").click()
    expect(page.locator(".messages")).to_contain_text("Final labels of c1 saved: 1 step changed")
    expect(page.locator('tr[data-step="1"] .set')).to_contain_text("final −1 by rev")
    expect(page.locator(".card", has_text="Decisions")).to_contain_text("Settled with the problem's wording")

    c1 = chain(project, "c1")
    assert FinalLabel.objects.get(chain=c1, step_key=1).rating == -1
    assert ReviewItem.objects.get(chain=c1).status == ItemStatus.RESOLVED
    rows = {r["id"]: r["label"] for r in json.loads(b"".join(export_lines(project=project, fmt="processbench")))}
    assert rows["c1"] == 1  # the final label, not the majority's "no error"

    # Back in the queue: c1 left the open tab and sits under "Adjudicated".
    page.goto(f"{asgi_server.url}{reverse('review-queue', args=[project.slug])}?status=resolved")
    expect(page.locator("#review-queue tbody tr[data-chain]")).to_contain_text("c1")


def test_an_annotator_of_the_chain_cannot_adjudicate_it(make_user, asgi_server, browser, page):
    project, users = make_project(make_user)
    for name, ratings in (("ann1", [1, 1, 1]), ("ann2", [1, 1, 1]), ("ann3", [1, -1, 1])):
        annotate(project, users[name], ratings, chain="c1")
    membership_set(project=project, user=users["ann3"], role=Role.REVIEWER)
    log_in(page, asgi_server, "ann3")
    page.goto(f"{asgi_server.url}{reverse('review-adjudicate', args=[chain(project, 'c1').pk])}")
    expect(page.get_by_role("alert")).to_contain_text("You annotated this chain")
    expect(page.get_by_role("button", name="Save final labels")).to_have_count(0)
    assert not Decision.objects.exists()


def test_the_dashboard_follows_submissions_live(make_user, asgi_server, browser, page, worker_process):
    """A submission reaches the open dashboard: the page re-reads itself, shows the last figures marked stale
    while a real Celery worker recomputes them, then the new ones."""
    from django.core.cache import cache

    worker_process().start()
    project, users = make_project(make_user)
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    cache.delete(f"review:quality:latest:{project.pk}:200")  # ids repeat across test sessions
    log_in(page, asgi_server, "rev")
    page.goto(f"{asgi_server.url}{reverse('review-dashboard', args=[project.slug])}")
    expect(page.locator("#label-count")).to_contain_text("6 step labels")
    expect(page.locator("#quality-dashboard")).to_have_attribute("data-live", "yes")
    off_loop(annotate, project=project, user=users["ann3"], ratings=[1, -1, 1], chain="c1")
    expect(page.locator("#label-count")).to_contain_text("9 step labels", timeout=30_000)
    expect(page.locator("#quality-dashboard")).to_have_attribute("data-stale", "no")
    expect(page.locator("#annotator-table")).to_contain_text("ann3")


def test_a_planted_error_shows_who_missed_it_on_the_dashboard(make_user, asgi_server, browser, page):
    """The researcher plants an error into c1; of the three annotators who get the copy, one finds it: the
    reviewer's dashboard in Chromium says who found it and who missed it."""
    from django.core.cache import cache

    from review.adjudication import chain_plant_error

    project, users = make_project(make_user)
    planted = chain_plant_error(chain=chain(project, "c1"), user=users["res"], rule="arithmetic", step=0, seed=3)
    for name in ("ann1", "ann2", "ann3"):  # claimed in id order: c1, c2, then the planted copy
        annotate(project, users[name], [1, 1, 1], chain="c1")
        annotate(project, users[name], [1, 1], chain="c2")
    annotate(project, users["ann1"], [-1, 1, 1], chain=planted.source_id)  # found it
    annotate(project, users["ann2"], [1, 1, 1], chain=planted.source_id)  # missed it
    annotate(project, users["ann3"], [1, -1, 1], chain=planted.source_id)  # missed it (wrong step)
    cache.delete(f"review:quality:latest:{project.pk}:200")  # ids repeat across test sessions
    log_in(page, asgi_server, "rev")
    page.goto(f"{asgi_server.url}{reverse('review-dashboard', args=[project.slug])}")
    table = page.locator("#annotator-table")
    expect(table.locator("tr", has_text="ann1")).to_contain_text("1 of 1 (100.0 %)")
    expect(table.locator("tr", has_text="ann2")).to_contain_text("0 of 1 (")
    expect(table.locator("tr", has_text="ann3")).to_contain_text("0 of 1 (")
