"""Quality control from the database: the queue, adjudication (audited, idempotent, never by an annotator of
the chain), exports reading final labels, gold and planted-error scoring, the project measures."""

import json

import pytest

from annotation.exceptions import Conflict, PermissionDenied, ValidationFailed
from annotation.models import Chain, ImportedLabelSet, Role, StepLabel
from annotation.services import membership_set
from review.adjudication import (
    FinalLabelInput,
    chain_adjudicate,
    chain_plant_error,
    chain_send_back,
    chain_set_gold,
    review_policy_set,
    review_queue_refresh,
)
from review.quality_models import Decision, FinalLabel, ItemStatus, ReviewItem
from review.quality_selectors import adjudication_data, gold_scores, project_quality, review_queue_list
from review.selectors import export_lines
from tests.review.quality_helpers import annotate, chain, local_cache, make_project  # noqa: F401 (fixture)


@pytest.fixture
def disputed(make_user):
    """Three annotators on c1; ann3 calls step 2 wrong where the others call it right."""
    project, users = make_project(make_user)
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    annotate(project, users["ann3"], [1, -1, 1], chain="c1")
    return project, users


@pytest.mark.django_db
def test_a_disagreement_puts_the_chain_in_the_queue_with_its_contested_step(disputed):
    project, _ = disputed
    counts = review_queue_refresh(project=project)
    assert counts["opened"] == 1
    [item] = review_queue_list(project=project)
    assert item["source_id"] == "c1"
    assert "step_disagreement" in item["reasons"] and item["contested"] == 1
    assert ReviewItem.objects.get().detail["contested"] == [1]
    # Running it again changes nothing (the queue refresh is safe to run twice).
    review_queue_refresh(project=project)
    assert ReviewItem.objects.count() == 1


@pytest.mark.django_db
def test_agreeing_annotators_do_not_reach_the_queue(make_user):
    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    assert review_queue_refresh(project=project)["judged"] == 1
    assert ReviewItem.objects.get().status == ItemStatus.CLEAR
    assert review_queue_list(project=project) == []
    assert review_queue_refresh(project=project)["judged"] == 0  # nothing changed: nothing judged again


