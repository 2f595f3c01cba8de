"""Should a chain go to a reviewer, and why. Pure: no Django.

One chain's submitted label sets in, the reasons out:
- `step_disagreement`: some step got two different ratings;
- `first_error_disagreement`: annotators put the first −1 at different steps (or one found none);
- `low_alpha`: the chain's Krippendorff α (ordinal) is below the threshold;
  (the project's rule picks which of these three routes a chain; the flags below always route it)
- `outcome_process_mismatch`: the final answer is right but a step was rated −1 (ProcessBench found
  process errors in up to half of Omni-MATH's right answers; also a sign of reward hacking);
- `fast_annotation`: an annotator spent less than the floor per rated step;
- `far_from_consensus`: with ≥ 3 annotators, one disagrees with every other annotator on at least
  half of the steps it rated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..reasons import FLAG_REASONS, REASON_TEXT, RULE_REASONS  # noqa: F401 (re-exported)
from .labels import RATINGS


@dataclass(frozen=True)
class LabelSetInput:
    coder: object
    ratings: dict[int, int]  # step index -> rating (rated steps only)
    active_seconds: int = 0


@dataclass
class Triage:
    reasons: list[str] = field(default_factory=list)
    contested: list[int] = field(default_factory=list)  # step indexes with more than one rating
    first_errors: dict[str, int] = field(default_factory=dict)  # coder -> first −1 index, or −1
    alpha: float | None = None
    fast: list[str] = field(default_factory=list)
    far: list[str] = field(default_factory=list)

    def detail(self) -> dict:
        return {"contested": self.contested, "first_errors": self.first_errors, "alpha": self.alpha,
                "fast": self.fast, "far": self.far}


def chain_alpha(by_step: dict[int, Counter], categories: Sequence[int]) -> float | None:
    """Krippendorff's α (ordinal) of one chain from its per-step rating counts, in plain Python.

    The same statistic as `agreement.krippendorff_alpha` (tested equal), without building arrays: the
    queue judges chains one by one, where numpy's per-call overhead would dominate. None when undefined.
    """
    values = sorted(categories)
    index = {v: i for i, v in enumerate(values)}
    k = len(values)
    o = [[0.0] * k for _ in range(k)]
    for votes in by_step.values():
        m = sum(votes.values())
        if m < 2:
            continue
        for a, na in votes.items():
            for b, nb in votes.items():
                o[index[a]][index[b]] += (na * nb - (na if a == b else 0)) / (m - 1)
    n_v = [sum(row) for row in o]
    n = sum(n_v)
    if n <= 1:
        return None
    cum = [0.0]
    for x in n_v:
        cum.append(cum[-1] + x)

    def delta(c: int, d: int) -> float:
        lo, hi = min(c, d), max(c, d)
        return (cum[hi + 1] - cum[lo] - (n_v[lo] + n_v[hi]) / 2) ** 2

    observed = sum(o[c][d] * delta(c, d) for c in range(k) for d in range(k))
    expected = sum(n_v[c] * n_v[d] * delta(c, d) for c in range(k) for d in range(k))
    if expected <= 0:
        return None
    return 1 - (n - 1) * observed / expected


def first_error_of(ratings: dict[int, int], lowest: int = -1) -> int:
    return min((i for i, r in ratings.items() if r == lowest), default=-1)


def majority_agrees(votes: Counter, quorum: int) -> bool:
    """Whether one value has a strict majority of the votes and at least `quorum` of them."""
    if not votes:
        return True
    top = max(votes.values())
    return top >= quorum and top * 2 > sum(votes.values())


def triage_chain(sets: Sequence[LabelSetInput], *, rule: str, alpha_threshold: float = 0.67,
                 answer_correct: bool | None = None, fast_seconds_per_step: float = 0.0,
                 categories: Sequence[int] = RATINGS, quorum: int | None = None) -> Triage:
    """The reasons a chain with these label sets goes to review (none: it does not).

    `quorum` (escalation, past the first passes): the any_step and first_error rules then ask for a strict
    majority of at least `quorum` passes instead of unanimity, as ProcessBench kept a sample once enough of
    its added experts agreed: on every step's rating (any_step), on the first-error index (first_error).
    Without it, one differing pass is a disagreement.
    """
    if rule not in RULE_REASONS:
        raise ValueError(f"rule must be one of {', '.join(RULE_REASONS)}; got {rule!r}")
    out = Triage()
    lowest = min(categories)
    by_step: dict[int, Counter] = {}
    for s in sets:
        for step, rating in s.ratings.items():
            by_step.setdefault(step, Counter())[rating] += 1
    out.contested = sorted(step for step, votes in by_step.items() if len(votes) > 1)
    out.first_errors = {str(s.coder): first_error_of(s.ratings, lowest) for s in sets}
    if len(sets) >= 2:
        out.alpha = chain_alpha(by_step, categories)
    if quorum is None:
        step_apart = bool(out.contested)
        first_apart = len(set(out.first_errors.values())) > 1
    else:
        step_apart = not all(majority_agrees(by_step[step], quorum) for step in out.contested)
        first_apart = not majority_agrees(Counter(out.first_errors.values()), quorum)
    found = {
        "step_disagreement": step_apart,
        "first_error_disagreement": first_apart,
        # α is undefined (None) when every label is the same value: perfect agreement, not low.
        "low_alpha": out.alpha is not None and out.alpha < alpha_threshold,
    }
    if found[RULE_REASONS[rule]]:
        out.reasons.append(RULE_REASONS[rule])
    if answer_correct and any(lowest in s.ratings.values() for s in sets):
        out.reasons.append("outcome_process_mismatch")
    if fast_seconds_per_step > 0:
        out.fast = [str(s.coder) for s in sets
                    if s.ratings and s.active_seconds < fast_seconds_per_step * len(s.ratings)]
        if out.fast:
            out.reasons.append("fast_annotation")
    if len(sets) >= 3:
        for s in sets:
            others = [o for o in sets if o is not s]
            shared = [step for step in s.ratings if any(step in o.ratings for o in others)]
            apart = sum(1 for step in shared
                        if all(o.ratings.get(step, s.ratings[step]) != s.ratings[step] for o in others
                               if step in o.ratings))
            if shared and apart * 2 >= len(shared) and apart > 0:
                out.far.append(str(s.coder))
        # With everyone far from everyone, nobody is the outlier.
        if out.far and len(out.far) < len(sets):
            out.reasons.append("far_from_consensus")
        else:
            out.far = []
    return out


def majority(votes: Sequence[int]) -> int | None:
    """The most common rating; a tie goes to the lower (more cautious) rating, as exports' consensus."""
    counts = Counter(votes)
    if not counts:
        return None
    best = max(counts.values())
    return min(r for r, n in counts.items() if n == best)
