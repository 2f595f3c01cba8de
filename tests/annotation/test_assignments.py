"""The queue, autosave and submit: overlap k, isolation between annotators, idempotency, locking."""

import pytest
from django.db import connection

from annotation.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from annotation.models import Annotation, Assignment, AssignmentStatus, Role
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_skip,
    assignment_submit,
    chains_import,
    membership_set,
    project_create,
)
from tests.concurrency import claim_at_once
from tests.conftest import DEMO_DATA


def rate_all(assignment, user, rating=1):
    n = assignment.chain.step_count
    return assignment_labels_save(assignment=assignment, user=user, version=assignment.version,
                                  labels=[LabelInput(step=i, rating=rating) for i in range(n)])


@pytest.mark.django_db
def test_claim_returns_the_open_assignment_until_it_is_submitted(imported, annotator):
    first = assignment_claim_next(project=imported, user=annotator)
    assert assignment_claim_next(project=imported, user=annotator).pk == first.pk
    saved = rate_all(first, annotator)
    assignment_submit(assignment=first, user=annotator, finish_reason="solution", version=saved.version)
    second = assignment_claim_next(project=imported, user=annotator)
    assert second.pk != first.pk and second.chain_id != first.chain_id


@pytest.mark.django_db
def test_overlap_k_gives_each_chain_to_k_annotators_then_no_more(make_user, db):
    project = project_create(slug="tiny", overlap_k=2)
    chains_import(project=project, data=(DEMO_DATA / "processbench_math_excerpt.json").read_bytes())
    users = [make_user(f"a{i}") for i in range(3)]
    for user in users:
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
    seen: dict[int, list[str]] = {}
    for user in users:
        while (a := assignment_claim_next(project=project, user=user)) is not None:
            seen.setdefault(a.chain_id, []).append(user.username)
            a = rate_all(a, user)  # submit it, so the next claim takes a new chain
            assignment_submit(assignment=a, user=user, finish_reason="solution", version=a.version)
    assert len(seen) == 10
    assert all(len(names) == 2 and len(set(names)) == 2 for names in seen.values())


@pytest.mark.django_db
def test_skipping_frees_the_slot_for_someone_else_but_not_for_the_skipper(make_user, db):
    project = project_create(slug="one", overlap_k=1)
    chains_import(project=project, data=b'{"id": "only", "problem": "p", "steps": ["a", "b"]}')
    alice, bob = make_user("alice"), make_user("bob")
    for user in (alice, bob):
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
    mine = assignment_claim_next(project=project, user=alice)
    assert assignment_claim_next(project=project, user=bob) is None  # the only slot is held
    assignment_skip(assignment=mine, user=alice)
    assert assignment_claim_next(project=project, user=alice) is None
    assert assignment_claim_next(project=project, user=bob).chain_id == mine.chain_id


@pytest.mark.django_db
def test_a_retried_skip_is_answered_as_done_and_a_submitted_chain_cannot_be_skipped(imported, annotator, outsider):
    first = assignment_claim_next(project=imported, user=annotator)
    skipped = assignment_skip(assignment=first, user=annotator, reason="Outside my expertise")
    # The page retries a skip whose reply was lost in a crash: the same answer, nothing changed twice.
    again = assignment_skip(assignment=first, user=annotator, reason="Outside my expertise")
    assert (again.status, again.version, again.skip_reason) == (AssignmentStatus.SKIPPED, skipped.version,
                                                                 "Outside my expertise")
    with pytest.raises(NotFound):
        assignment_skip(assignment=first, user=outsider)
    second = rate_all(assignment_claim_next(project=imported, user=annotator), annotator)
    assignment_submit(assignment=second, user=annotator, finish_reason="solution", version=second.version)
    with pytest.raises(Conflict, match="no longer open"):
        assignment_skip(assignment=second, user=annotator)


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_exceed_overlap_k(make_user):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    project = project_create(slug="race", overlap_k=2)
    chains_import(project=project, data=b'{"id": "c1", "problem": "p", "steps": ["a"]}\n'
                                         b'{"id": "c2", "problem": "q", "steps": ["b"]}')
    users = [make_user(f"r{i}") for i in range(8)]
    for user in users:
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
    results, errors = claim_at_once(project, users)
    assert not errors
    claimed = [a.chain_id for _, a in results if a is not None]
    assert len(claimed) == 4  # 2 chains x k=2
    assert all(claimed.count(cid) == 2 for cid in set(claimed))
    assert Assignment.objects.count() == 4


