"""Sparse label saves: a field not sent keeps its value; cost independent of the chain's length;
optimistic locking; a save retried after its reply was lost is answered as stored."""

import json
import threading

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.exceptions import Conflict
from annotation.models import Assignment, Role, StepLabel
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    chains_import,
    membership_set,
    project_create,
)


def chain_of(n: int) -> bytes:
    return json.dumps({"id": f"long-{n}", "problem": "Add them up.",
                       "steps": [f"Step {i}: \\(x_{{{i}}} = {i}\\) so far, and so on." for i in range(n)]}).encode()


@pytest.fixture
def long_assignment(project, annotator):
    def make(n: int):
        chains_import(project=project, data=chain_of(n))
        return assignment_claim_next(project=project, user=annotator)
    return make


def label(assignment, index):
    return StepLabel.objects.get(assignment_id=assignment.pk, step_key=index)


@pytest.mark.django_db
def test_a_rating_only_save_keeps_rationale_correction_and_flag(imported, annotator):
    a = assignment_claim_next(project=imported, user=annotator)
    saved = assignment_labels_save(assignment=a, user=annotator, version=a.version, labels=[
        LabelInput(0, -1, rationale="17 × 4 is 68", correction="So 68.", flagged=True, unsure=True,
                   error_type="arithmetic")])
    saved = assignment_labels_save(assignment=a, user=annotator, version=saved.version, labels=[LabelInput(0, rating=1)])
    row = label(a, 0)
    assert (row.rating, row.rationale, row.correction, row.flagged, row.unsure, row.error_type) == (
        1, "17 × 4 is 68", "So 68.", True, True, "arithmetic")
    # and a text-only save keeps the rating; an explicit null clears only what it names
    saved = assignment_labels_save(assignment=a, user=annotator, version=saved.version,
                                   labels=[LabelInput(0, rationale="")])
    assignment_labels_save(assignment=a, user=annotator, version=saved.version, labels=[LabelInput(0, flagged=None)])
    row = label(a, 0)
    assert (row.rating, row.rationale, row.correction, row.flagged) == (1, "", "So 68.", None)


@pytest.mark.django_db
def test_the_api_patch_changes_only_the_fields_sent(imported, annotator, api_client):
    client = api_client(annotator)
    body = client.post(reverse("api-queue-next", args=[imported.slug])).json()
    url = reverse("api-assignment-labels", args=[body["id"]])
    first = client.patch(url, {"version": body["version"], "labels": [
        {"step": 1, "rating": -1, "rationale": "wrong sum", "correction": "3 + 4 = 7", "flagged": True}]},
        format="json").json()
    second = client.patch(url, {"version": first["version"], "labels": [{"step": 1, "rating": 0}]}, format="json")
    assert second.status_code == 200
    [stored] = client.get(reverse("api-assignment", args=[body["id"]])).json()["labels"]
    assert stored == {"step": 1, "key": 1, "rating": 0, "unsure": False, "flagged": True, "rationale": "wrong sum",
                      "correction": "3 + 4 = 7", "error_type": ""}


@pytest.mark.django_db
@pytest.mark.parametrize("steps", [40, 8000])
def test_a_save_costs_the_same_few_queries_whatever_the_chain_length(long_assignment, annotator, api_client, steps):
    a = long_assignment(steps)
    client = api_client(annotator)
    url = reverse("api-assignment-labels", args=[a.pk])
    version = a.version
    with CaptureQueriesContext(connection) as queries:
        response = client.patch(url, {"version": version, "labels": [{"step": steps - 1, "rating": 1},
                                                                     {"step": 3, "rating": -1}]}, format="json")
    assert response.status_code == 200, response.json()
    # session, user, the assignment with its revision's shape, the conditional update, the upsert.
    # (The test runs inside a transaction, so the service's own one shows as a savepoint: not a query.)
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(statements) <= 5, [sql[:120] for sql in statements]
    assert not any("annotation_chainrevision" in q["sql"] and "texts" in q["sql"] for q in queries), \
        "a save read the chain's texts"
    assert label(a, steps - 1).rating == 1 and label(a, 3).rating == -1


