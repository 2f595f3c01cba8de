"""Reads for quality control and adjudication, scoped to the acting user.

Reference labels (imported with the data: ProcessBench experts, PRM800K labelers) are never votes:
agreement, consensus and the queue read submitted assignments only; gold scoring reads the
reference labels of gold chains as the answer key.
"""

from __future__ import annotations

import datetime
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max, Q, Sum

from annotation import steps as step_store
from annotation.exceptions import NotFound
from annotation.models import (
    Annotation,
    Assignment,
    AssignmentStatus,
    Chain,
    ChainRevision,
    Project,
    Role,
    StepLabel,
)
from annotation.selectors import chain_steps, key_match, membership_role, project_get_for_user, reference_keys

from .aggregation import dawid_skene
from .quality import StepLabels, agreement_report, annotator_agreement, position_agreement
from .quality.triage import REASON_TEXT, majority
from .quality_models import (
    QUEUE_STATUSES,
    ConsensusMethod,
    Decision,
    FinalLabel,
    ItemStatus,
    ReviewItem,
    ReviewPolicy,
)

REVIEW_ROLES = (Role.REVIEWER, Role.RESEARCHER, Role.ADMIN)  # see the queue, the dashboard, a chain's labels
ADJUDICATE_ROLES = (Role.REVIEWER, Role.ADMIN)  # set final labels
POLICY_ROLES = (Role.RESEARCHER, Role.ADMIN)  # set the queue rule, plant errors, mark gold
MAX_WINDOW = 500  # steps per adjudication page / API read
DEFAULT_RESAMPLES = 200


def project_get_for_review(*, slug: str, user, roles: tuple[str, ...] = REVIEW_ROLES) -> Project:
    return project_get_for_user(slug=slug, user=user, roles=roles)


def chain_get_for_review(*, pk: int, user, roles: tuple[str, ...] = REVIEW_ROLES) -> Chain:
    """The chain with its problem and project, if the user may review in its project; else NotFound."""
    chain = Chain.objects.select_related("problem", "project").filter(pk=pk).first()
    if chain is None:
        raise NotFound(f"No chain {pk}.")
    role = membership_role(user=user, project=chain.project)
    if role not in roles:
        raise NotFound(f"No chain {pk} in a project where you review.")
    return chain


def policy_of(*, project: Project) -> ReviewPolicy:
    """The project's review policy; the defaults (unsaved) until a researcher sets one."""
    return ReviewPolicy.objects.filter(project=project).first() or ReviewPolicy(project=project)


def categories_of(project: Project) -> tuple[int, ...]:
    return tuple(sorted(project.ratings))


# --- label sets of chains ---------------------------------------------------------------------------

@dataclass
class SubmittedSet:
    assignment_id: int
    annotator_id: int
    username: str
    active_seconds: int
    submitted_at: datetime.datetime | None
    finish_reason: str = ""
    comment: str = ""
    labels: dict[int, dict] = field(default_factory=dict)  # step key -> {rating, rationale, correction, ...}

    def ratings(self) -> dict[int, int]:
        return {k: v["rating"] for k, v in self.labels.items() if v["rating"] is not None}


LABEL_COLUMNS = ("rating", "rationale", "correction", "unsure", "flagged", "error_type")


def submitted_sets(*, chain_ids: list[int], details: bool = False) -> dict[int, list[SubmittedSet]]:
    """Per chain, its submitted assignments with their labels by step key. Three queries."""
    rows = (Assignment.objects.filter(chain_id__in=chain_ids, status=AssignmentStatus.SUBMITTED)
            .order_by("chain_id", "id")
            .values_list("id", "chain_id", "annotator_id", "annotator__username", "active_seconds", "submitted_at"))
    sets: dict[int, SubmittedSet] = {}
    by_chain: dict[int, list[SubmittedSet]] = defaultdict(list)
    for aid, chain_id, annotator_id, username, seconds, submitted in rows:
        sets[aid] = SubmittedSet(aid, annotator_id, username, seconds, submitted)
        by_chain[chain_id].append(sets[aid])
    if not sets:
        return {}
    for aid, reason, comment in Annotation.objects.filter(assignment_id__in=list(sets)).values_list(
            "assignment_id", "finish_reason", "comment"):
        sets[aid].finish_reason, sets[aid].comment = reason, comment
    columns = LABEL_COLUMNS if details else ("rating",)
    for aid, key, *values in StepLabel.objects.filter(assignment_id__in=list(sets)).values_list(
            "assignment_id", "step_key", *columns).iterator(chunk_size=20000):
        sets[aid].labels[key] = dict(zip(columns, values, strict=True))
    return dict(by_chain)


