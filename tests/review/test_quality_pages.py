"""The review pages through Django's test client: who sees them, what they show, the form's refusals."""

import time

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.services import LabelInput, chains_import
from annotation.services.assignments import assignment_submit
from annotation.services.queue import assignment_claim_next
from review.quality_models import Decision, FinalLabel
from review.quality_selectors import adjudication_data
from tests.review.quality_helpers import annotate, chain, local_cache, make_project  # noqa: F401 (fixture)


@pytest.fixture
def disputed(make_user):
    project, users = make_project(make_user)
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    annotate(project, users["ann3"], [1, -1, 1], chain="c1")
    users["outsider"] = make_user("outsider")
    return project, users


@pytest.mark.django_db
def test_who_sees_the_review_pages(disputed, client):
    project, users = disputed
    urls = [reverse("review-queue", args=[project.slug]), reverse("review-dashboard", args=[project.slug]),
            reverse("review-adjudicate", args=[chain(project, "c1").pk])]
    for url in urls:
        assert client.get(url).status_code == 302  # anonymous: to the login page
    # An annotator is a member: the project's review pages are refused (403); a chain in review is not
    # theirs to know of (404, blind).
    for name, expected in (("outsider", (404, 404, 404)), ("ann1", (403, 403, 404)), ("rev", (200, 200, 200)),
                           ("res", (200, 200, 200))):
        client.force_login(users[name])
        for url, status in zip(urls, expected, strict=True):
            assert client.get(url).status_code == status, (name, url)
    client.force_login(users["rev"])
    page = client.get(reverse("project", args=[project.slug])).content.decode()
    assert reverse("review-queue", args=[project.slug]) in page


@pytest.mark.django_db
def test_the_dashboard_draws_its_plots(disputed, client):
    project, users = disputed
    client.force_login(users["rev"])
    html = client.get(reverse("review-dashboard", args=[project.slug])).content.decode()
    assert html.count("<svg") == 3 and "Krippendorff" in html and "ann3" in html
    assert "<script>" not in html.split("<main>")[1].split("</main>")[0]  # the plots carry no script


@pytest.mark.django_db
def test_the_form_adjudicates_refuses_and_requests_debates(disputed, client):
    project, users = disputed
    c1 = chain(project, "c1")
    url = reverse("review-adjudicate", args=[c1.pk])
    client.force_login(users["rev"])
    refused = client.post(url, {"final_1": "-1", "note": "", "request_key": "k0", "revision": "1"})
    assert refused.status_code == 400 and "Write a note" in refused.content.decode()
    assert not Decision.objects.exists()
    done = client.post(url, {"final_1": "-1", "reason_1": "order of operations", "note": "checked",
                             "request_key": "k1", "revision": "1"}, follow=True)
    assert "saved: 1 step changed" in done.content.decode()
    again = client.post(url, {"final_1": "-1", "reason_1": "order of operations", "note": "checked",
                              "request_key": "k1", "revision": "1"}, follow=True)  # a double click
    assert again.status_code == 200 and Decision.objects.count() == 1 and FinalLabel.objects.count() == 1
    debate = client.post(url, {"debate": "1", "note": "", "request_key": "k2"}, follow=True)
    assert "A debate on step 2 was requested" in debate.content.decode()
    [change] = Decision.objects.filter(kind="debate").get().changes
    # No model backend is configured here: the request is recorded with why no debate could start.
    assert change["step"] == 1 and change["key"] == 1 and "No model backend" in change["not_started"]


@pytest.mark.django_db
def test_the_page_shows_the_models_critiques_and_debates(disputed, client):
    from oversight.models import Critique, DebateTurn, OversightRun

    project, users = disputed
    c1 = chain(project, "c1")
    critique_run = OversightRun.objects.create(chain=c1, revision=1, kind="critique", cache_key="c", status="done")
    Critique.objects.create(run=critique_run, step_key=1, verdict="incorrect", confidence=0.8,
                            explanation="<b>12 + 2</b> is 14")
    debate = OversightRun.objects.create(chain=c1, revision=1, kind="debate", step_key=1, cache_key="d",
                                         status="done")
    DebateTurn.objects.create(run=debate, round=1, side="pro", text="It is right.")
    client.force_login(users["rev"])
    html = client.get(reverse("review-adjudicate", args=[c1.pk])).content.decode()
    step2 = html.split('data-step="1"')[1].split('data-step="2"')[0]
    assert "critique: incorrect (0.80)" in step2 and "debate done, 1 turn" in step2
    assert "<b>12" not in html and "&lt;b&gt;12 + 2&lt;/b&gt; is 14" in step2  # a model's text is escaped


@pytest.mark.django_db
def test_an_8000_step_chain_is_adjudicated_a_window_at_a_time(make_user):
    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    for name in ("ann1", "ann2"):  # c1 and c2 come first in the queue
        annotate(project, users[name], [1, 1, 1], chain="c1")
        annotate(project, users[name], [1, 1], chain="c2")
    n = 8000
    chains_import(project=project, data=orjson.dumps({"id": "long", "problem": "p",
                                                      "steps": [f"step {i}" for i in range(n)]}), filename="l.json")
    for name, wrong in (("ann1", 7950), ("ann2", 7990)):
        a = assignment_claim_next(project=project, user=users[name])
        assert a.chain.source_id == "long"
        assignment_submit(assignment=a, user=users[name], finish_reason="found_error", version=a.version,
                          labels=[LabelInput(i, 1) for i in range(wrong)] + [LabelInput(wrong, -1)])
    long = chain(project, "long")
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        data = adjudication_data(chain=long, user=users["rev"], start=7900, size=100)
    elapsed = time.perf_counter() - start
    assert [s["index"] for s in data["steps"]] == list(range(7900, 8000))
    assert data["window"]["contested_total"] == 1  # step 7950: −1 against +1; 7990 was rated by one only
    assert len(queries) <= 12, [q["sql"][:80] for q in queries.captured_queries]
    assert elapsed < 2.0, elapsed
    contested = adjudication_data(chain=long, user=users["rev"], contested_only=True)
    assert [s["index"] for s in contested["steps"]] == [7950]


@pytest.mark.django_db
def test_researchers_set_the_policy_on_the_queue_page(disputed, client):
    from review.quality_selectors import policy_of

    project, users = disputed
    url = reverse("review-queue", args=[project.slug])
    form = {"queue_rule": "first_error", "consensus": "dawid_skene", "alpha_threshold": "0.5", "min_annotators": "3",
            "fast_seconds_per_step": "1.5", "gold_share": "0.1", "show_annotator_names": "on"}
    client.force_login(users["rev"])
    assert client.post(url, form).status_code == 404  # reviewers read the policy, researchers set it
    client.force_login(users["res"])
    assert "Review policy" in client.get(url).content.decode()
    done = client.post(url, form, follow=True)
    assert "Review policy saved" in done.content.decode()
    policy = policy_of(project=project)
    assert (policy.queue_rule, policy.consensus, policy.min_annotators, policy.show_annotator_names) == (
        "first_error", "dawid_skene", 3, True)
    bad = client.post(url, {**form, "alpha_threshold": "high"}, follow=True)
    assert "high&#x27; is not a number. Nothing was changed." in bad.content.decode()
    bad = client.post(url, {**form, "min_annotators": "1"}, follow=True)
    assert "min_annotators is 1; expected an integer from 2 to 20" in bad.content.decode()
    assert policy_of(project=project).min_annotators == 3
