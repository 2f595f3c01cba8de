"""The quality-control API: measures, queue, policy, adjudication, rework, planting, gold."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Chain
from review.quality_models import Decision, FinalLabel, ReviewItem
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
def test_quality_answers_alpha_ac1_and_first_error_agreement_with_intervals(disputed, api_client):
    project, users = disputed
    response = api_client(users["rev"]).get(reverse("api-quality", args=[project.slug]) + "?resamples=50")
    assert response.status_code == 200, response.json()
    body = response.json()
    for name in ("krippendorff_alpha", "gwet_ac1", "first_error_agreement"):
        assert {"value", "low", "high", "n_labels"} <= set(body[name]), name
    assert body["krippendorff_alpha"]["n_labels"] == 9 and body["n_annotators"] == 3
    assert [a["annotator"] for a in body["annotators"]] == ["ann1", "ann2", "ann3"]


@pytest.mark.django_db
def test_quality_refuses_a_bad_resample_count(disputed, api_client):
    project, users = disputed
    response = api_client(users["rev"]).get(reverse("api-quality", args=[project.slug]) + "?resamples=lots")
    assert response.status_code == 400
    assert "is not a whole number" in response.json()["resamples"][0]


@pytest.mark.django_db
def test_anonymous_outsiders_and_annotators_get_nothing(disputed, api_client):
    project, users = disputed
    c1 = chain(project, "c1")
    urls = [reverse("api-quality", args=[project.slug]), reverse("api-review-queue", args=[project.slug]),
            reverse("api-adjudication", args=[c1.pk])]
    # Annotators do not see the others' labels: the project's dashboards are refused (403: they are members),
    # a chain in review is not theirs to know of (404).
    for url, annotator_status in zip(urls, (403, 403, 404), strict=True):
        assert api_client().get(url).status_code in (401, 403), url
        assert api_client(users["outsider"]).get(url).status_code == 404, url
        assert api_client(users["ann1"]).get(url).status_code == annotator_status, url
    post = api_client(users["outsider"]).post(reverse("api-adjudication", args=[c1.pk]),
                                              {"labels": [{"step": 1, "rating": -1}], "note": "x"}, format="json")
    assert post.status_code == 404 and not FinalLabel.objects.exists()


@pytest.mark.django_db
def test_queue_judges_chains_in_a_fixed_number_of_queries(disputed, api_client):
    project, users = disputed
    client = api_client(users["rev"])
    url = reverse("api-review-queue", args=[project.slug])
    with CaptureQueriesContext(connection) as one:  # judges c1
        body = client.get(url).json()
    assert [i["source_id"] for i in body["items"]] == ["c1"] and body["counts"]["open"] == 1
    with CaptureQueriesContext(connection) as none:  # nothing changed: nothing judged
        client.get(url)
    assert len(none) < len(one)
    for name, ratings in (("ann1", [1, 1]), ("ann2", [1, -1]), ("ann3", [1, 1])):
        annotate(project, users[name], ratings, chain="c2")
    ReviewItem.objects.update(judged_submissions=0)  # c1 to be judged again, with c2
    with CaptureQueriesContext(connection) as two:
        body = client.get(url).json()
    assert len(body["items"]) == 2
    # The same queries for two chains as for one; + 1 because this batch both inserts (c2) and updates (c1).
    assert len(two) <= len(one) + 1, [q["sql"][:100] for q in two.captured_queries]


@pytest.mark.django_db
def test_adjudicate_through_the_api(disputed, api_client):
    project, users = disputed
    c1 = chain(project, "c1")
    client = api_client(users["rev"])
    page = client.get(reverse("api-adjudication", args=[c1.pk]) + "?contested=1").json()
    assert [s["index"] for s in page["steps"]] == [1]
    assert [lab["rating"] for lab in page["steps"][0]["labels"]] == [1, 1, -1]
    assert page["annotators"][0]["name"] == "Annotator A"  # names hidden by default
    body = {"labels": [{"step": 1, "rating": -1, "reason": "12 + 2 is 14, but the problem is 2 + 3·4"}],
            "note": "checked", "request_key": "abc", "revision": 1}
    response = client.post(reverse("api-adjudication", args=[c1.pk]), body, format="json")
    assert response.status_code == 200, response.json()
    again = client.post(reverse("api-adjudication", args=[c1.pk]), body, format="json")
    assert again.json()["id"] == response.json()["id"] and Decision.objects.count() == 1
    assert ReviewItem.objects.filter(chain=c1, status="resolved").exists() or not ReviewItem.objects.exists()


@pytest.mark.django_db
def test_adjudicate_refuses_bad_input_with_the_field(disputed, api_client):
    project, users = disputed
    c1 = chain(project, "c1")
    client = api_client(users["rev"])
    url = reverse("api-adjudication", args=[c1.pk])
    bad_rating = client.post(url, {"labels": [{"step": 1, "rating": 3}], "note": "n"}, format="json")
    assert bad_rating.status_code == 400 and "expected one of -1, 0, 1" in bad_rating.json()["detail"]
    no_labels = client.post(url, {"labels": [], "note": "n"}, format="json")
    assert no_labels.status_code == 400 and "labels" in no_labels.json()
    assert not Decision.objects.exists()


@pytest.mark.django_db
def test_self_adjudication_is_refused_through_the_api(disputed, api_client):
    project, users = disputed
    from annotation.models import Role
    from annotation.services import membership_set

    membership_set(project=project, user=users["ann3"], role=Role.REVIEWER)
    c1 = chain(project, "c1")
    response = api_client(users["ann3"]).post(reverse("api-adjudication", args=[c1.pk]),
                                              {"labels": [{"step": 1, "rating": -1}], "note": "I was right"},
                                              format="json")
    assert response.status_code == 403 and "You annotated this chain" in response.json()["detail"]


@pytest.mark.django_db
def test_policy_rework_debate_plant_and_gold(disputed, api_client):
    project, users = disputed
    c1, c2 = chain(project, "c1"), chain(project, "c2")
    res, rev = api_client(users["res"]), api_client(users["rev"])
    url = reverse("api-review-policy", args=[project.slug])
    assert rev.patch(url, {"queue_rule": "first_error"}, format="json").status_code == 403  # a reviewer sees the policy, may not change it
    response = res.patch(url, {"queue_rule": "first_error", "show_annotator_names": True, "gold_share": 0.1},
                         format="json")
    assert response.status_code == 200 and response.json()["queue_rule"] == "first_error"
    assert res.patch(url, {"queue_rule": "never"}, format="json").status_code == 400
    page = rev.get(reverse("api-adjudication", args=[c1.pk])).json()
    assert page["annotators"][0]["name"] == "ann1"  # names shown now
    rework = rev.post(reverse("api-chain-rework", args=[c1.pk]), {"note": "split step 2"}, format="json")
    assert rework.status_code == 200 and rework.json()["kind"] == "rework"
    debate = rev.post(reverse("api-chain-debate", args=[c1.pk]), {"step": 1}, format="json")
    assert debate.status_code == 200 and debate.json()["changes"][0]["key"] == 1
    assert rev.post(reverse("api-chain-debate", args=[c1.pk]), {}, format="json").status_code == 400
    plant = res.post(reverse("api-chain-plant", args=[c2.pk]), {"step": 0}, format="json")
    assert plant.status_code == 201, plant.json()
    assert plant.json()["planted"]["step_key"] == 0 and Chain.objects.get(pk=plant.json()["id"]).is_gold
    assert rev.post(reverse("api-chain-plant", args=[c2.pk]), {}, format="json").status_code == 404
    gold = res.patch(reverse("api-chain-gold", args=[c2.pk]), {"is_screening": True}, format="json")
    assert gold.json() == {"id": c2.pk, "is_gold": False, "is_screening": True}


@pytest.mark.django_db
def test_quality_answers_the_last_figures_at_once_and_recomputes_in_the_background(disputed, api_client):
    from config.celery import app

    project, users = disputed
    client = api_client(users["rev"])
    url = reverse("api-quality", args=[project.slug]) + "?resamples=20"
    first = client.get(url).json()
    assert first["n_labels"] == 9 and "stale" not in first
    for name, ratings in (("ann1", [1, 1]), ("ann2", [1, -1])):
        annotate(project, users[name], ratings, chain="c2")
    app.conf.task_always_eager = True  # the recomputation runs here, as a worker would run it
    try:
        stale = client.get(url).json()
    finally:
        app.conf.task_always_eager = False
    assert stale["stale"] is True and stale["n_labels"] == 9  # what was known, at once
    fresh = client.get(url).json()
    assert "stale" not in fresh and fresh["n_labels"] == 13  # the background run stored the new figures
    assert client.get(url + "&fresh=1").json()["n_labels"] == 13