def current_step_keys(*, chains: list[Chain]) -> dict[int, list[int]]:
    """Per chain, the step keys of its current revision, in order. One query (key lists only, no texts)."""
    out = {c.pk: list(range(c.step_count)) for c in chains}
    edited = {c.pk: c.revision for c in chains if c.revision != 1}
    if edited:
        rows = ChainRevision.objects.filter(chain_id__in=list(edited)).values_list(
            "chain_id", "number", "step_keys", "step_count")
        for chain_id, number, packed, count in rows:
            if edited[chain_id] == number:
                out[chain_id] = step_store.unpack_keys(packed, count)
    return out


def final_labels_of(*, chain_ids: list[int]) -> dict[int, dict[int, dict]]:
    """{chain id: {step key: {rating, reason, set_by, set_at}}}: reviewers' final labels."""
    out: dict[int, dict[int, dict]] = defaultdict(dict)
    for chain_id, key, rating, reason, username, set_at in FinalLabel.objects.filter(chain_id__in=chain_ids).values_list(
            "chain_id", "step_key", "rating", "reason", "set_by__username", "set_at"):
        out[chain_id][key] = {"rating": rating, "reason": reason, "set_by": username, "set_at": set_at.isoformat()}
    return dict(out)


def answer_correct(chain: Chain) -> bool | None:
    """Whether the chain's final answer is right: ProcessBench's own field if imported, else the answer
    compared with the problem's reference answer (both present), else unknown."""
    known = (chain.metadata or {}).get("final_answer_correct")
    if isinstance(known, bool):
        return known
    given, reference = (chain.final_answer or "").strip(), (chain.problem.reference_answer or "").strip()
    if not given or not reference:
        return None
    return _normal(given) == _normal(reference)


def _normal(answer: str) -> str:
    return answer.replace(" ", "").replace("$", "").replace("\\boxed{", "").rstrip("}.").lower()


# --- the queue --------------------------------------------------------------------------------------

def review_queue_list(*, project: Project, status: str = ItemStatus.OPEN, limit: int = 200) -> list[dict]:
    """The queue's items (oldest first), with the chain and the reasons in words. Two queries."""
    items = (ReviewItem.objects.filter(project=project, status=status).select_related("chain", "resolved_by")
             .order_by("id")[:limit])
    return [{"chain": item.chain_id, "source_id": item.chain.source_id, "status": item.status,
             "reasons": item.reasons, "reason_text": [REASON_TEXT.get(r, r) for r in item.reasons],
             "contested": len(item.detail.get("contested", [])), "alpha": item.detail.get("alpha"),
             "n_annotators": item.n_annotators, "step_count": item.chain.step_count,
             "opened_at": item.opened_at.isoformat(),
             "resolved_by": item.resolved_by.username if item.resolved_by else None} for item in items]


def review_queue_counts(*, project: Project) -> dict[str, int]:
    counts = dict(ReviewItem.objects.filter(project=project).values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in QUEUE_STATUSES}


# --- the adjudication page --------------------------------------------------------------------------

def _symbolic(text: str) -> dict | None:
    """The symbolic checker's verdict on a step (review may use oversight), None when it finds nothing."""
    from oversight.symbolic import check_step
    from oversight.symbolic.checker import step_outcome

    try:
        findings = check_step(text)
    except Exception:  # noqa: BLE001 (an unreadable step must not hide the page; the checker is best-effort)
        return None
    if not findings:
        return None
    outcome = step_outcome(findings)
    if outcome not in ("mismatch", "verified"):
        return None  # the checker abstained: nothing it could read, nothing to show
    mismatches = [f.expression for f in findings if f.outcome == "mismatch"][:3]
    return {"outcome": outcome, "mismatches": mismatches, "n": len(findings)}