@pytest.mark.django_db
def test_outsider_and_reviewer_cannot_claim(imported, outsider, reviewer):
    with pytest.raises(NotFound):
        assignment_claim_next(project=imported, user=outsider)
    with pytest.raises(PermissionDenied):  # a member: sees the project, not the queue
        assignment_claim_next(project=imported, user=reviewer)


@pytest.mark.django_db
def test_submit_found_error_records_the_first_minus_one(imported, annotator):
    a = assignment_claim_next(project=imported, user=annotator)
    a = assignment_labels_save(assignment=a, user=annotator, version=a.version,
                               labels=[LabelInput(0, 1), LabelInput(1, -1), LabelInput(2, 0)] if a.chain.step_count > 2
                               else [LabelInput(0, 1), LabelInput(1, -1)])
    assert a.status == AssignmentStatus.IN_PROGRESS
    done = assignment_submit(assignment=a, user=annotator, finish_reason="found_error", version=a.version)
    assert done.status == AssignmentStatus.SUBMITTED and done.submitted_at is not None
    assert Annotation.objects.get(assignment_id=a.pk).first_error_key == 1


@pytest.mark.django_db
def test_submit_is_idempotent(imported, annotator):
    a = rate_all(assignment_claim_next(project=imported, user=annotator), annotator)
    once = assignment_submit(assignment=a, user=annotator, finish_reason="solution", version=a.version)
    twice = assignment_submit(assignment=a, user=annotator, finish_reason="solution", version=a.version)
    assert once.pk == twice.pk and twice.version == once.version
    assert Annotation.objects.filter(assignment_id=a.pk).count() == 1


@pytest.mark.parametrize(
    ("ratings", "reason", "field", "words"),
    [
        ("all-plus-but-one-missing", "solution", "labels", "every step rated"),
        ("one-minus", "solution", "finish_reason", "Found an error"),
        ("all-plus", "found_error", "finish_reason", "rated −1"),
        ("all-plus", "finished", "finish_reason", "not a finish reason"),
    ],
)
@pytest.mark.django_db
def test_submit_refuses_inconsistent_outcomes_and_changes_nothing(imported, annotator, ratings, reason, field, words):
    a = assignment_claim_next(project=imported, user=annotator)
    n = a.chain.step_count
    labels = [LabelInput(i, 1) for i in range(n)]
    if ratings == "all-plus-but-one-missing":
        labels = labels[:-1]
    if ratings == "one-minus":
        labels[0] = LabelInput(0, -1)
    saved = assignment_labels_save(assignment=a, user=annotator, version=a.version, labels=labels)
    with pytest.raises(ValidationFailed) as caught:
        assignment_submit(assignment=a, user=annotator, finish_reason=reason, version=saved.version)
    assert caught.value.field == field and words in caught.value.message
    a.refresh_from_db()
    assert a.status == AssignmentStatus.IN_PROGRESS and not Annotation.objects.filter(assignment=a).exists()


@pytest.mark.django_db
def test_stale_version_is_a_conflict(imported, annotator):
    a = assignment_claim_next(project=imported, user=annotator)
    stale = a.version
    assignment_labels_save(assignment=a, user=annotator, version=stale, labels=[LabelInput(0, 1)])
    with pytest.raises(Conflict):
        assignment_labels_save(assignment=a, user=annotator, version=stale, labels=[LabelInput(0, -1)])
    assert a.labels.get().rating == 1


@pytest.mark.django_db
def test_rating_off_the_project_scale_is_refused(make_user, db):
    project = project_create(slug="bin", label_scale="binary")
    chains_import(project=project, data=b'{"id": "c", "problem": "p", "steps": ["a"]}')
    user = make_user("u")
    membership_set(project=project, user=user, role=Role.ANNOTATOR)
    a = assignment_claim_next(project=project, user=user)
    with pytest.raises(ValidationFailed, match="scale"):
        assignment_labels_save(assignment=a, user=user, version=a.version, labels=[LabelInput(0, 0)])
    with pytest.raises(ValidationFailed, match="not a step"):
        assignment_labels_save(assignment=a, user=user, version=a.version, labels=[LabelInput(5, 1)])


@pytest.mark.django_db
def test_another_annotators_assignment_is_not_found(imported, annotator, annotator2):
    a = assignment_claim_next(project=imported, user=annotator)
    with pytest.raises(NotFound):
        assignment_labels_save(assignment=a, user=annotator2, version=a.version, labels=[LabelInput(0, 1)])
