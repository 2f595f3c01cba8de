"""The queue under the authoring settings: expiry, removal of a member, one open assignment under
concurrency, gold share, assignment order, the slot counter."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from annotation.exceptions import Conflict, NotFound
from annotation.models import Assignment, AssignmentStatus, Chain, Role
from annotation.selectors import assignment_get_for_user
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_skip,
    assignment_submit,
    assignments_expire,
    chains_import,
    membership_remove,
    membership_set,
    project_archive,
    project_create,
    project_update,
)
from tests.concurrency import claim_at_once


def _chains(n: int, prefix: str = "c") -> bytes:
    return b"\n".join(b'{"id": "%s%d", "problem": "p%d", "steps": ["a", "b"]}' % (prefix.encode(), i, i)
                      for i in range(n))


@pytest.fixture
def queue_project(db, make_user):
    project = project_create(slug="queue", overlap_k=1, guidelines="v1 text")
    chains_import(project=project, data=_chains(5))
    return project


def _annotator(make_user, project, name):
    user = make_user(name)
    membership_set(project=project, user=user, role=Role.ANNOTATOR)
    return user


def _held_matches_slots(project) -> bool:
    """Chain.held_slots equals the count of slotted assignments for every chain."""
    rows = Chain.objects.filter(project=project).annotate(n=Count("assignments", filter=Q(assignments__slot__isnull=False)))
    return all(chain.held_slots == chain.n for chain in rows)


@pytest.mark.django_db
def test_claim_records_guideline_version_project_and_expiry(queue_project, make_user):
    ann = _annotator(make_user, queue_project, "a1")
    assignment = assignment_claim_next(project=queue_project, user=ann)
    assert assignment.guideline_version == 1
    assert assignment.project_id == queue_project.pk
    assert assignment.expires_at > timezone.now() + timedelta(hours=23)
    assert _held_matches_slots(queue_project)


@pytest.mark.django_db
def test_stale_claim_expires_and_its_chain_goes_to_the_next_annotator(queue_project, make_user):
    project_update(project=queue_project, claim_timeout_minutes=30)
    alice, bob = _annotator(make_user, queue_project, "alice"), _annotator(make_user, queue_project, "bob")
    project_update(project=queue_project, overlap_k=1)
    first = assignment_claim_next(project=queue_project, user=alice)
    # Not yet stale: nothing expires.
    assert assignments_expire(project=queue_project) == 0
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # Bob's claim sweeps the stale claim first, and gets its chain (the first in order).
    got = assignment_claim_next(project=queue_project, user=bob)
    assert got.chain_id == first.chain_id
    first.refresh_from_db()
    assert first.status == AssignmentStatus.EXPIRED and first.slot is None
    # Alice's page is stale: her save is refused, saying why; her next claim is another chain.
    with pytest.raises(Conflict, match="expired"):
        assignment_labels_save(assignment=first, user=alice, version=first.version - 1,
                               labels=[LabelInput(step=0, rating=1)])
    again = assignment_claim_next(project=queue_project, user=alice)
    assert again.chain_id != first.chain_id
    assert _held_matches_slots(queue_project)


@pytest.mark.django_db
def test_a_save_keeps_the_claim_alive(queue_project, make_user):
    project_update(project=queue_project, claim_timeout_minutes=30)
    ann = _annotator(make_user, queue_project, "a1")
    assignment = assignment_claim_next(project=queue_project, user=ann)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=timezone.now() + timedelta(seconds=5))
    assignment_labels_save(assignment=assignment, user=ann, version=assignment.version,
                           labels=[LabelInput(step=0, rating=1)])
    assignment.refresh_from_db()
    assert assignment.expires_at > timezone.now() + timedelta(minutes=29)
    assert assignments_expire(project=queue_project, now=timezone.now() + timedelta(minutes=10)) == 0
    assert assignments_expire(project=queue_project, now=timezone.now() + timedelta(minutes=31)) == 1


@pytest.mark.django_db
def test_timeout_zero_never_expires(queue_project, make_user):
    project_update(project=queue_project, claim_timeout_minutes=0)
    ann = _annotator(make_user, queue_project, "a1")
    assert assignment_claim_next(project=queue_project, user=ann).expires_at is None
    assert assignments_expire(now=timezone.now() + timedelta(days=365)) == 0


@pytest.mark.django_db
def test_removed_member_loses_access_and_their_work_is_released(queue_project, make_user):
    ann, other = _annotator(make_user, queue_project, "leaver"), _annotator(make_user, queue_project, "stayer")
    done = assignment_claim_next(project=queue_project, user=ann)
    assignment_submit(assignment=done, user=ann, version=done.version, finish_reason="solution",
                      labels=[LabelInput(step=0, rating=1), LabelInput(step=1, rating=1)])
    open_one = assignment_claim_next(project=queue_project, user=ann)
    assert membership_remove(project=queue_project, user=ann) == 1
    open_one.refresh_from_db()
    assert open_one.status == AssignmentStatus.RELEASED and open_one.slot is None
    assert Assignment.objects.get(pk=done.pk).status == AssignmentStatus.SUBMITTED  # what they submitted stays
    # Every action of theirs is refused: read, save, submit, skip, claim.
    with pytest.raises(NotFound):
        assignment_get_for_user(pk=open_one.pk, user=ann)
    with pytest.raises(NotFound):
        assignment_get_for_user(pk=done.pk, user=ann)
    with pytest.raises(NotFound):
        assignment_labels_save(assignment=open_one, user=ann, version=open_one.version,
                               labels=[LabelInput(step=0, rating=1)])
    with pytest.raises(NotFound):
        assignment_submit(assignment=open_one, user=ann, version=open_one.version, finish_reason="solution")
    with pytest.raises(NotFound):
        assignment_skip(assignment=open_one, user=ann)
    with pytest.raises(NotFound):
        assignment_claim_next(project=queue_project, user=ann)
    # The released chain is back in the queue at once.
    assert assignment_claim_next(project=queue_project, user=other).chain_id == open_one.chain_id
    assert _held_matches_slots(queue_project)


@pytest.mark.django_db
def test_role_change_away_from_annotator_releases_open_work(queue_project, make_user):
    ann = _annotator(make_user, queue_project, "a1")
    assignment = assignment_claim_next(project=queue_project, user=ann)
    membership_set(project=queue_project, user=ann, role=Role.REVIEWER)
    assignment.refresh_from_db()
    assert assignment.status == AssignmentStatus.RELEASED
    assert _held_matches_slots(queue_project)


@pytest.mark.django_db
def test_skip_frees_the_slot_counter(queue_project, make_user):
    ann = _annotator(make_user, queue_project, "a1")
    assignment = assignment_claim_next(project=queue_project, user=ann)
    assert Chain.objects.get(pk=assignment.chain_id).held_slots == 1
    assignment_skip(assignment=assignment, user=ann)
    assert Chain.objects.get(pk=assignment.chain_id).held_slots == 0


@pytest.mark.django_db
def test_archived_project_gives_out_nothing(queue_project, make_user):
    ann = _annotator(make_user, queue_project, "a1")
    project_archive(project=queue_project)
    with pytest.raises(Conflict, match="archived"):
        assignment_claim_next(project=queue_project, user=ann)


@pytest.mark.django_db
def test_priority_order_serves_the_highest_first(queue_project, make_user):
    Chain.objects.filter(project=queue_project, source_id="c3").update(priority=10)
    project_update(project=queue_project, assignment_order="priority")
    ann = _annotator(make_user, queue_project, "a1")
    assert assignment_claim_next(project=queue_project, user=ann).chain.source_id == "c3"


@pytest.mark.django_db
def test_random_order_covers_every_chain_once(queue_project, make_user):
    project_update(project=queue_project, assignment_order="random")
    ann = _annotator(make_user, queue_project, "a1")
    seen = []
    while (assignment := assignment_claim_next(project=queue_project, user=ann)) is not None:
        seen.append(assignment.chain_id)
        assignment_skip(assignment=assignment, user=ann)
    assert sorted(seen) == sorted(Chain.objects.filter(project=queue_project).values_list("id", flat=True))


@pytest.mark.django_db
def test_gold_share_one_serves_gold_first_without_holding_slots(queue_project, make_user):
    Chain.objects.filter(project=queue_project, source_id="c4").update(is_gold=True)
    project_update(project=queue_project, gold_share=1.0)
    a, b = _annotator(make_user, queue_project, "a"), _annotator(make_user, queue_project, "b")
    first_a = assignment_claim_next(project=queue_project, user=a)
    first_b = assignment_claim_next(project=queue_project, user=b)
    # Both get the gold chain (gold has no overlap limit: it measures each annotator), without a slot.
    assert first_a.chain.source_id == first_b.chain.source_id == "c4"
    assert first_a.slot is None and Chain.objects.get(source_id="c4").held_slots == 0
    assignment_skip(assignment=first_a, user=a)
    # No gold left for a: the regular queue, which never offers gold when a gold share is set.
    regular = assignment_claim_next(project=queue_project, user=a)
    assert regular.chain.source_id != "c4" and regular.slot == 0


@pytest.mark.django_db(transaction=True)
def test_ten_simultaneous_claims_by_one_user_leave_one_open_assignment(make_user):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    project = project_create(slug="race-one", overlap_k=1)
    chains_import(project=project, data=_chains(20))
    users = [make_user(f"u{i}") for i in range(3)]
    for user in users:
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
    results, errors = claim_at_once(project, [user for user in users for _ in range(10)])
    assert not errors
    for user in users:
        answered = {a.pk for u, a in results if u.pk == user.pk}
        assert len(answered) == 1, f"{user}: every claim answers the same assignment"
        assert Assignment.objects.filter(annotator=user, status__in=("assigned", "in_progress")).count() == 1
    assert Assignment.objects.count() == 3
    assert _held_matches_slots(project)


@pytest.mark.django_db(transaction=True)
def test_fifty_annotators_claiming_at_once_take_distinct_chains(make_user):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    project = project_create(slug="race-many", overlap_k=1)
    chains_import(project=project, data=_chains(60))
    users = [make_user(f"m{i}") for i in range(20)]
    for user in users:
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
    claims, errors = claim_at_once(project, users)
    assert not errors
    results = [a.chain_id for _, a in claims]
    assert len(results) == len(set(results)) == 20
    assert _held_matches_slots(project)