@pytest.mark.django_db
def test_a_retried_save_whose_reply_was_lost_is_answered_as_stored(imported, annotator):
    a = assignment_claim_next(project=imported, user=annotator)
    first = assignment_labels_save(assignment=a, user=annotator, version=a.version, labels=[LabelInput(0, 1)],
                                   save_key="k-1")
    # the reply never arrived: the page sends the same save again, with the version it had
    again = assignment_labels_save(assignment=a, user=annotator, version=a.version, labels=[LabelInput(0, 1)],
                                   save_key="k-1")
    assert again.replayed and again.version == first.version
    assert Assignment.objects.get(pk=a.pk).version == first.version  # written once
    # a different save with the stale version is a real conflict
    with pytest.raises(Conflict) as caught:
        assignment_labels_save(assignment=a, user=annotator, version=a.version, labels=[LabelInput(0, -1)],
                               save_key="k-2")
    assert "another tab" in caught.value.message and label(a, 0).rating == 1


@pytest.mark.django_db
def test_submit_after_a_lost_save_reply_is_not_a_conflict(imported, annotator, api_client):
    client = api_client(annotator)
    body = client.post(reverse("api-queue-next", args=[imported.slug])).json()
    n = len(body["chain"]["steps"])
    labels = [{"step": i, "rating": 1} for i in range(n)]
    client.patch(reverse("api-assignment-labels", args=[body["id"]]),
                 {"version": body["version"], "labels": labels, "save_key": "s1"}, format="json")
    response = client.post(reverse("api-assignment-submit", args=[body["id"]]),
                           {"version": body["version"], "finish_reason": "solution", "save_key": "s1"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "submitted"


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_with_one_version_store_exactly_one(make_user):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    project = project_create(slug="race-saves")
    chains_import(project=project, data=b'{"id": "c", "problem": "p", "steps": ["a", "b", "c", "d"]}')
    user = make_user("racer")
    membership_set(project=project, user=user, role=Role.ANNOTATOR)
    a = assignment_claim_next(project=project, user=user)
    barrier = threading.Barrier(4)
    outcomes = []

    def save(index):
        try:
            barrier.wait()
            assignment_labels_save(assignment=a.pk, user=user, version=a.version, labels=[LabelInput(index, 1)],
                                   save_key=f"tab-{index}")
            outcomes.append(("ok", index))
        except Conflict:
            outcomes.append(("conflict", index))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [i for kind, i in outcomes if kind == "ok"]
    assert len(won) == 1 and len(outcomes) == 4
    assert list(StepLabel.objects.filter(assignment=a).values_list("step_key", flat=True)) == won
    assert Assignment.objects.get(pk=a.pk).version == a.version + 1


@pytest.mark.django_db
def test_save_refuses_bad_fields_with_their_name(imported, annotator, api_client):
    client = api_client(annotator)
    body = client.post(reverse("api-queue-next", args=[imported.slug])).json()
    url = reverse("api-assignment-labels", args=[body["id"]])
    cases = [
        ({"labels": [{"step": 0, "error_type": "spelling"}]}, "labels[0].error_type", "rubric"),
        ({"labels": [{"step": 0, "rating": 0}], "active_seconds": 2**31}, "active_seconds", ""),
        ({"labels": [{"step": 0, "rationale": "x\u0000y"}]}, "labels[0].rationale", "Null characters"),
    ]
    for extra, field, words in cases:
        response = client.patch(url, {"version": body["version"], **extra}, format="json")
        assert response.status_code == 400, extra
        text = json.dumps(response.json())
        assert field.split(".")[-1] in text and words in text
    assert not StepLabel.objects.exists()