def _oversight_by_key(chain: Chain, keys: list[int]) -> dict[int, tuple[list, list]]:
    """Per step key of the window: the models' critiques and the debates run on it (oversight's results for
    the chain's current revision)."""
    from oversight.selectors import chain_results

    wanted = set(keys)
    results = chain_results(chain_id=chain.pk, revision=chain.revision)
    out: dict[int, tuple[list, list]] = {}
    for c in results["critiques"]:
        if c["stepKey"] in wanted:
            out.setdefault(c["stepKey"], ([], []))[0].append(
                {"verdict": c["verdict"], "confidence": c["confidence"], "explanation": c["explanation"][:600]})
    turns: dict[int, int] = defaultdict(int)
    for t in results["turns"]:
        turns[t["run"]] += 1
    verdicts: dict[int, list] = defaultdict(list)
    for v in results["verdicts"]:
        verdicts[v["run"]].append(f"{v['judge']}: {v['verdict']} ({v['credence']:.2f})")
    for run in results["runs"]:
        if run["kind"] == "debate" and run["stepKey"] in wanted:
            out.setdefault(run["stepKey"], ([], []))[1].append(
                {"run": run["id"], "status": run["status"], "turns": turns[run["id"]], "verdicts": verdicts[run["id"]]})
    return out


def adjudication_data(*, chain: Chain, user, start: int = 0, size: int = 100, contested_only: bool = False) -> dict:
    """Everything the adjudication page shows for a window of steps: each annotator's rating, rationale and
    correction, the majority, the final label, the symbolic check; the chain's flags and decision history."""
    if size < 1 or size > MAX_WINDOW:
        raise ValueError(f"size must be 1..{MAX_WINDOW}; got {size}")
    project = chain.project
    policy = policy_of(project=project)
    steps = chain_steps(chain=chain)
    sets = submitted_sets(chain_ids=[chain.pk], details=True).get(chain.pk, [])
    finals = final_labels_of(chain_ids=[chain.pk]).get(chain.pk, {})
    item = ReviewItem.objects.filter(chain=chain).first()
    names = [s.username if policy.show_annotator_names else f"Annotator {chr(65 + i % 26)}{i // 26 or ''}"
             for i, s in enumerate(sets)]
    contested_keys = set()
    for key in steps.keys:
        votes = {s.labels[key]["rating"] for s in sets if key in s.labels and s.labels[key]["rating"] is not None}
        if len(votes) > 1:
            contested_keys.add(key)
    indexes = [i for i, k in enumerate(steps.keys) if k in contested_keys] if contested_only else \
        list(range(len(steps.keys)))
    start = max(0, min(start, max(len(indexes) - 1, 0)))
    window = indexes[start:start + size]
    rows = []
    for index in window:
        key, text = steps.keys[index], steps.texts[index]
        labels = [s.labels.get(key) or {} for s in sets]
        votes = [lab["rating"] for lab in labels if lab.get("rating") is not None]
        rows.append({"index": index, "key": key, "text": text, "labels": labels, "majority": majority(votes),
                     "final": finals.get(key), "contested": key in contested_keys, "symbolic": _symbolic(text)})
    oversight = _oversight_by_key(chain, [r["key"] for r in rows])
    for row in rows:
        row["critiques"], row["debates"] = oversight.get(row["key"], ([], []))
    own = any(s.annotator_id == user.pk for s in sets)
    role = membership_role(user=user, project=project)
    return {
        "chain": {"pk": chain.pk, "source_id": chain.source_id, "source_model": chain.source_model,
                  "problem": chain.problem.statement, "reference_answer": chain.problem.reference_answer,
                  "final_answer": chain.final_answer, "revision": chain.revision, "step_count": len(steps.keys),
                  "answer_correct": answer_correct(chain)},
        "annotators": [{"name": name, "finish_reason": s.finish_reason, "comment": s.comment,
                        "active_seconds": s.active_seconds} for name, s in zip(names, sets, strict=True)],
        "ratings": list(categories_of(project)),
        "item": ({"status": item.status, "reasons": item.reasons,
                  "reason_text": [REASON_TEXT.get(r, r) for r in item.reasons], "detail": item.detail}
                 if item else None),
        "window": {"start": start, "size": size, "total": len(indexes), "contested_only": contested_only,
                   "contested_total": len(contested_keys)},
        "steps": rows,
        "can_adjudicate": role in ADJUDICATE_ROLES and not own,
        "refusal": ("You annotated this chain: another reviewer must adjudicate it." if own else
                    "" if role in ADJUDICATE_ROLES else "Only reviewers and admins set final labels."),
        "final_count": len(finals),
        "decisions": [{"kind": d.kind, "reviewer": d.reviewer.username, "note": d.note, "changes": len(d.changes),
                       "at": d.created_at.isoformat()}
                      for d in Decision.objects.filter(chain=chain).select_related("reviewer").order_by("-id")[:20]],
    }


