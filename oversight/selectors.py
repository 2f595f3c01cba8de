"""Reads of the oversight app, scoped to the acting user. Outside a user's reach: NotFound (404)."""

from annotation.exceptions import NotFound
from annotation.models import Assignment, Chain, Role
from annotation.selectors import membership_role

from .models import (
    Arm,
    AssignmentArm,
    AssistanceRating,
    Critique,
    DebateTurn,
    DebateVerdict,
    OversightPolicy,
    OversightRun,
    SymbolicCheck,
)
from .outputs import check_out, critique_out, run_out, turn_out, verdict_out

STAFF_ROLES = (Role.REVIEWER, Role.RESEARCHER, Role.ADMIN)


def chain_get_for_user(*, pk: int, user) -> Chain:
    """The chain if the user may see its assistance: reviewers and researchers of its project, and annotators
    holding an assisted assignment on it. Otherwise NotFound (the unassisted arm never sees results)."""
    chain = Chain.objects.select_related("project").filter(pk=pk).first()
    role = membership_role(user=user, project=chain.project) if chain else None
    if role in STAFF_ROLES:
        return chain
    if role == Role.ANNOTATOR and AssignmentArm.objects.filter(
            assignment__chain=chain, assignment__annotator=user, arm=Arm.ASSISTED).exists():
        return chain
    raise NotFound("No such chain with model assistance among yours.")


def run_get_for_user(*, pk: int, user) -> OversightRun:
    run = OversightRun.objects.select_related("backend", "chain").filter(pk=pk).first()
    if run is None:
        raise NotFound("No such oversight run.")
    chain_get_for_user(pk=run.chain_id, user=user)
    return run


def chain_results(*, chain_id: int, revision: int, user=None) -> dict:
    """Every run on this revision of the chain and its results; debate verdicts: the models' and the user's own.
    Six queries whatever the chain's length."""
    runs = list(OversightRun.objects.filter(chain_id=chain_id, revision=revision).select_related("backend")
                .order_by("id"))
    ids = [r.pk for r in runs]
    verdicts = DebateVerdict.objects.filter(run_id__in=ids).exclude(judge_model="")
    if user is not None:
        verdicts = verdicts | DebateVerdict.objects.filter(run_id__in=ids, judge=user)
    return {
        "runs": [run_out(r) for r in runs],
        "critiques": [critique_out(c) for c in Critique.objects.filter(run_id__in=ids).order_by("step_key", "id")],
        "checks": [check_out(c) for c in SymbolicCheck.objects.filter(run_id__in=ids).order_by("step_key", "id")],
        "turns": [turn_out(t) for t in DebateTurn.objects.filter(run_id__in=ids).order_by("run_id", "round", "id")],
        "verdicts": [verdict_out(v) for v in verdicts.order_by("id")],
    }


def assignment_oversight(*, assignment: Assignment, arm: AssignmentArm) -> dict:
    """What the workspace's oversight module shows for one assignment: nothing at all in the unassisted arm."""
    policy = OversightPolicy.objects.filter(project_id=assignment.chain.project_id).first()
    out = {"arm": arm.arm, "assisted": arm.arm == Arm.ASSISTED, "chain": assignment.chain_id,
           "revision": assignment.revision, "passes": policy.passes if policy else {}}
    if not out["assisted"]:
        return out
    out.update(chain_results(chain_id=assignment.chain_id, revision=assignment.revision, user=assignment.annotator))
    out["ratings"] = [{"critique": r[0], "check": r[1], "rating": r[2], "dismissed": r[3]} for r in
                      AssistanceRating.objects.filter(assignment=assignment).values_list(
                          "critique_id", "symbolic_check_id", "rating", "dismissed")]
    return out
