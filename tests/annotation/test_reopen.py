"""Reopening a submitted chain (POST /api/assignments/<id>/reopen/, services.assignment_reopen): only its
annotator, only while it is submitted (before review), only when the project allows it."""

import pytest
from django.urls import reverse

from annotation.models import Annotation, AssignmentStatus
from annotation.services import LabelInput, assignment_claim_next, assignment_labels_save, assignment_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def submitted(imported, annotator):
    a = assignment_claim_next(project=imported, user=annotator)
    saved = assignment_labels_save(assignment=a, user=annotator, version=a.version,
                                   labels=[LabelInput(0, 1, rationale="fine"), LabelInput(1, -1)])
    return assignment_submit(assignment=a, user=annotator, finish_reason="found_error", version=saved.version,
                             comment="step 2 adds wrong")


def test_reopen_gives_the_chain_back_with_its_labels(submitted, annotator, api_client):
    response = api_client(annotator).post(reverse("api-assignment-reopen", args=[submitted.pk]))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == AssignmentStatus.IN_PROGRESS
    assert body["version"] == submitted.version + 1
    assert body["reopened_from"] == {"finish_reason": "found_error", "comment": "step 2 adds wrong"}
    assert not Annotation.objects.filter(assignment=submitted).exists()
    labels = api_client(annotator).get(reverse("api-assignment", args=[submitted.pk])).json()["labels"]
    assert [(label["step"], label["rating"], label["rationale"]) for label in labels] == [(0, 1, "fine"), (1, -1, "")]
    # and it can be submitted again
    again = api_client(annotator).post(reverse("api-assignment-submit", args=[submitted.pk]),
                                       {"version": body["version"], "finish_reason": "found_error"}, format="json")
    assert again.status_code == 200 and again.json()["status"] == "submitted"


def test_reopen_refuses_an_open_chain_and_twice(imported, annotator, submitted, api_client):
    client = api_client(annotator)
    assert client.post(reverse("api-assignment-reopen", args=[submitted.pk])).status_code == 200
    second = client.post(reverse("api-assignment-reopen", args=[submitted.pk]))
    assert second.status_code == 409
    assert "only a chain you submitted" in second.json()["detail"]


def test_reopen_refused_when_the_project_does_not_allow_it(imported, submitted, annotator, api_client):
    imported.label_schema = {"allow_reopen": False}
    imported.save(update_fields=["label_schema"])
    response = api_client(annotator).post(reverse("api-assignment-reopen", args=[submitted.pk]))
    assert response.status_code == 409 and "does not let annotators reopen" in response.json()["detail"]
    assert Annotation.objects.filter(assignment=submitted).exists()


def test_reopen_validates_ownership(submitted, annotator2, outsider, api_client):
    url = reverse("api-assignment-reopen", args=[submitted.pk])
    assert api_client(annotator2).post(url).status_code == 404
    assert api_client(outsider).post(url).status_code == 404
    assert api_client().post(url).status_code in (401, 403)
    assert Annotation.objects.filter(assignment=submitted).exists()


def test_workspace_page_is_a_compact_payload(imported, annotator, client, django_assert_max_num_queries):
    a = assignment_claim_next(project=imported, user=annotator)
    client.force_login(annotator)
    with django_assert_max_num_queries(6):
        page = client.get(reverse("assignment", args=[a.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="step"') == 0  # rows are rendered in the browser, from the payload
    assert '<script type="application/json" id="workspace-data">' in html


def test_history_lists_the_annotators_chains(submitted, annotator, client):
    client.force_login(annotator)
    page = client.get(reverse("history", args=[submitted.chain.project.slug]))
    assert page.status_code == 200
    assert submitted.chain.source_id in page.content.decode() and "Found an error" in page.content.decode()


def test_reopen_refused_while_another_chain_is_open(imported, annotator, submitted, api_client):
    """One open assignment per annotator and project: reopening while the next chain is open was an
    IntegrityError (500, found by tests/platform/test_api_fuzz.py); it is a 409 naming the open one."""
    current = assignment_claim_next(project=imported, user=annotator)
    response = api_client(annotator).post(reverse("api-assignment-reopen", args=[submitted.pk]))
    assert response.status_code == 409, response.content
    assert f"assignment {current.pk} open" in response.json()["detail"]
    submitted.refresh_from_db()
    assert submitted.status == AssignmentStatus.SUBMITTED
    assert Annotation.objects.filter(assignment=submitted).exists()  # the outcome was not removed