@pytest.mark.django_db
def test_the_first_error_rule_ignores_disagreements_after_the_first_error(make_user):
    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    review_policy_set(project=project, user=users["res"], queue_rule="first_error")
    annotate(project, users["ann1"], [-1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [-1, 0, 1], chain="c1")
    review_queue_refresh(project=project)
    assert ReviewItem.objects.get().status == ItemStatus.CLEAR
    StepLabel.objects.filter(assignment__annotator=users["ann2"], step_key=0).update(rating=1)
    ReviewItem.objects.update(judged_submissions=0)  # as if never judged: labels change only through a new submit
    review_queue_refresh(project=project)
    item = ReviewItem.objects.get()
    assert item.status == ItemStatus.OPEN and item.reasons == ["first_error_disagreement"]


@pytest.mark.django_db
def test_policy_refuses_bad_values_with_what_was_expected(disputed):
    project, users = disputed
    with pytest.raises(ValidationFailed, match="expected any_step or first_error or alpha_below"):
        review_policy_set(project=project, user=users["res"], queue_rule="sometimes")
    with pytest.raises(ValidationFailed, match="alpha_threshold is 2; expected a number from -1 to 1"):
        review_policy_set(project=project, user=users["res"], alpha_threshold=2)
    with pytest.raises(PermissionDenied):
        review_policy_set(project=project, user=users["rev"], queue_rule="first_error")


@pytest.mark.django_db
def test_adjudication_sets_final_labels_resolves_the_item_and_the_export_reads_them(disputed):
    project, users = disputed
    review_queue_refresh(project=project)
    c1 = chain(project, "c1")
    before = json.loads(b"".join(export_lines(project=project, fmt="processbench")))
    assert {r["id"]: r["label"] for r in before}["c1"] == -1  # majority: no error
    decision = chain_adjudicate(chain=c1, reviewer=users["rev"], note="Step 2 adds wrongly: 2 + 12 is 14, fine; "
                                "but the order of operations was checked", request_key="k1",
                                labels=[FinalLabelInput(step=1, rating=-1, reason="ann3 is right")])
    assert decision.changes == [{"step": 1, "key": 1, "old": None, "new": -1, "reason": "ann3 is right"}]
    assert FinalLabel.objects.get(chain=c1, step_key=1).rating == -1
    item = ReviewItem.objects.get(chain=c1)
    assert item.status == ItemStatus.RESOLVED and item.resolved_by == users["rev"]
    from annotation.models import AuditEvent

    audited = AuditEvent.objects.get(action="chain.adjudicated")  # in the audit log, with who and what
    assert (audited.actor_name, audited.object_id, audited.detail["changes"]) == ("rev", str(decision.pk), 1)
    after = json.loads(b"".join(export_lines(project=project, fmt="processbench")))
    assert {r["id"]: r["label"] for r in after}["c1"] == 1  # the final label wins over the majority
    # The annotators' own labels are untouched.
    assert StepLabel.objects.get(assignment__annotator=users["ann1"], step_key=1).rating == 1
    # A settled item stays settled when the queue is refreshed.
    review_queue_refresh(project=project)
    assert ReviewItem.objects.get(chain=c1).status == ItemStatus.RESOLVED


@pytest.mark.django_db
def test_adjudication_is_idempotent(disputed):
    project, users = disputed
    c1 = chain(project, "c1")
    labels = [FinalLabelInput(step=1, rating=-1, reason="r")]
    first = chain_adjudicate(chain=c1, reviewer=users["rev"], labels=labels, note="n", request_key="same")
    again = chain_adjudicate(chain=c1, reviewer=users["rev"], labels=labels, note="n", request_key="same")
    assert again.pk == first.pk
    # The same labels under a new key: nothing changed, nothing recorded.
    third = chain_adjudicate(chain=c1, reviewer=users["rev"], labels=labels, note="n", request_key="other")
    assert third.pk == first.pk
    assert Decision.objects.count() == 1 and FinalLabel.objects.count() == 1
    # A real change is a new decision that records the old value.
    changed = chain_adjudicate(chain=c1, reviewer=users["rev"], labels=[FinalLabelInput(1, 0, "on reflection")],
                               note="n2")
    assert changed.changes[0]["old"] == -1 and changed.changes[0]["new"] == 0
    assert Decision.objects.count() == 2


@pytest.mark.django_db
def test_nobody_adjudicates_a_chain_they_annotated(disputed):
    project, users = disputed
    membership_set(project=project, user=users["ann1"], role=Role.REVIEWER)
    c1 = chain(project, "c1")
    with pytest.raises(PermissionDenied, match="You annotated this chain"):
        chain_adjudicate(chain=c1, reviewer=users["ann1"], labels=[FinalLabelInput(1, -1)], note="mine")
    assert not FinalLabel.objects.exists() and not Decision.objects.exists()
    page = adjudication_data(chain=c1, user=users["ann1"])
    assert page["can_adjudicate"] is False and "another reviewer" in page["refusal"]


@pytest.mark.django_db
def test_adjudication_refuses_bad_input_and_writes_nothing(disputed):
    project, users = disputed
    c1 = chain(project, "c1")
    cases = [
        ([FinalLabelInput(7, 1)], "note", "labels\\[0\\].step is 7; expected a step index from 0 to 2"),
        ([FinalLabelInput(0, 5)], "note", "labels\\[0\\].rating is 5; expected one of -1, 0, 1"),
        ([FinalLabelInput(0, 1), FinalLabelInput(0, -1)], "note", "step 0 appears twice"),
        ([FinalLabelInput(0, 1)], "  ", "Write a note"),
        ([], "note", "at least one final label"),
    ]
    for labels, note, message in cases:
        with pytest.raises(ValidationFailed, match=message):
            chain_adjudicate(chain=c1, reviewer=users["rev"], labels=labels, note=note)
    with pytest.raises(PermissionDenied):
        chain_adjudicate(chain=c1, reviewer=users["res"], labels=[FinalLabelInput(0, 1)], note="n")
    with pytest.raises(Conflict, match="The chain was edited"):
        chain_adjudicate(chain=c1, reviewer=users["rev"], labels=[FinalLabelInput(0, 1)], note="n", revision=9)
    assert not Decision.objects.exists() and not FinalLabel.objects.exists()


@pytest.mark.django_db
def test_rework_is_recorded_and_marks_the_item(disputed):
    project, users = disputed
    review_queue_refresh(project=project)
    c1 = chain(project, "c1")
    decision = chain_send_back(chain=c1, reviewer=users["rev"], note="Step 2 should be split")
    assert decision.kind == "rework"
    assert ReviewItem.objects.get(chain=c1).status == ItemStatus.REWORK
    review_queue_refresh(project=project)  # no new pass yet: it waits
    assert ReviewItem.objects.get(chain=c1).status == ItemStatus.REWORK


@pytest.mark.django_db
def test_flags_route_fast_and_outlying_annotations(make_user):
    project, users = make_project(make_user)
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, 1, 1], chain="c1", seconds=1)
    annotate(project, users["ann3"], [-1, -1, -1], chain="c1")
    review_queue_refresh(project=project)
    item = ReviewItem.objects.get()
    assert {"step_disagreement", "fast_annotation", "far_from_consensus"} <= set(item.reasons)
    assert item.detail["fast"] == ["ann2"] and item.detail["far"] == ["ann3"]


