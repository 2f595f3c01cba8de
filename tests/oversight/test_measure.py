"""Measurement: Wilson intervals, critic scores, the per-project report (arms and critics against final labels),
and queue priority for convincing wrong answers."""

import math

import pytest

from annotation.models import Chain
from annotation.services import LabelInput, assignment_claim_next, assignment_submit, membership_set
from oversight.measure import critic_scores, mean_interval, wilson
from oversight.models import Arm, AssignmentArm
from oversight.priority import answers_differ, convincing_wrong, normalise
from oversight.services import arm_draw, run_request, runs_execute
from oversight.services.policies import policies_apply
from oversight.services.report import project_report
from tests.oversight.conftest import critic


def test_wilson_known_values():
    w = wilson(8, 10)
    assert math.isclose(w["low"], 0.4901624, rel_tol=1e-5) and math.isclose(w["high"], 0.9433178, rel_tol=1e-5)
    assert wilson(0, 0)["value"] is None
    assert wilson(0, 20)["low"] == 0.0 and wilson(20, 20)["high"] == 1.0
    m = mean_interval([1, 2, 3, 4])
    assert m["value"] == 2.5 and math.isclose(m["high"] - m["value"], 1.959964 * 1.2909944 / 2, rel_tol=1e-5)


def test_critic_scores_counts():
    scores = critic_scores([(True, True), (True, False), (False, True), (False, False), (True, True)])
    assert scores["counts"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}
    assert scores["precision"]["value"] == 2 / 3 and scores["recall"]["value"] == 2 / 3


@pytest.mark.parametrize(("final", "reference", "differ"), [
    ("58", "68", True), ("\\boxed{68}", "68", False), ("$1,200$", "1200", False), ("\\frac{1}{2}", "0.5", False),
    ("", "3", None), ("x = 3", "3", True)])
def test_answers(final, reference, differ):
    assert answers_differ(final, reference) is differ
    assert normalise("68.") == "68"


def test_convincing_wrong_rule():
    assert convincing_wrong(["correct"] * 3, "58", "68")
    assert not convincing_wrong(["correct", "malformed"], "58", "68")
    assert not convincing_wrong(["correct"] * 3, "68", "68")


@pytest.mark.django_db(transaction=True)
def test_a_critic_that_passes_a_wrong_answer_puts_it_first(chain, backend, model_server):
    model_server.script = critic(wrong_steps=())
    run, _ = run_request(chain=chain, kind="critique", backend_name="fake")
    runs_execute(run_ids=[run.pk])
    chain.refresh_from_db()
    assert chain.priority == 100
    other = Chain.objects.get(source_id="c2")
    model_server.script = critic(wrong_steps=(2,))
    run, _ = run_request(chain=other, kind="critique", backend_name="fake")
    runs_execute(run_ids=[run.pk])
    other.refresh_from_db()
    assert other.priority == 0


@pytest.mark.django_db(transaction=True)
def test_report_per_arm_and_per_critic(ov_project, chain, backend, model_server, make_user, assisted_policy):
    # Two annotators on c1 (assisted) and c2 (arms forced): both rate step 2 (the 58) as wrong.
    ov_project.overlap_k = 2
    ov_project.save(update_fields=["overlap_k"])
    model_server.script = critic(wrong_steps=(2, 3))  # step 3 repeats 58: the critic flags it too
    runs_execute(run_ids=[run_request(chain=c, kind="critique", backend_name="fake")[0].pk
                          for c in ov_project.chains.all()])
    runs_execute(run_ids=[run_request(chain=c, kind="symbolic")[0].pk for c in ov_project.chains.all()])
    for n, arm in enumerate([Arm.ASSISTED, Arm.UNASSISTED]):
        user = make_user(f"judge{n}")
        membership_set(project=ov_project, user=user, role="annotator")
        for _ in range(2):
            assignment = assignment_claim_next(project=ov_project, user=user)
            AssignmentArm.objects.create(assignment=assignment, arm=arm, share=0.5)
            assert arm_draw(assignment=assignment).arm == arm  # drawn once, never again
            assignment_submit(assignment=assignment, user=user, finish_reason="found_error",
                              version=assignment.version, active_seconds=30 + 10 * n,
                              labels=[LabelInput(step=0, rating=1), LabelInput(step=1, rating=-1)])
    report = project_report(project=ov_project)
    assert report["arms"]["assisted"]["assignments"] == 2 and report["arms"]["unassisted"]["assignments"] == 2
    assert report["arms"]["assisted"]["active_seconds_per_chain"]["value"] == 30
    # Final labels (majority of the two annotators): step 1 clean, step 2 wrong, step 3 unlabelled.
    crit = report["critics"]["critique:fake"]
    assert crit["counts"] == {"tp": 2, "fp": 0, "fn": 0, "tn": 2} and crit["precision"]["value"] == 1.0
    sym = report["critics"]["symbolic"]
    assert sym["counts"]["tp"] == 2 and sym["recall"]["value"] == 1.0


@pytest.mark.django_db(transaction=True)
def test_policies_apply_runs_on_import_passes(ov_project, chain):
    from oversight.services import policy_set

    policy_set(project=ov_project, passes={"symbolic": "on_import", "critique": "on_demand"})
    assert policies_apply() == {"ov:symbolic": 2}
    assert policies_apply() == {}  # every chain has its run on its current revision now


@pytest.mark.django_db(transaction=True)
def test_policies_apply_on_disagreement(ov_project, chain, make_user):
    from oversight.models import OversightRun
    from oversight.services import policy_set

    ov_project.overlap_k = 2
    ov_project.save(update_fields=["overlap_k"])
    policy_set(project=ov_project, passes={"symbolic": "on_disagreement"})
    assert policies_apply() == {}  # nobody disagrees yet
    for n, rating in enumerate((1, -1)):
        user = make_user(f"d{n}")
        membership_set(project=ov_project, user=user, role="annotator")
        assignment = assignment_claim_next(project=ov_project, user=user)
        assert assignment.chain_id == chain.pk
        labels = [LabelInput(step=0, rating=1), LabelInput(step=1, rating=rating)]
        if rating > 0:
            labels.append(LabelInput(step=2, rating=1))
        assignment_submit(assignment=assignment, user=user, version=assignment.version, labels=labels,
                          finish_reason="found_error" if rating < 0 else "solution")
    assert policies_apply() == {"ov:symbolic": 1}
    assert list(OversightRun.objects.values_list("chain_id", "kind")) == [(chain.pk, "symbolic")]
