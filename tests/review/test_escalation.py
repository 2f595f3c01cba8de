"""Escalation (ProcessBench: three experts, then up to five): a chain the rule would send to review first
collects more annotators through extra overlap slots; agreement after that is a majority of at least
min_annotators; at the maximum it goes to reviewers or is dropped (left out of exports), recorded."""

import orjson
import pytest
from django.db import connection
from django.db.models import Count, Q

from annotation.exceptions import ValidationFailed
from annotation.models import Assignment, AuditEvent, Chain, Role
from annotation.services import assignment_claim_next, chains_import, membership_set, project_create
from review.adjudication import FinalLabelInput, chain_adjudicate, review_policy_set, review_queue_refresh
from review.quality.triage import LabelSetInput, triage_chain
from review.quality_models import ItemStatus, ReviewItem
from review.quality_selectors import review_queue_list
from review.releases import _filters, write_release
from review.selectors import export_rows
from tests.concurrency import claim_at_once
from tests.review.quality_helpers import annotate, chain, local_cache, make_project  # noqa: F401 (fixture)

FIVE = ("ann1", "ann2", "ann3", "ann4", "ann5", "ann6")
# first error at step 1 (index 1), at step 0, and none
ERR1, ERR0, NONE = [1, -1, 1], [-1, 1, 1], [1, 1, 1]


@pytest.fixture
def processbench(make_user):
    """k = 3, judged at 3, escalated up to 5 on the first-error rule (ProcessBench's set-up)."""
    project, users = make_project(make_user, annotators=FIVE)
    review_policy_set(project=project, user=users["res"], queue_rule="first_error", min_annotators=3,
                      max_annotators=5)
    return project, users


def _item():
    return ReviewItem.objects.get(chain__source_id="c1")


def test_quorum_is_a_strict_majority_of_at_least_min_annotators():
    sets = [LabelSetInput(coder=i, ratings=dict(enumerate(r))) for i, r in enumerate([ERR1, ERR1, NONE, ERR0])]
    assert triage_chain(sets, rule="first_error").reasons == ["first_error_disagreement"]  # unanimity fails
    assert triage_chain(sets, rule="first_error", quorum=3).reasons == ["first_error_disagreement"]  # 2 of 4
    five = [*sets, LabelSetInput(coder=9, ratings=dict(enumerate(ERR1)))]
    assert triage_chain(five, rule="first_error", quorum=3).reasons == []  # 3 of 5 at step 1
    assert triage_chain(five, rule="first_error", quorum=4).reasons == ["first_error_disagreement"]
    # any_step under a quorum: every contested step needs its own majority
    steps = [LabelSetInput(coder=i, ratings=dict(enumerate(r))) for i, r in enumerate([NONE, NONE, NONE, ERR1])]
    assert triage_chain(steps, rule="any_step", quorum=3).reasons == []
    assert triage_chain(steps[:3] + [steps[3], LabelSetInput(coder=8, ratings=dict(enumerate(ERR1)))],
                        rule="any_step", quorum=3).reasons == []  # 3 of 5 still a majority of 3
    assert triage_chain(steps[:2] + [steps[3]], rule="any_step", quorum=3).reasons == ["step_disagreement"]


@pytest.mark.django_db
def test_a_disagreeing_chain_collects_a_fourth_and_fifth_annotator_then_agrees(processbench):
    project, users = processbench
    annotate(project, users["ann1"], ERR1, chain="c1")
    annotate(project, users["ann2"], ERR1, chain="c1")
    annotate(project, users["ann3"], NONE, chain="c1")
    counts = review_queue_refresh(project=project)
    assert counts["escalated"] == 1 and counts["opened"] == 0
    item = _item()
    assert item.status == ItemStatus.ESCALATED and item.reasons == ["first_error_disagreement"]
    assert item.detail["escalation"] == {"passes": 3, "max": 5, "slots": 4}
    assert chain(project, "c1").slot_limit == 4
    assert [row["source_id"] for row in review_queue_list(project=project, status=ItemStatus.ESCALATED)] == ["c1"]
    assert review_queue_list(project=project) == []  # not for reviewers yet

    # The extra slot is served first, ahead of the untouched c2 (in-order queue), to someone new.
    annotate(project, users["ann4"], ERR0, chain="c1")
    review_queue_refresh(project=project)
    assert _item().status == ItemStatus.ESCALATED  # 2 of 4 at step 1: no majority of three
    assert chain(project, "c1").slot_limit == 5
    annotate(project, users["ann5"], ERR1, chain="c1")
    review_queue_refresh(project=project)
    item = _item()
    assert item.status == ItemStatus.CLEAR and item.n_annotators == 5  # 3 of 5 put the first error at step 1
    # Full at five: a sixth annotator is not given c1.
    sixth = assignment_claim_next(project=project, user=users["ann6"])
    assert sixth.chain.source_id == "c2"
    c1 = chain(project, "c1")
    assert c1.held_slots == 5 == c1.slot_limit