@pytest.mark.django_db
def test_a_right_answer_with_a_wrong_step_is_flagged(make_user):
    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    Chain.objects.filter(source_id="c1").update(metadata={"final_answer_correct": True})
    review_policy_set(project=project, user=users["res"], queue_rule="first_error")
    annotate(project, users["ann1"], [1, -1, 1], chain="c1")
    annotate(project, users["ann2"], [1, -1, 1], chain="c1")
    review_queue_refresh(project=project)
    assert ReviewItem.objects.get().reasons == ["outcome_process_mismatch"]


@pytest.mark.django_db
def test_a_planted_error_scores_the_annotators_who_missed_it(make_user):
    project, users = make_project(make_user)
    c1 = chain(project, "c1")
    planted = chain_plant_error(chain=c1, user=users["res"], rule="arithmetic", step=0, seed=3)
    assert planted.is_gold and planted.planted["from_chain"] == c1.pk and planted.planted["step_key"] == 0
    assert planted.planted["original"] == "3 * 4 = 12"
    assert ImportedLabelSet.objects.get(chain=planted).first_error_index == 0
    # Chains are claimed in id order: c1, c2, then the planted copy.
    for name in ("ann1", "ann2", "ann3"):
        annotate(project, users[name], [1, 1, 1], chain="c1")
        annotate(project, users[name], [1, 1], chain="c2")
    annotate(project, users["ann1"], [-1, 1, 1], chain=planted.source_id)  # found it
    annotate(project, users["ann2"], [1, 1, 1], chain=planted.source_id)  # missed it
    annotate(project, users["ann3"], [1, -1, 1], chain=planted.source_id)  # missed it (wrong step)
    scores = gold_scores(project=project)
    assert scores[users["ann1"].pk]["planted_recall"] == 1.0
    assert scores[users["ann2"].pk]["planted_recall"] == 0.0
    assert scores[users["ann3"].pk]["planted_missed_chains"] == [planted.pk]
    assert scores[users["ann1"].pk]["gold_accuracy"] == 1.0  # the key is +1 before and −1 on the planted step
    assert scores[users["ann2"].pk]["gold_accuracy"] == 0.0
    quality = project_quality(project=project, resamples=20, use_cache=False)
    by_name = {a["annotator"]: a for a in quality["annotators"]}
    assert by_name["ann1"]["planted_recall"] == 1.0 and by_name["ann2"]["planted_recall"] == 0.0