# --- final labels (exports read these) --------------------------------------------------------------

def chain_final_ratings(*, chain_ids: list[int], keys_of: dict[int, list[int]]) -> dict[int, list[int | None]]:
    """Per chain, per current step: the reviewer's final label if set, else the majority of the submitted
    annotators (reference labels are not votes), else None."""
    sets = submitted_sets(chain_ids=chain_ids)
    finals = final_labels_of(chain_ids=chain_ids)
    out = {}
    for chain_id in chain_ids:
        chain_sets, chain_finals = sets.get(chain_id, []), finals.get(chain_id, {})
        ratings: list[int | None] = []
        for key in keys_of[chain_id]:
            if key in chain_finals:
                ratings.append(chain_finals[key]["rating"])
            else:
                ratings.append(majority([r for s in chain_sets if (r := s.labels.get(key, {}).get("rating")) is not None]))
        out[chain_id] = ratings
    return out


def adjudicated_ratings(*, chain_ids: list[int]) -> dict[int, dict[int, int]]:
    """{chain id: {step key: final rating}} for the chains that have any (one query)."""
    out: dict[int, dict[int, int]] = defaultdict(dict)
    if not chain_ids:
        return {}
    wanted = set(chain_ids)
    # A range, not IN (every id): exports ask for batches of 1,000 chains in id order (review/selectors.py).
    for chain_id, key, rating in FinalLabel.objects.filter(chain_id__gte=min(wanted), chain_id__lte=max(wanted)).values_list(
            "chain_id", "step_key", "rating"):
        if chain_id in wanted:
            out[chain_id][key] = rating
    return dict(out)


def project_consensus_labels(*, project: Project) -> dict[int, dict[int, int]]:
    """{chain id: {step key: rating}} by the project's consensus rule when it is not majority vote (which the
    exporters apply themselves): Dawid–Skene over the submitted passes of the whole project. Reference labels
    are not votes: chains labelled only by imports get nothing here."""
    if policy_of(project=project).consensus != ConsensusMethod.DAWID_SKENE:
        return {}
    labels = project_step_labels(project=project)
    if not labels.n_labels:
        return {}
    result = dawid_skene(labels)
    ratings = np.asarray(result.categories)[result.labels]
    out: dict[int, dict[int, int]] = defaultdict(dict)
    for chain_id, key, rating in zip(result.unit_chain.tolist(), result.unit_step.tolist(), ratings.tolist(),
                                     strict=True):
        out[chain_id][key] = rating
    return dict(out)


# --- measures ---------------------------------------------------------------------------------------

def project_step_labels(*, project: Project, chains=None) -> StepLabels:
    """The ratings of submitted assignments as StepLabels (chain id, step key, annotator id). One query."""
    qs = StepLabel.objects.filter(assignment__chain__project=project, assignment__status=AssignmentStatus.SUBMITTED,
                                  rating__isnull=False)
    if chains is not None:
        qs = qs.filter(assignment__chain__in=chains)
    rows = list(qs.values_list("assignment__chain_id", "step_key", "assignment__annotator_id", "rating"))
    if not rows:
        return StepLabels.from_rows([], categories=categories_of(project))
    data = np.asarray(rows, dtype=np.int64)
    return StepLabels.from_arrays(chain=data[:, 0], step=data[:, 1], coder=data[:, 2], rating=data[:, 3],
                                  categories=categories_of(project))


