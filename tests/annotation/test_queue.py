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


@pytest.mark.django_db(transaction=True)
def test_a_claim_is_two_statements_on_postgresql(make_user, django_assert_num_queries):
    """The look (role, open assignment, stale claims, screening) and one statement that locks the chain, takes
    its slot and writes the row, in autocommit: no BEGIN and COMMIT around them (11 queries before)."""
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement claim is PostgreSQL's")
    project = project_create(slug="pinned", overlap_k=2)
    chains_import(project=project, data=_chains(3))
    users = [_annotator(make_user, project, f"p{i}") for i in range(3)]
    for user in users:
        with django_assert_num_queries(2):
            assignment = assignment_claim_next(project=project, user=user)
        assert assignment.pk and assignment.status == AssignmentStatus.ASSIGNED
    with django_assert_num_queries(2):  # an open assignment: the look, then the row
        assert assignment_claim_next(project=project, user=users[0]).slot == 0
    assert [a.chain.source_id for a in Assignment.objects.order_by("id")] == ["c0", "c0", "c1"]
    assert _held_matches_slots(project)


SQLITE_QUEUE = """
import json, django
django.setup()
from datetime import timedelta
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from annotation.models import Assignment, Chain
from annotation.services import assignment_claim_next, chains_import, membership_set, project_create, project_update
project = project_create(slug="sq", name="SQLite", overlap_k=2)
chains_import(project=project, fmt="stepwise", data=b"\\n".join(
    b'{"id": "c%d", "problem": "p%d", "steps": ["a", "b"]}' % (i, i) for i in range(5)))
users = {}
for name in "abcdefghi":
    users[name] = get_user_model().objects.create_user(name)
    membership_set(project=project, user=users[name], role="annotator")
def claim(name):
    a = assignment_claim_next(project=project, user=users[name])
    return None if a is None else [a.chain.source_id, a.slot]
def done(name):
    Assignment.objects.filter(annotator=users[name], status="assigned").update(status="submitted")
out = {"vendor": connection.vendor}
out["a"] = claim("a"); out["a again"] = claim("a"); done("a")
out["b"] = claim("b"); out["c"] = claim("c"); done("b"); done("c")
Chain.objects.filter(source_id="c0").update(slot_limit=3)  # escalated: one more pass wanted
out["d escalated"] = claim("d"); done("d")
Chain.objects.filter(source_id="c4").update(priority=5)
project_update(project=project, assignment_order="priority")
out["e priority"] = claim("e")
Assignment.objects.filter(annotator=users["e"]).update(expires_at=timezone.now() - timedelta(seconds=1))
out["f after expiry"] = claim("f"); done("f")
out["e status"] = Assignment.objects.get(annotator=users["e"]).status
project_update(project=project, assignment_order="random")
out["g, h random: started first"] = [claim("g"), claim("h")]
out["i random: a fresh one"] = claim("i")[0] in ["c2", "c3"]
out["held"] = dict(Chain.objects.values_list("source_id", "held_slots"))
print(json.dumps(out))
"""


@pytest.mark.django_db(databases=[])
def test_the_queue_works_on_the_embedded_sqlite_default(tmp_path):
    """The claim's statements run on SQLite (no lock clause; the lock, slot, counter and row in steps)."""
    from tests.processes import run_on_embedded_sqlite

    found = run_on_embedded_sqlite(SQLITE_QUEUE, tmp_path)
    held = found.pop("held")
    assert held["c0"] == 3 and held["c1"] == held["c4"] == 2 and held["c2"] + held["c3"] == 1
    assert found == {"vendor": "sqlite", "a": ["c0", 0], "a again": ["c0", 0], "b": ["c0", 1], "c": ["c1", 0],
                     "d escalated": ["c0", 2], "e priority": ["c4", 0], "f after expiry": ["c4", 0],
                     "e status": "expired", "g, h random: started first": [["c1", 1], ["c4", 1]],
                     "i random: a fresh one": True}