@pytest.mark.django_db
def test_planting_refuses_what_it_cannot_do(make_user):
    project, users = make_project(make_user)
    c1 = chain(project, "c1")
    with pytest.raises(ValidationFailed, match="found no verified equality to alter in step 2"):
        chain_plant_error(chain=c1, user=users["res"], step=2)
    with pytest.raises(ValidationFailed, match="rule is 'magic'"):
        chain_plant_error(chain=c1, user=users["res"], rule="magic")
    with pytest.raises(PermissionDenied):
        chain_plant_error(chain=c1, user=users["rev"])
    copy = chain_plant_error(chain=c1, user=users["res"], rule="replace", step=2, text="The answer is 41.")
    assert copy.planted["rule"] == "replace" and copy.planted["original"] == "The answer is 14."
    with pytest.raises(ValidationFailed, match="itself a planted copy"):
        chain_plant_error(chain=copy, user=users["res"])


@pytest.mark.django_db
def test_gold_accuracy_reads_the_reference_labels_not_votes(make_user):
    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    c1 = chain(project, "c1")
    ImportedLabelSet.objects.create(chain=c1, source="processbench", ratings="[1, -1, null]",
                                    finish_reason="found_error", first_error_index=1, labels_hash="x")
    chain_set_gold(chain=c1, user=users["res"], is_gold=True)
    annotate(project, users["ann1"], [1, -1, 1], chain="c1")
    annotate(project, users["ann2"], [1, 1, 1], chain="c1")
    scores = gold_scores(project=project)
    assert scores[users["ann1"].pk]["gold_accuracy"] == 1.0
    assert scores[users["ann2"].pk]["gold_accuracy"] == 0.5
    # Reference labels are not votes: agreement reads the two annotators only.
    quality = project_quality(project=project, resamples=0, use_cache=False)
    assert quality["n_annotators"] == 2 and quality["n_labels"] == 6


@pytest.mark.django_db
def test_project_quality_answers_the_measures_with_intervals_and_counts(disputed):
    project, _ = disputed
    quality = project_quality(project=project, resamples=50, use_cache=False)
    for name in ("krippendorff_alpha", "gwet_ac1", "first_error_agreement"):
        assert set(quality[name]) >= {"value", "low", "high", "n_labels"}
    assert quality["krippendorff_alpha"]["n_labels"] == 9
    # by hand: one step has ratings (1, 1, -1), the others unanimous; pairs agree 7 of 9 → p_a = (1+1/3+1)/3
    assert quality["percent_agreement"]["value"] == pytest.approx((1 + 1 / 3 + 1) / 3)
    # first error: ann1, ann2 "none", ann3 step 1 → 1 of 3 pairs agree
    assert quality["first_error_agreement"]["value"] == pytest.approx(1 / 3)
    by_name = {a["annotator"]: a for a in quality["annotators"]}
    assert by_name["ann3"]["agreement_with_consensus"] == pytest.approx(2 / 3)
    assert by_name["ann1"]["agreement_with_consensus"] == 1.0


@pytest.mark.django_db
def test_the_review_demo_seeds_a_reviewers_day_once(settings):
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_review_demo", verbosity=0)
    from annotation.models import Project

    project = Project.objects.get(slug="review-demo")
    assert Chain.objects.filter(project=project, planted__isnull=False).count() == 3
    assert ReviewItem.objects.filter(project=project, status=ItemStatus.OPEN).count() > 5
    assert ReviewItem.objects.filter(project=project, status=ItemStatus.RESOLVED).count() == 2
    quality = project_quality(project=project, resamples=20, use_cache=False)
    by_name = {a["annotator"]: a for a in quality["annotators"]}
    assert by_name["annotator3"]["planted_recall"] < by_name["annotator1"]["planted_recall"]
    call_command("seed_review_demo", verbosity=0)  # twice: nothing new
    assert Project.objects.filter(slug="review-demo").count() == 1


