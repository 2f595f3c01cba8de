"""A submitted pass can no longer be reopened once a reviewer has set final labels on its chain (409, with
what to do instead); before that, reopening still works (the queue item is judged again)."""

import pytest
from django.urls import reverse

from annotation.exceptions import Conflict
from annotation.models import Assignment, AssignmentStatus
from annotation.services import assignment_reopen
from review.adjudication import FinalLabelInput, chain_adjudicate
from tests.review.quality_helpers import annotate, chain, local_cache, make_project  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def adjudicated(make_user):
    project, users = make_project(make_user)
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, -1, 1], chain="c1")
    annotate(project, users["ann3"], [1, 1, 1], chain="c1")
    return project, users


def test_reopen_is_refused_after_final_labels_are_set(adjudicated, api_client):
    project, users = adjudicated
    mine = Assignment.objects.get(annotator=users["ann2"], chain__source_id="c1")
    chain_adjudicate(chain=chain(project, "c1"), reviewer=users["rev"], note="step 2 is right",
                     labels=[FinalLabelInput(1, 1)])
    assert chain(project, "c1").adjudicated_at is not None
    response = api_client(users["ann2"]).post(reverse("api-assignment-reopen", args=[mine.pk]))
    assert response.status_code == 409
    assert "A reviewer has already set final labels on this chain" in response.json()["detail"]
    mine.refresh_from_db()
    assert mine.status == AssignmentStatus.SUBMITTED and hasattr(mine, "annotation")


def test_reopen_still_works_before_any_final_label(adjudicated):
    project, users = adjudicated
    mine = Assignment.objects.get(annotator=users["ann2"], chain__source_id="c1")
    assert assignment_reopen(assignment=mine, user=users["ann2"]).status == AssignmentStatus.IN_PROGRESS


def test_another_chains_final_labels_do_not_block_reopen(adjudicated):
    project, users = adjudicated
    chain_adjudicate(chain=chain(project, "c1"), reviewer=users["rev"], note="settled", labels=[FinalLabelInput(1, 1)])
    c2 = annotate(project, users["ann1"], [1, 1], chain="c2")
    assert assignment_reopen(assignment=c2, user=users["ann1"]).status == AssignmentStatus.IN_PROGRESS
    with pytest.raises(Conflict):
        assignment_reopen(assignment=Assignment.objects.get(annotator=users["ann1"], chain__source_id="c1"),
                          user=users["ann1"])


@pytest.mark.django_db(transaction=True)
def test_a_reopen_waits_for_a_decision_in_progress_and_then_refuses(make_user):
    """While a reviewer's decision holds the chain row (NO KEY UPDATE, as chain_adjudicate takes it), a reopen
    of a pass of that chain waits; once the decision commits with final labels, the reopen refuses."""
    import threading

    from django.db import connection, transaction
    from django.utils import timezone

    from annotation.models import Chain

    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    mine = annotate(project, users["ann2"], [1, -1, 1], chain="c1")
    c1 = chain(project, "c1")
    outcome, started, done = [], threading.Event(), threading.Event()

    def reopen():
        try:
            started.set()
            assignment_reopen(assignment=mine.pk, user=users["ann2"])
            outcome.append("reopened")
        except Conflict as exc:
            outcome.append(exc.message)
        finally:
            connection.close()
            done.set()

    with transaction.atomic():
        Chain.objects.select_for_update(no_key=True).filter(pk=c1.pk).first()
        thread = threading.Thread(target=reopen)
        thread.start()
        started.wait(5)
        assert not done.wait(1.0), "the reopen must wait for the decision holding the chain"
        Chain.objects.filter(pk=c1.pk).update(adjudicated_at=timezone.now())
    thread.join(10)
    assert outcome and outcome[0].startswith("A reviewer has already set final labels")
    assert Assignment.objects.get(pk=mine.pk).status == AssignmentStatus.SUBMITTED
