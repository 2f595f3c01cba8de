"""Every write of quality control: the review policy, the disagreement queue, reviewers' decisions and
final labels, gold and planted-error chains. Each function owns its transaction.

Never changes what annotators submitted. Every reviewer action is a Decision row (append-only); a
final label names the decision that set it.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

import orjson
from django.db import transaction
from django.db.models import Count, Max, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from annotation.exceptions import Conflict, NotFound, PermissionDenied, StepwiseError, ValidationFailed
from annotation.models import Assignment, AssignmentStatus, Chain, Membership, Project, Role, ScreeningStatus
from annotation.selectors import chain_steps, membership_role, screening_score
from annotation.services.audit import audit_record
from annotation.services.imports import chains_import

from .quality.triage import RULE_REASONS, LabelSetInput, triage_chain
from .quality_models import (
    MAX_NOTE,
    UNSETTLED_STATUSES,
    ConsensusMethod,
    Decision,
    DecisionKind,
    FinalLabel,
    ItemStatus,
    QueueRule,
    ReviewItem,
    ReviewPolicy,
    Unresolved,
)
from .quality_selectors import (
    ADJUDICATE_ROLES,
    POLICY_ROLES,
    answer_correct,
    categories_of,
    current_step_keys,
    policy_of,
    submitted_sets,
)

MAX_LABELS_PER_DECISION = 10_000
BATCH = 500  # chains judged per transaction
JUDGING_FIELDS = {"queue_rule", "alpha_threshold", "min_annotators", "fast_seconds_per_step", "max_annotators",
                  "when_unresolved"}
PROJECT_FIELDS = ("gold_share", "screening_pass_mark")  # kept on the project: annotation's claim reads them
MAX_KEY = 64


# --- policy -----------------------------------------------------------------------------------------

def review_policy_set(*, project: Project, user, **values) -> ReviewPolicy:
    """Change the fields given (queue_rule, alpha_threshold, min_annotators, consensus, show_annotator_names,
    fast_seconds_per_step, max_annotators, when_unresolved, gold_share, screening_pass_mark); the others keep
    their values. Researchers and admins."""
    if membership_role(user=user, project=project) not in POLICY_ROLES:
        raise PermissionDenied("Only researchers and admins set a project's review policy.")
    checks = {
        "queue_rule": lambda v: v in QueueRule.values, "consensus": lambda v: v in ConsensusMethod.values,
        "alpha_threshold": lambda v: isinstance(v, int | float) and -1 <= v <= 1,
        "min_annotators": lambda v: isinstance(v, int) and 2 <= v <= 20,
        "show_annotator_names": lambda v: isinstance(v, bool),
        "fast_seconds_per_step": lambda v: isinstance(v, int | float) and 0 <= v <= 3600,
        "gold_share": lambda v: isinstance(v, int | float) and 0 <= v <= 1,
        "max_annotators": lambda v: isinstance(v, int) and (v == 0 or 3 <= v <= 20),
        "when_unresolved": lambda v: v in Unresolved.values,
        "screening_pass_mark": lambda v: isinstance(v, int | float) and 0 <= v <= 1,
    }
    expected = {"queue_rule": " or ".join(QueueRule.values), "consensus": " or ".join(ConsensusMethod.values),
                "alpha_threshold": "a number from -1 to 1", "min_annotators": "an integer from 2 to 20",
                "show_annotator_names": "true or false", "fast_seconds_per_step": "seconds from 0 to 3600",
                "gold_share": "a share from 0 to 1",
                "max_annotators": "0 (no escalation) or an integer from 3 to 20, above min_annotators",
                "when_unresolved": " or ".join(Unresolved.values),
                "screening_pass_mark": "a share from 0 (no gate) to 1"}
    for name, value in values.items():
        if name not in checks:
            raise ValidationFailed(f"'{name}' is not a review policy setting; use {', '.join(checks)}.", field=name)
        if isinstance(value, bool) and name != "show_annotator_names" or not checks[name](value):
            raise ValidationFailed(f"{name} is {value!r}; expected {expected[name]}.", field=name)
    with transaction.atomic():
        policy, _ = ReviewPolicy.objects.get_or_create(project=project)
        fields = [n for n in values if n not in PROJECT_FIELDS]
        for name in fields:
            setattr(policy, name, values[name])
        if policy.max_annotators and policy.max_annotators <= policy.min_annotators:
            raise ValidationFailed(f"max_annotators is {policy.max_annotators} and min_annotators "
                                   f"{policy.min_annotators}: escalation collects passes beyond the minimum, so "
                                   "set max_annotators above min_annotators (or 0 for no escalation).",
                                   field="max_annotators")
        if fields:
            policy.save(update_fields=[*fields, "updated_at"])
        on_project = {n: values[n] for n in PROJECT_FIELDS if n in values}
        if on_project:
            Project.objects.filter(pk=project.pk).update(**on_project)
            for name, value in on_project.items():
                setattr(project, name, value)
        if JUDGING_FIELDS & set(fields):
            # A new rule judges every unsettled chain again at the next refresh (settled ones stay settled).
            ReviewItem.objects.filter(project=project, status__in=UNSETTLED_STATUSES).update(judged_submissions=0)
    return policy


# --- the queue --------------------------------------------------------------------------------------

def review_queue_refresh(*, project: Project, chain_ids: list[int] | None = None) -> dict[str, int]:
    """Judge the chains whose submitted passes changed since they were last judged, against the project's
    rule and flags: open an item for each that needs a reviewer, mark the others clear. Adjudicated items
    stay settled; a chain sent back for rework is judged again once a new pass is submitted.

    A handful of queries per batch of BATCH chains, whatever the batch holds; one to find what changed.
    Safe to run twice and concurrently: one row per chain (unique), items locked per batch.
    """
    policy = policy_of(project=project)
    submitted = Assignment.objects.filter(chain__project=project, status=AssignmentStatus.SUBMITTED)
    if chain_ids is not None:
        submitted = submitted.filter(chain_id__in=chain_ids)
    state = {row[0]: (row[1], row[2]) for row in submitted.order_by().values("chain_id").annotate(
        n=Count("id"), t=Max("submitted_at")).values_list("chain_id", "n", "t")}
    judged, settled_before = {}, set()
    for cid, n, t, status in ReviewItem.objects.filter(project=project).values_list(
            "chain_id", "judged_submissions", "judged_last", "status"):
        judged[cid] = (n, t)
        # Settled as the loop below decides it (read without a lock: it only spares a settled chain extra slots).
        if status == ItemStatus.RESOLVED or (status == ItemStatus.REWORK and state.get(cid, (0, None))[0] <= n):
            settled_before.add(cid)
    stale = sorted(cid for cid, (n, t) in state.items() if n >= policy.min_annotators and judged.get(cid) != (n, t))
    # Chains that fell below the minimum (a pass reopened) and are still waiting leave the queue.
    below = [cid for cid, (n, _t) in judged.items() if state.get(cid, (0, None))[0] < policy.min_annotators
             and (chain_ids is None or cid in chain_ids)]
    counts = {"judged": 0, "opened": 0, "cleared": 0, "settled": 0, "escalated": 0, "dropped": 0}
    if below:
        counts["cleared"] += ReviewItem.objects.filter(
            chain_id__in=below, status__in=(ItemStatus.OPEN, ItemStatus.ESCALATED, ItemStatus.DROPPED)).update(
            status=ItemStatus.CLEAR, reasons=[], judged_submissions=0, judged_last=None)
    escalating = policy.max_annotators > 0
    rule_reason = RULE_REASONS[policy.queue_rule]
    categories = categories_of(project)
    for at in range(0, len(stale), BATCH):
        ids = stale[at:at + BATCH]
        chains = {c.pk: c for c in Chain.objects.filter(pk__in=ids).select_related("problem")}
        sets = submitted_sets(chain_ids=ids)
        keys = current_step_keys(chains=list(chains.values()))
        found = {}
        for cid in ids:
            position = {k: i for i, k in enumerate(keys[cid])}
            inputs = [LabelSetInput(coder=s.username,
                                    ratings={position[k]: r for k, r in s.ratings().items() if k in position},
                                    active_seconds=s.active_seconds) for s in sets.get(cid, [])]
            n = state[cid][0]
            # Past the first passes of an escalated chain, a strict majority of min_annotators is agreement.
            quorum = policy.min_annotators if escalating and n > policy.min_annotators else None
            found[cid] = triage_chain(inputs, rule=policy.queue_rule, alpha_threshold=policy.alpha_threshold,
                                      answer_correct=answer_correct(chains[cid]),
                                      fast_seconds_per_step=policy.fast_seconds_per_step, categories=categories,
                                      quorum=quorum)
        verdicts = {cid: _verdict(policy, rule_reason, found[cid], state[cid][0]) for cid in ids}
        counts["judged"] += len(ids)
        with transaction.atomic():
            # More overlap slots for the chains that collect more passes: chain rows first, then the items
            # (the order a reviewer's decision takes them in, so the two never deadlock). Never lowered.
            raise_to: dict[int, list[int]] = defaultdict(list)
            for cid in ids:
                status, _reason = verdicts[cid]
                target = max(project.overlap_k, state[cid][0] + 1)
                if status == ItemStatus.ESCALATED and cid not in settled_before and \
                        target > max(project.overlap_k, chains[cid].slot_limit or 0):
                    raise_to[target].append(cid)
            for target, chain_ids_up in sorted(raise_to.items()):
                Chain.objects.filter(pk__in=sorted(chain_ids_up)).update(
                    slot_limit=Greatest(Coalesce("slot_limit", 0), Value(target)))
            # Locks this batch's items: a decision or another refresh on them waits until this one commits.
            items = {i.chain_id: i for i in ReviewItem.objects.select_for_update().filter(chain_id__in=ids)}
            new, changed, dropped = [], [], []
            for cid in ids:
                n, last = state[cid]
                triage = found[cid]
                status, counted = verdicts[cid]
                detail = triage.detail()
                if escalating:
                    detail["escalation"] = {"passes": n, "max": policy.max_annotators,
                                            "slots": max(project.overlap_k, chains[cid].slot_limit or 0,
                                                         n + 1 if status == ItemStatus.ESCALATED else 0)}
                item = items.get(cid)
                if item is None:
                    new.append(ReviewItem(chain_id=cid, project=project, status=status, reasons=triage.reasons,
                                          detail=detail, n_annotators=n, judged_submissions=n,
                                          judged_last=last))
                    counts[counted] += 1
                    if status == ItemStatus.DROPPED:
                        dropped.append((cid, n))
                    continue
                settled = item.status == ItemStatus.RESOLVED or (
                    item.status == ItemStatus.REWORK and n <= item.judged_submissions)
                if settled:
                    counts["settled"] += 1
                else:
                    if status != item.status and status != ItemStatus.CLEAR:
                        counts[counted] += 1
                        if status == ItemStatus.DROPPED:
                            dropped.append((cid, n))
                    item.status = status
                    item.reasons, item.detail = triage.reasons, detail
                item.n_annotators, item.judged_submissions, item.judged_last = n, n, last
                changed.append(item)
            ReviewItem.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent refresh may have made one
            ReviewItem.objects.bulk_update(changed, ["status", "reasons", "detail", "n_annotators",
                                                     "judged_submissions", "judged_last"])
            for cid, n in dropped:  # the system's decision, in the audit log beside the reviewers'
                audit_record(action="chain.dropped", project=project, obj=chains[cid],
                             detail={"chain": cid, "passes": n, "max_annotators": policy.max_annotators,
                                     "rule": policy.queue_rule})
    return counts


def review_queues_refresh_escalating() -> dict[str, dict[str, int]]:
    """Refresh the queue of every active project that escalates disagreements (Celery beat, every 30 s): their
    extra slots must open as the passes arrive, not when a reviewer next opens the queue (annotation's
    submit never calls review). Only chains whose passes changed are judged; the rest is one read."""
    out = {}
    for project in Project.objects.filter(review_policy__max_annotators__gt=0, archived_at__isnull=True):
        out[project.slug] = review_queue_refresh(project=project)
    return out


def _verdict(policy: ReviewPolicy, rule_reason: str, triage, n: int) -> tuple[str, str]:
    """(item status, the counter it adds to) for a judged chain. With escalation on, a chain the rule sends
    to review first collects more passes (escalated) until `max_annotators`; there, still disagreeing, it
    goes to reviewers or is dropped, per `when_unresolved`, with the reason `no_agreement`."""
    if policy.max_annotators > 0 and rule_reason in triage.reasons:
        if n < policy.max_annotators:
            return ItemStatus.ESCALATED, "escalated"
        triage.reasons.append("no_agreement")
        if policy.when_unresolved == Unresolved.DROP:
            return ItemStatus.DROPPED, "dropped"
    return (ItemStatus.OPEN, "opened") if triage.reasons else (ItemStatus.CLEAR, "cleared")


# --- decisions --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FinalLabelInput:
    step: int  # 0-based index in the chain's current revision
    rating: int
    reason: str = ""


def _check_reviewer(chain: Chain, reviewer) -> None:
    if membership_role(user=reviewer, project=chain.project) not in ADJUDICATE_ROLES:
        raise PermissionDenied("Only reviewers and admins of this project adjudicate chains.")
    if Assignment.objects.filter(chain=chain, annotator=reviewer).exists():
        raise PermissionDenied("You annotated this chain, so you cannot adjudicate it: another reviewer must.")


def _check_text(value: str, name: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be text; got {type(value).__name__}.", field=name)
    if len(value) > MAX_NOTE:
        raise ValidationFailed(f"{name} is {len(value):,} characters; at most {MAX_NOTE:,}.", field=name)
    return value.strip()


def _locked_chain(chain: Chain) -> Chain:
    # NO KEY UPDATE on the chain row: serializes two reviewers' decisions on one chain (the final labels
    # and the item must come from one of them, whole) without blocking any insert that points at it.
    locked = Chain.objects.select_for_update(no_key=True).select_related("project", "problem").filter(pk=chain.pk).first()
    if locked is None:
        raise NotFound("The chain no longer exists.")
    return locked


def _replayed(chain: Chain, request_key: str, kind: str) -> Decision | None:
    if len(request_key) > MAX_KEY:
        raise ValidationFailed(f"request_key is at most {MAX_KEY} characters.", field="request_key")
    if not request_key:
        return None
    found = Decision.objects.filter(chain=chain, request_key=request_key).first()
    if found is not None and found.kind != kind:
        raise Conflict(f"request_key '{request_key}' was already used for a {found.kind} decision on this chain.",
                       field="request_key")
    return found


def chain_adjudicate(*, chain: Chain, reviewer, labels: list[FinalLabelInput], note: str, request_key: str = "",
                     revision: int | None = None) -> Decision:
    """Set final labels on steps of the chain, with a note; resolve its queue item. One decision, audited.

    Idempotent: a retry with the same `request_key` returns the stored decision; labels equal to the final
    labels already set change nothing and add no change rows. `revision` (the one the reviewer saw)
    refuses a decision made on steps an edit has since replaced.
    """
    note = _check_text(note, "note")
    if not note:
        raise ValidationFailed("Write a note: why these are the final labels (the audit log keeps it).", field="note")
    if not labels:
        raise ValidationFailed("Set at least one final label (a step and its rating).", field="labels")
    if len(labels) > MAX_LABELS_PER_DECISION:
        raise ValidationFailed(f"{len(labels):,} labels in one decision; at most {MAX_LABELS_PER_DECISION:,}.",
                               field="labels")
    _check_reviewer(chain, reviewer)
    allowed = categories_of(chain.project)
    with transaction.atomic():
        chain = _locked_chain(chain)
        if (found := _replayed(chain, request_key, DecisionKind.ADJUDICATE)) is not None:
            return found
        if revision is not None and revision != chain.revision:
            raise Conflict(f"The chain was edited (revision {chain.revision}; you saw {revision}). Reload the page "
                           "and adjudicate the current steps.", field="revision")
        steps = chain_steps(chain=chain)
        seen: set[int] = set()
        for n, label in enumerate(labels):
            where = f"labels[{n}]"
            if not isinstance(label.step, int) or isinstance(label.step, bool) or not 0 <= label.step < len(steps.keys):
                raise ValidationFailed(f"{where}.step is {label.step!r}; expected a step index from 0 to "
                                       f"{len(steps.keys) - 1}.", field="labels")
            if label.step in seen:
                raise ValidationFailed(f"{where}: step {label.step} appears twice; give each step once.", field="labels")
            seen.add(label.step)
            if label.rating not in allowed or isinstance(label.rating, bool):
                raise ValidationFailed(f"{where}.rating is {label.rating!r}; expected one of "
                                       f"{', '.join(str(r) for r in allowed)}.", field="labels")
            _check_text(label.reason, f"{where}.reason")
        current = {row.step_key: row for row in FinalLabel.objects.filter(chain=chain)}
        changes = []
        for label in labels:
            key = steps.keys[label.step]
            old = current.get(key)
            reason = label.reason.strip()
            if old is not None and old.rating == label.rating and old.reason == reason:
                continue
            changes.append({"step": label.step, "key": key, "old": old.rating if old else None, "new": label.rating,
                            "reason": reason})
        item = ReviewItem.objects.filter(chain=chain).first()
        if not changes and (item is None or item.status in (ItemStatus.RESOLVED, ItemStatus.CLEAR)):
            latest = Decision.objects.filter(chain=chain, kind=DecisionKind.ADJUDICATE).order_by("-id").first()
            if latest is not None:
                return latest  # the same final labels again: nothing to record
        decision = Decision.objects.create(chain=chain, reviewer=reviewer, kind=DecisionKind.ADJUDICATE, note=note,
                                           changes=changes, revision=chain.revision, request_key=request_key)
        for change in changes:
            FinalLabel.objects.update_or_create(chain=chain, step_key=change["key"], defaults={
                "rating": change["new"], "reason": change["reason"], "decision": decision, "set_by": reviewer})
        # Annotators can no longer reopen their passes of this chain (annotation's reopen reads this under
        # FOR SHARE, which waits for this transaction's lock on the chain row).
        Chain.objects.filter(pk=chain.pk).update(adjudicated_at=timezone.now())
        if item is not None:
            ReviewItem.objects.filter(pk=item.pk).update(status=ItemStatus.RESOLVED, resolved_at=timezone.now(),
                                                         resolved_by=reviewer, updated_at=timezone.now())
        audit_record(action="chain.adjudicated", actor=reviewer, project=chain.project, obj=decision,
                     detail={"chain": chain.pk, "revision": chain.revision, "changes": len(changes)})
    return decision


def chain_send_back(*, chain: Chain, reviewer, note: str, request_key: str = "") -> Decision:
    """Send the chain back for rework (bad segmentation, a problem to fix): the item waits until a new pass
    is submitted, then is judged again. Recorded as a decision."""
    return _simple_decision(chain, reviewer, DecisionKind.REWORK, note, request_key, ItemStatus.REWORK, {})


def chain_request_debate(*, chain: Chain, reviewer, step: int, note: str = "", request_key: str = "") -> Decision:
    """Ask for a model debate on a contested step: oversight's debate pass on the chain's current revision
    (cached if asked before), recorded as a decision with the run it started, or why none could start
    (no model backend configured)."""
    from oversight.services.runs import run_request

    steps = chain_steps(chain=chain)
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < len(steps.keys):
        raise ValidationFailed(f"step is {step!r}; expected a step index from 0 to {len(steps.keys) - 1}.", field="step")
    _check_reviewer(chain, reviewer)
    change: dict = {"step": step, "key": steps.keys[step]}
    try:
        run, _created = run_request(chain=chain, kind="debate", step_key=steps.keys[step], user=reviewer)
        change["run"] = run.pk
    except StepwiseError as exc:
        change["not_started"] = exc.message
    return _simple_decision(chain, reviewer, DecisionKind.DEBATE, note, request_key, None, change)


def _simple_decision(chain, reviewer, kind, note, request_key, status, change) -> Decision:
    note = _check_text(note, "note")
    if kind == DecisionKind.REWORK and not note:
        raise ValidationFailed("Write a note: what the annotators should rework.", field="note")
    _check_reviewer(chain, reviewer)
    with transaction.atomic():
        chain = _locked_chain(chain)
        if (found := _replayed(chain, request_key, kind)) is not None:
            return found
        decision = Decision.objects.create(chain=chain, reviewer=reviewer, kind=kind, note=note,
                                           changes=[change] if change else [], revision=chain.revision,
                                           request_key=request_key)
        if status is not None:
            ReviewItem.objects.filter(chain=chain).update(status=status, updated_at=timezone.now())
        audit_record(action=f"chain.{kind}", actor=reviewer, project=chain.project, obj=decision,
                     detail={"chain": chain.pk, "revision": chain.revision})
    return decision


# --- gold and planted errors ------------------------------------------------------------------------

def chain_set_gold(*, chain: Chain, user, is_gold: bool | None = None, is_screening: bool | None = None) -> Chain:
    """Mark a chain gold (its reference labels are the answer key) and/or part of the screening set."""
    if membership_role(user=user, project=chain.project) not in POLICY_ROLES:
        raise PermissionDenied("Only researchers and admins mark gold and screening chains.")
    fields = {}
    if is_gold is not None:
        fields["is_gold"] = bool(is_gold)
    if is_screening is not None:
        fields["is_screening"] = bool(is_screening)
    if fields:
        Chain.objects.filter(pk=chain.pk).update(**fields)
        for name, value in fields.items():
            setattr(chain, name, value)
    return chain


PLANT_RULES = ("arithmetic", "replace")


def chain_plant_error(*, chain: Chain, user, rule: str = "arithmetic", step: int | None = None, text: str = "",
                      seed: int = 0) -> Chain:
    """A gold copy of a correct chain with one step altered on purpose, the altered step recorded.

    `arithmetic`: the symbolic checker finds a verified equality in a step (the given one, else the first
    that has one) and one number of its result is changed (oversight/symbolic/planting.py). `replace`: the
    given step's text becomes `text`. The copy is imported like any chain (annotators cannot tell), with
    reference labels +1 before the planted step and −1 on it, and `planted` = {from_chain, step_key, rule,
    original, ...}.
    """
    from oversight.symbolic import check_step
    from oversight.symbolic.planting import arithmetic_candidates, plant_arithmetic

    if membership_role(user=user, project=chain.project) not in POLICY_ROLES:
        raise PermissionDenied("Only researchers and admins plant errors.")
    if rule not in PLANT_RULES:
        raise ValidationFailed(f"rule is {rule!r}; expected one of {', '.join(PLANT_RULES)}.", field="rule")
    if chain.planted:
        raise ValidationFailed("This chain is itself a planted copy; plant into the original chain.", field="chain")
    steps = chain_steps(chain=chain)
    texts = list(steps.texts)
    if step is not None and (not isinstance(step, int) or not 0 <= step < len(texts)):
        raise ValidationFailed(f"step is {step!r}; expected a step index from 0 to {len(texts) - 1}.", field="step")
    detail: dict = {}
    if rule == "replace":
        text = _check_text(text, "text")
        if step is None or not text:
            raise ValidationFailed("The replace rule needs a step and the text that replaces it.", field="text")
        if text == texts[step]:
            raise ValidationFailed("The new text is the step's own text; change something.", field="text")
        at, new_text = step, text
    else:
        rng = random.Random(seed)  # noqa: S311 (choice of a slip, not security)
        order = [step] if step is not None else list(range(len(texts)))
        at = new_text = None
        for index in order:
            candidates = arithmetic_candidates(check_step(texts[index]))
            plant = plant_arithmetic(texts[index], rng.choice(candidates), rng) if candidates else None
            if plant is not None:
                at, new_text = index, plant.text
                detail = {"kind": plant.kind, "was": plant.original, "now": plant.replacement,
                          "expression": plant.expression}
                break
        if at is None:
            where = f"step {step}" if step is not None else "any step"
            raise ValidationFailed(f"The symbolic checker found no verified equality to alter in {where}; choose "
                                   "another step or use the replace rule.", field="step")
    original = texts[at]
    texts[at] = new_text
    n = Chain.objects.filter(project=chain.project, planted__from_chain=chain.pk).count() + 1
    source_id = f"{chain.source_id}~p{n}"
    row = {"id": source_id, "generator": chain.source_model, "problem": chain.problem.statement, "steps": texts,
           "label": at}
    with transaction.atomic():
        chains_import(project=chain.project, data=orjson.dumps([row]), filename=f"planted-{source_id}.json")
        planted = {"from_chain": chain.pk, "step_key": at, "rule": rule, "original": original, **detail}
        Chain.objects.filter(project=chain.project, source_id=source_id).update(is_gold=True, planted=planted)
        copy = Chain.objects.get(project=chain.project, source_id=source_id)
        if chain.problem.reference_answer or chain.final_answer:
            Chain.objects.filter(pk=copy.pk).update(final_answer=chain.final_answer)
    return copy


# --- the screening gate -----------------------------------------------------------------------------

SCREENING_ACTIONS = ("waive", "retry")


def member_screening_set(*, project: Project, user, annotator: str, action: str) -> Membership:
    """A researcher's answer to an annotator's screening result: `waive` lets them through to real work
    whatever their score; `retry` gives them the screening set again: their screening passes are removed
    (the score they had is kept in the audit log) and the claim serves the screening chains afresh."""
    if membership_role(user=user, project=project) not in POLICY_ROLES:
        raise PermissionDenied("Only researchers and admins decide on annotators' screening.")
    if action not in SCREENING_ACTIONS:
        raise ValidationFailed(f"action is {action!r}; expected {' or '.join(SCREENING_ACTIONS)}.", field="action")
    if not isinstance(annotator, str) or not annotator:
        raise ValidationFailed("Give the annotator's username.", field="annotator")
    with transaction.atomic():
        # NO KEY UPDATE on the membership: two researchers' answers on one annotator serialize.
        member = (Membership.objects.select_for_update(no_key=True, of=("self",)).select_related("user")
                  .filter(project=project, user__username=annotator, role=Role.ANNOTATOR).first())
        if member is None:
            raise ValidationFailed(f"'{annotator[:150]}' is not an annotator of project '{project.slug}'.",
                                   field="annotator")
        score = screening_score(project=project, user=member.user)
        before = {"status": member.screening_status, "score": member.screening_score, "steps": score.steps,
                  "correct": score.correct, "chains": score.submitted}
        if action == "waive":
            member.screening_status = ScreeningStatus.WAIVED
        else:
            removed, _ = Assignment.objects.filter(chain__project=project, chain__is_screening=True,
                                                   annotator=member.user).delete()
            before["removed_rows"] = removed
            member.screening_status, member.screening_score = ScreeningStatus.PENDING, None
        member.save(update_fields=["screening_status", "screening_score"])
        audit_record(action=f"screening.{action}", actor=user, project=project, obj=member,
                     detail={"annotator": annotator, "before": before})
    return member