@pytest.mark.django_db
def test_exports_follow_the_consensus_rule_the_researcher_chose(make_user):
    # Under Dawid–Skene the export carries the aggregation's labels (not the exporters' majority), and a
    # reviewer's final label still wins over both.
    project, users = make_project(make_user)
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, 0, 1], chain="c1")
    annotate(project, users["ann3"], [1, -1, 1], chain="c1")
    from review.quality_selectors import project_consensus_labels

    assert project_consensus_labels(project=project) == {}  # majority: the exporters' own rule
    review_policy_set(project=project, user=users["res"], consensus="dawid_skene")
    ds = project_consensus_labels(project=project)
    c1 = chain(project, "c1")
    assert set(ds[c1.pk]) == {0, 1, 2}
    trl = [json.loads(line) for line in b"".join(export_lines(project=project, fmt="trl-stepwise")).splitlines()]
    [row] = [r for r in trl if r["id"] == "c1"]
    expected = [ds[c1.pk][k] >= 0 for k in range(3)]
    end = expected.index(False) + 1 if False in expected else 3
    assert row["labels"] == expected[:end]
    chain_adjudicate(chain=c1, reviewer=users["rev"], labels=[FinalLabelInput(1, -1, "checked")], note="n")
    [row] = [json.loads(line) for line in b"".join(export_lines(project=project, fmt="trl-stepwise")).splitlines()
             if json.loads(line)["id"] == "c1"]
    assert row["labels"] == [True, False]


@pytest.mark.django_db
def test_a_reopened_pass_takes_the_chain_out_of_the_queue_until_it_is_submitted_again(make_user):
    from annotation.models import Assignment
    from annotation.services import assignment_reopen

    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, -1, 1], chain="c1")
    review_queue_refresh(project=project)
    assert ReviewItem.objects.get().status == ItemStatus.OPEN
    mine = Assignment.objects.get(annotator=users["ann2"], chain__source_id="c1")
    assignment_reopen(assignment=mine, user=users["ann2"])
    review_queue_refresh(project=project)
    assert ReviewItem.objects.get().status == ItemStatus.CLEAR and review_queue_list(project=project) == []



@pytest.mark.django_db
def test_screening_accuracy_is_scored_apart_from_gold(make_user):
    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    c1 = chain(project, "c1")
    ImportedLabelSet.objects.create(chain=c1, source="processbench", ratings="[1, 1, 1]", finish_reason="solution",
                                    labels_hash="x")
    chain_set_gold(chain=c1, user=users["res"], is_screening=True)
    annotate(project, users["ann1"], [1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [1, -1, 1], chain="c1")
    scores = gold_scores(project=project)
    assert scores[users["ann1"].pk]["screening_accuracy"] == 1.0
    assert scores[users["ann2"].pk]["screening_accuracy"] == pytest.approx(2 / 3)  # step 2 of 3 wrong
    assert scores[users["ann1"].pk]["gold_accuracy"] is None  # screening is not gold



@pytest.mark.django_db
def test_a_new_rule_judges_unsettled_chains_again(make_user):
    project, users = make_project(make_user, k=2, annotators=("ann1", "ann2"))
    annotate(project, users["ann1"], [-1, 1, 1], chain="c1")
    annotate(project, users["ann2"], [-1, 0, 1], chain="c1")
    review_queue_refresh(project=project)
    assert ReviewItem.objects.get().status == ItemStatus.OPEN  # any_step: step 2 differs
    review_policy_set(project=project, user=users["res"], queue_rule="first_error")
    review_queue_refresh(project=project)
    assert ReviewItem.objects.get().status == ItemStatus.CLEAR  # both put the first error at step 1