def _five_apart(project, users):
    for name, ratings in zip(FIVE, [ERR1, ERR1, NONE, ERR0, NONE], strict=False):
        annotate(project, users[name], ratings, chain="c1")
        review_queue_refresh(project=project)


@pytest.mark.django_db
def test_still_apart_at_five_is_dropped_recorded_and_left_out_of_exports(processbench, tmp_path):
    project, users = processbench
    review_policy_set(project=project, user=users["res"], when_unresolved="drop")
    _five_apart(project, users)
    item = _item()
    assert item.status == ItemStatus.DROPPED
    assert item.reasons == ["first_error_disagreement", "no_agreement"]
    [event] = AuditEvent.objects.filter(action="chain.dropped")
    assert event.detail["passes"] == 5 and event.detail["chain"] == item.chain_id
    shown = review_queue_list(project=project, status=ItemStatus.DROPPED)
    assert shown[0]["source_id"] == "c1" and "Still no agreement" in " ".join(shown[0]["reason_text"])
    assert "c1" not in {row["id"] for row in export_rows(project=project, fmt="processbench")}
    filters = _filters(formats=["processbench"], label_source="consensus", min_agreement=0, min_label_sets=1,
                       include_gold=True, include_screening=True, include_planted=True, test_fraction=0, seed="s",
                       neutral="positive")
    manifest = write_release(project=project, filters=filters, root=tmp_path / "r1", name="r", version="1")
    assert manifest["counts"]["left_out"].get("dropped: no agreement among annotators") == 1, manifest["counts"]
    # A reviewer may still settle it: then it is exported with the final labels.
    chain_adjudicate(chain=chain(project, "c1"), reviewer=users["rev"], note="step 2 is the first error",
                     labels=[FinalLabelInput(0, 1), FinalLabelInput(1, -1)])
    assert _item().status == ItemStatus.RESOLVED
    rows = {row["id"]: row for row in export_rows(project=project, fmt="processbench")}
    assert rows["c1"]["label"] == 1


@pytest.mark.django_db
def test_still_apart_at_five_goes_to_reviewers_by_default(processbench):
    project, users = processbench
    _five_apart(project, users)
    item = _item()
    assert item.status == ItemStatus.OPEN and "no_agreement" in item.reasons
    assert [row["source_id"] for row in review_queue_list(project=project)] == ["c1"]
    assert not AuditEvent.objects.filter(action="chain.dropped").exists()


@pytest.mark.django_db
def test_without_escalation_the_chain_goes_straight_to_review(make_user):
    project, users = make_project(make_user)
    annotate(project, users["ann1"], ERR1, chain="c1")
    annotate(project, users["ann2"], ERR1, chain="c1")
    annotate(project, users["ann3"], NONE, chain="c1")
    review_queue_refresh(project=project)
    assert _item().status == ItemStatus.OPEN
    assert chain(project, "c1").slot_limit is None


@pytest.mark.django_db
def test_escalation_settings_are_checked(processbench):
    project, users = processbench
    with pytest.raises(ValidationFailed, match="set max_annotators above min_annotators"):
        review_policy_set(project=project, user=users["res"], max_annotators=3)
    with pytest.raises(ValidationFailed, match="set max_annotators above min_annotators"):
        review_policy_set(project=project, user=users["res"], min_annotators=5)
    with pytest.raises(ValidationFailed, match="expected review or drop"):
        review_policy_set(project=project, user=users["res"], when_unresolved="later")
    with pytest.raises(ValidationFailed, match="expected 0"):
        review_policy_set(project=project, user=users["res"], max_annotators=True)
    review_policy_set(project=project, user=users["res"], max_annotators=0)  # off again