def gold_scores(*, project: Project) -> dict[int, dict]:
    """Per annotator id: accuracy on gold chains' reference labels, recall of planted errors, and accuracy on
    the screening chains (the pass mark a researcher reads before giving real work).

    A gold or screening chain's answer key is its current reference label set (imported with it); a planted
    chain's is also the planted step, which must be rated the lowest rating. Only submitted assignments count.
    """
    keyed = {cid: (gold, screening, planted) for cid, gold, screening, planted in Chain.objects.filter(
        Q(is_gold=True) | Q(is_screening=True), project=project).values_list("id", "is_gold", "is_screening",
                                                                             "planted")}
    if not keyed:
        return {}
    lowest = min(categories_of(project))
    # The same answer keys and the same comparison as the claim's screening gate (annotation/selectors.py).
    reference = reference_keys(chain_ids=list(keyed))
    scores: dict[int, dict] = defaultdict(lambda: {
        "gold_steps": 0, "gold_correct": 0, "gold_chains": 0, "planted": 0, "planted_found": 0,
        "planted_missed_chains": [], "screening_steps": 0, "screening_correct": 0, "screening_chains": 0})
    for chain_id, chain_sets in submitted_sets(chain_ids=list(keyed)).items():
        key_ratings = reference.get(chain_id, {})
        is_gold, is_screening, planted = keyed[chain_id]
        for s in chain_sets:
            score = scores[s.annotator_id]
            ratings = s.ratings()
            compared, right = key_match(key_ratings, ratings)
            if is_gold:
                score["gold_chains"] += 1
                score["gold_steps"] += compared
                score["gold_correct"] += right
            if is_screening:
                score["screening_chains"] += 1
                score["screening_steps"] += compared
                score["screening_correct"] += right
            if is_gold and planted and "step_key" in planted:
                score["planted"] += 1
                if ratings.get(planted["step_key"]) == lowest:
                    score["planted_found"] += 1
                else:
                    score["planted_missed_chains"].append(chain_id)
    for score in scores.values():
        score["gold_accuracy"] = score["gold_correct"] / score["gold_steps"] if score["gold_steps"] else None
        score["planted_recall"] = score["planted_found"] / score["planted"] if score["planted"] else None
        score["screening_accuracy"] = (score["screening_correct"] / score["screening_steps"]
                                       if score["screening_steps"] else None)
    return dict(scores)


def _consensus_agreement(labels: StepLabels) -> dict[int, tuple[int, int]]:
    """Per annotator id: (labels on steps with ≥ 2 ratings, how many equal the step's majority)."""
    counts = labels.unit_counts()
    m = counts.sum(axis=1)
    top = counts.argmax(axis=1)  # first maximum: categories run lowest first, so a tie goes to the lower
    usable = m[labels.unit] >= 2
    agree = (labels.value == top[labels.unit]) & usable
    n = np.bincount(labels.coder, weights=usable, minlength=labels.n_coders)
    hits = np.bincount(labels.coder, weights=agree, minlength=labels.n_coders)
    return {int(c): (int(a), int(b)) for c, a, b in zip(labels.coder_ids, n, hits, strict=True)}


def _over_time(project: Project, labels: StepLabels) -> list[dict]:
    """Percent agreement and AC1 of the chains completed each day (by their last submission)."""
    last = dict(Assignment.objects.filter(chain__project=project, status=AssignmentStatus.SUBMITTED)
                .values_list("chain_id").annotate(t=Max("submitted_at")).values_list("chain_id", "t"))
    if not labels.n_labels:
        return []
    day_of_chain = np.array([str(last[int(c)].date()) if last.get(int(c)) else "" for c in labels.chain_ids])
    days = sorted(set(day_of_chain) - {""})[-60:]
    out = []
    from .quality import gwet_ac1, percent_agreement
    for day in days:
        subset = labels.select(day_of_chain[labels.chain] == day)
        ac1 = gwet_ac1(subset, resamples=0)
        pa = percent_agreement(subset, resamples=0)
        out.append({"day": day, "gwet_ac1": ac1.value, "percent_agreement": pa.value, "n_labels": subset.n_labels,
                    "n_chains": subset.n_chains})
    return out


def _fingerprint(project: Project) -> str:
    """Changes whenever a submission, reopen or final label could change the figures."""
    a = Assignment.objects.filter(chain__project=project, status=AssignmentStatus.SUBMITTED).aggregate(
        n=Count("id"), t=Max("submitted_at"), v=Sum("version"))
    f = FinalLabel.objects.filter(chain__project=project).aggregate(n=Count("id"), t=Max("set_at"))
    gold = Chain.objects.filter(Q(is_gold=True) | Q(is_screening=True), project=project).count()
    raw = f"{project.pk}|{a['n']}|{a['t']}|{a['v']}|{f['n']}|{f['t']}|{gold}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def project_quality(*, project: Project, resamples: int = DEFAULT_RESAMPLES, use_cache: bool = True) -> dict:
    """The dashboard's figures, as JSON: project measures with intervals, per annotator, per position, per day.

    Computed once per state of the project's submissions and final labels and kept in the cache, so the
    dashboard of a million-label project answers from a stored result until something changes.
    """
    fingerprint = _fingerprint(project)
    key = f"review:quality:{fingerprint}:{resamples}"
    if use_cache:
        found = cache.get(key)
        if found is not None:
            return found
    labels = project_step_labels(project=project)
    report = agreement_report(labels, resamples=resamples).to_dict()
    usernames = dict(Assignment.objects.filter(chain__project=project).values_list("annotator_id",
                                                                                   "annotator__username").distinct())
    work = {row["annotator_id"]: row for row in Assignment.objects.filter(
        chain__project=project, status=AssignmentStatus.SUBMITTED).values("annotator_id").annotate(
        submitted=Count("id"), active_seconds=Sum("active_seconds"))}
    per_annotator = {int(a.coder): a.to_dict() for a in annotator_agreement(labels, resamples=resamples)} \
        if labels.n_labels else {}
    consensus = _consensus_agreement(labels) if labels.n_labels else {}
    competence = dawid_skene(labels).annotator_accuracy() if labels.n_labels else {}
    gold = gold_scores(project=project)
    annotators = []
    for annotator_id in sorted(set(work) | set(per_annotator) | set(gold), key=lambda a: usernames.get(a, "")):
        n, hits = consensus.get(annotator_id, (0, 0))
        row = work.get(annotator_id, {})
        g = gold.get(annotator_id, {})
        annotators.append({
            "annotator": usernames.get(annotator_id, str(annotator_id)),
            "submitted": row.get("submitted", 0), "active_seconds": row.get("active_seconds", 0) or 0,
            "labels": per_annotator.get(annotator_id, {}).get("n_labels", 0),
            "agreement_with_consensus": hits / n if n else None, "consensus_labels": n,
            "pairwise_agreement": per_annotator.get(annotator_id, {}).get("agreement"),
            "kappa": per_annotator.get(annotator_id, {}).get("kappa"),
            "dawid_skene_accuracy": competence.get(annotator_id),
            "gold_accuracy": g.get("gold_accuracy"), "gold_steps": g.get("gold_steps", 0),
            "planted_recall": g.get("planted_recall"), "planted": g.get("planted", 0),
            "planted_found": g.get("planted_found", 0),
            "screening_accuracy": g.get("screening_accuracy"), "screening_chains": g.get("screening_chains", 0),
        })
    result = {
        "project": project.slug,
        **report,
        "annotators": annotators,
        "by_position": [p.to_dict() for p in position_agreement(labels, resamples=resamples)] if labels.n_labels
        else [],
        "over_time": _over_time(project, labels),
        "queue": review_queue_counts(project=project),
        "reference_labels_excluded": True,
        "computed_at": datetime.datetime.now(tz=datetime.UTC).isoformat(),
    }
    cache.set(key, result, timeout=24 * 3600)
    cache.set(_latest_key(project, resamples), {"fingerprint": fingerprint, "result": result}, timeout=30 * 24 * 3600)
    return result


def _latest_key(project: Project, resamples: int) -> str:
    return f"review:quality:latest:{project.pk}:{resamples}"


def project_quality_latest(*, project: Project, resamples: int = DEFAULT_RESAMPLES) -> tuple[dict | None, bool]:
    """The figures computed last for the project (None if never) and whether they are still current.

    The dashboard shows these at once and has them recomputed in the background when they are not:
    at a million labels a computation takes seconds, the page must answer in milliseconds.
    """
    latest = cache.get(_latest_key(project, resamples))
    if latest is None:
        return None, False
    return latest["result"], latest["fingerprint"] == _fingerprint(project)


def screening_results(*, project: Project) -> dict:
    """The screening gate as the researcher sees it: the pass mark and, per annotator, where they stand
    (status, the score the gate read, screening chains done of how many, accuracy on them now). Four queries."""
    from annotation.models import Membership

    screening = list(Chain.objects.filter(project=project, is_screening=True).values_list("id", flat=True))
    if not screening:
        return {"pass_mark": project.screening_pass_mark, "screening_chains": 0, "annotators": []}
    done = dict(Assignment.objects.filter(chain_id__in=screening).values_list("annotator_id").annotate(n=Count("id"))
                .values_list("annotator_id", "n"))
    scores = gold_scores(project=project)
    members = Membership.objects.filter(project=project, role=Role.ANNOTATOR).select_related("user").order_by(
        "user__username")
    return {"pass_mark": project.screening_pass_mark, "screening_chains": len(screening),
            "annotators": [{"annotator": m.user.username, "status": m.screening_status or "pending",
                            "score": m.screening_score, "done": done.get(m.user_id, 0),
                            "accuracy": scores.get(m.user_id, {}).get("screening_accuracy"),
                            "steps": scores.get(m.user_id, {}).get("screening_steps", 0)} for m in members]}