@pytest.mark.django_db
def test_policy_api_reads_and_sets_escalation(processbench, api_client):
    project, users = processbench
    from django.urls import reverse

    url = reverse("api-review-policy", args=[project.slug])
    body = api_client(users["res"]).patch(url, {"max_annotators": 4, "when_unresolved": "drop"}, format="json")
    assert body.status_code == 200, body.json()
    assert body.json()["max_annotators"] == 4 and body.json()["when_unresolved"] == "drop"
    refused = api_client(users["res"]).patch(url, {"max_annotators": 2}, format="json")
    assert refused.status_code == 400 and "max_annotators" in str(refused.json())


@pytest.mark.django_db(transaction=True)
def test_many_annotators_claiming_at_once_fill_an_escalated_chain_to_its_limit_and_no_further(make_user):
    """Twelve annotators claim at once while c0..c9 each have one extra slot open (k = 1, limit 2): every
    escalated chain ends with exactly two slots held, the unique slots and the counter agree."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    project = project_create(slug="race-escalated", overlap_k=1)
    chains_import(project=project, data=b"\n".join(
        orjson.dumps({"id": f"c{i}", "problem": f"p{i}", "steps": ["a", "b"]}) for i in range(30)))
    first = make_user("first")
    membership_set(project=project, user=first, role=Role.ANNOTATOR)
    escalated = list(Chain.objects.filter(project=project).order_by("id").values_list("id", flat=True)[:10])
    # Each escalated chain already has one pass held (as after k = 1 passes that the rule escalated).
    for chain_id in escalated:
        Assignment.objects.create(chain_id=chain_id, project=project, annotator=first, slot=0, status="submitted")
    Chain.objects.filter(pk__in=escalated).update(held_slots=1, slot_limit=2)
    users = [make_user(f"e{i}") for i in range(12)]
    for user in users:
        membership_set(project=project, user=user, role=Role.ANNOTATOR)
    claims, errors = claim_at_once(project, users)
    assert not errors
    results = [a.chain_id for _, a in claims]
    assert len(results) == len(set(results)) == 12
    assert set(escalated) <= set(results)  # the extra slots were served first
    rows = Chain.objects.filter(project=project).annotate(n=Count("assignments", filter=Q(assignments__slot__isnull=False)))
    assert all(c.held_slots == c.n for c in rows)
    assert all(c.n == 2 for c in rows if c.pk in escalated)
    assert all(c.n <= 1 for c in rows if c.pk not in escalated)


@pytest.mark.django_db
def test_the_periodic_task_opens_the_extra_slot_without_anyone_reading_the_queue(processbench):
    from review.quality_tasks import review_queues_escalate_task

    project, users = processbench
    project_create(slug="quiet", name="No escalation", overlap_k=3)
    annotate(project, users["ann1"], ERR1, chain="c1")
    annotate(project, users["ann2"], ERR1, chain="c1")
    annotate(project, users["ann3"], NONE, chain="c1")
    assert chain(project, "c1").slot_limit is None  # nobody has judged it yet
    done = review_queues_escalate_task()
    assert done == {"qc": {"judged": 1, "opened": 0, "cleared": 0, "settled": 0, "escalated": 1, "dropped": 0}}
    assert "quiet" not in done  # no escalation there: its queue waits for its reviewers as before
    assert assignment_claim_next(project=project, user=users["ann4"]).chain.source_id == "c1"


@pytest.mark.django_db
def test_the_queue_page_shows_escalated_chains_under_their_own_tab(processbench, client):
    from django.urls import reverse

    project, users = processbench
    annotate(project, users["ann1"], ERR1, chain="c1")
    annotate(project, users["ann2"], ERR1, chain="c1")
    annotate(project, users["ann3"], NONE, chain="c1")
    client.force_login(users["rev"])
    url = reverse("review-queue", args=[project.slug])
    html = client.get(url).content.decode()
    assert "Collecting more annotators" in html and "Dropped: no agreement" in html  # the tabs
    assert 'data-chain="' not in html.split('id="review-queue"')[1].split("</table>")[0]  # open tab: empty
    escalated = client.get(url, {"status": "escalated"}).content.decode()
    assert "c1" in escalated.split('id="review-queue"')[1].split("</table>")[0]
