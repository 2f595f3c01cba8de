"""Judge each equality of a step: mismatch, verified or abstain, with the values and the reason.

Precision comes first: a *mismatch* is reported only when both sides have trustworthy values that
differ beyond any reading of rounding, percentages or units, and the text around the equality does not
change what it means. Each finding carries a `rule`:

mismatch: `exact` (`17 × 4 = 58`), `approximate` (`≈` off by more than 10 %), `no-solution` (LaTeX
sides that differ by a nonzero constant for every value of the variables: `(x+1)^2 = x^2 + 2x + 2`).

verified: `exact`, `restated` (`58 = 58`), `percent` (`10/50 × 100 = 20%`), `rounded` (`1/3 = 0.33`),
`approximate` (`1234 ≈ 1200`), `identity` (`2(3x-7) = 6x - 14`, equal at three large sample points).

abstain, and why it is not a mismatch:

| rule | when | why |
| --- | --- | --- |
| `assignment` | `x = \\frac{14}{2}`: a lone variable on one side | the value given to an unknown is not checkable here |
| `equation` | `5x = 2(3x-7)`: sides differ as functions | a statement to solve, not an identity |
| `bare-numbers` | `1 hour = 60`, `Step 1 = 5`: two lone numbers that differ | unit conversions and labels |
| `label` | `5 pairs = 5 * 2`: a quantity with its unit, then computed | the left side names, it does not claim |
| `rounded-integer` | `150/7 = 21`: a whole number within one of the value | rounding up or down to whole items |
| `last-digit` | `1/3 = 0.34`: one unit off in the last decimal place | a rounding slip at worst |
| `rounded-inputs` | `0.33 × 3 = 0.98` in a step that speaks of approximation | rounding carried from the inputs |
| `approximate` | `≈` within 10 % | approximations |
| `mixed-units` | `2 hours + 30 minutes = 150`: one sum, two units of one kind | converted in the writer's head |
| `unit-conversion` | `30 + 30 = 1 hour`: sides a conversion factor apart | unit change |
| `percent-additive` | `100 + 20% = 120` | "+ 20%" usually means "increased by 20 %" |
| `boundary` | text before or after changes the meaning (`half of 10 + 4`, `= 7 remainder 2`) | truncated sides |
| `disputed` | the text questions or rejects it (`Wait, 3 + 4 = 8?`, `... is wrong`) | the chain flags it itself |
| `not-evaluable` | too large, division by zero, complex, unsupported functions | no value |

Verified is per equality only: a step is never "correct" because its equalities check out
(`step_outcome` answers "mismatch" or "abstain").

Rounding rule: when one side is a lone literal with d decimals and the exact value of the other needs
more than d decimals, the literal may be that value rounded (either way at a tie) or truncated to d
decimals: `1/3 = 0.33`, `2/3 = 0.67`, `2/3 = 0.66` are verified (rule `rounded`). A value that is
exact at d decimals must match exactly: `1.25 × 4 = 5.01` is a mismatch.

Percent rule: `%` divides by 100 (`20% of 50 = 10`); when exactly one side is a lone percentage and
the other has none, the other may equal it as a fraction or as a number: `10/50 = 20%` and
`10/50 × 100 = 20%` are both verified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from . import units
from .chains import Chain, chains
from .display import approx_suffix, eq_text, fmt, show
from .lexer import may_relate, tokenize
from .parser import Member
from .tokens import Tok
from .values import (
    Irrational,
    NotEvaluable,
    Number,
    approximate,
    evaluate,
    interval,
    sample_coordinates,
    samples,
    symbols,
)

MISMATCH, VERIFIED, ABSTAIN = "mismatch", "verified", "abstain"
OUTCOMES = (MISMATCH, VERIFIED, ABSTAIN)
MAX_FINDINGS = 500  # per step: a 50,000-character step of "1+1=2" stops here

# The text rejects or questions this very equality: a question mark or "is wrong" right after it,
# "wrong", "mistakenly", "wait" shortly before it, "not" or "if" just before it. Wider cues ("not prime" in the
# same sentence) are about something else and would hide real slips.
_DISPUTE_AFTER = re.compile(
    r"^[\s\\)\]$]*\?|^\W{0,8}(?:which\s+)?(?:is|was|would\s+be)?\s*(?:a\s+|an\s+)?(?:wrong|incorrect|false|"
    r"not\s+(?:true|right|correct)|mistake|error|typo)\b|^\W{0,8}(?:a\s+|which\s+is\s+)?(?:contradict\w*|"
    r"impossible|absurd)",
    re.I,
)
_DISPUTE_BEFORE = re.compile(
    r"\b(?:wrong(?:ly)?|incorrect(?:ly)?|mistaken(?:ly)?|erroneous(?:ly)?|mistake|error|typo|wait|oops|hmm+|"
    r"claim(?:s|ed)?|suppose|assume)\b[^.?!\n]{0,40}$",
    re.I,
)
_NOT_BEFORE = re.compile(r"\b(?:not|isn'?t|never|if)\W{0,6}$", re.I)  # "not 3 + 4 = 8", "If 2 + 2 = 5 ..."
_REL_SIGN = {"=": "=", "~": "≈"}
_APPROX_CUE = re.compile(r"≈|\\approx|approx|round|about|roughly|nearly|estimat|\.\.\.|…|\\[lc]?dots|~", re.I)


@dataclass(frozen=True)
class Finding:
    """One equality of a step and what the checker made of it.

    `expression` is `text[start:end]` exactly, its right side `text[rhs_start:end]`;
    `lhs_value`/`rhs_value` are the evaluated sides
    ("68", "10/3", "≈ 1.414213562", "5*x") or None when a side could not be evaluated; `rule` is a
    short machine-readable reason (see the module docstring).
    """

    expression: str
    start: int
    end: int
    outcome: str
    lhs_value: str | None
    rhs_value: str | None
    detail: str
    rule: str
    relation: str = "="
    rhs_start: int = -1  # where the right side begins: text[rhs_start:end] is it


def step_outcome(findings: list[Finding]) -> str:
    """A step's summary: "mismatch" if any equality is a confident mismatch, else "abstain".

    Never "correct": checked equalities say nothing about the reasoning around them.
    """
    return MISMATCH if any(f.outcome == MISMATCH for f in findings) else ABSTAIN


def check_steps(texts: list[str]) -> list[list[Finding]]:
    """`check_step` for each text of a batch, in order."""
    return [check_step(text) for text in texts]


def check_step(text: str) -> list[Finding]:
    """Every equality (`=`, `≈`) found in a step's prose and LaTeX, judged pair by pair in a chain."""
    if not text or not may_relate(text):
        return []
    toks = tokenize(text, windows=True)
    findings: list[Finding] = []
    for chain in chains(toks, text):
        values: dict[int, _Value] = {}
        for k in range(len(chain.members) - 1):
            findings.append(_judge(text, toks, chain, k, values))
            if len(findings) >= MAX_FINDINGS:
                return findings
    return findings


# -- values ----------------------------------------------------------------------------------------


class _Value:
    __slots__ = ("q", "exact", "names", "reason", "sampled")

    def __init__(self) -> None:
        self.q: Fraction | None = None  # numeric value (exact, or a 50-digit approximation)
        self.exact = True
        self.names: list[str] = []  # variables, sorted
        self.reason: str | None = None  # why there is no value
        self.sampled: dict[tuple[str, ...], list[Number] | None] = {}  # by the variables sampled


def _value(member: Member) -> _Value:
    out = _Value()
    node = member.node
    names = symbols(node)
    if names:  # no exact value to try: straight to sampling
        out.names = sorted(names)
        return out
    try:
        out.q = evaluate(node)
        return out
    except ZeroDivisionError:
        out.reason = "division by zero"
        return out
    except Irrational:
        try:
            out.q, out.exact = approximate(node)
        except ZeroDivisionError:
            out.reason = "division by zero"
        except NotEvaluable as exc:
            out.reason = str(exc)
        except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:  # sympy's own limits
            out.reason = f"sympy could not evaluate it ({type(exc).__name__})"
        return out
    except NotEvaluable as exc:
        out.reason = str(exc)
        return out
    return out


def _sample(member: Member, names: list[str], value: _Value) -> list[Number] | None:
    key = tuple(names)
    if key in value.sampled:  # a middle member of a chain is sampled for both its pairs
        return value.sampled[key]
    points: list[Number] | None = None
    try:
        points = samples(member.node, names)
    except ZeroDivisionError:
        value.reason = "division by zero at a sample point"
    except NotEvaluable as exc:
        value.reason = str(exc)
    value.sampled[key] = points
    return points


# -- judging ---------------------------------------------------------------------------------------


def _finding(text, start, end, outcome, lhs, rhs, detail, rule, rel, rhs_start) -> Finding:  # noqa: ANN001
    return Finding(text[start:end], start, end, outcome, lhs, rhs, detail, rule, _REL_SIGN.get(rel, rel), rhs_start)


def _judge(text: str, toks: list[Tok], chain: Chain, k: int, cache: dict[int, _Value]) -> Finding:
    left, right = chain.members[k], chain.members[k + 1]
    rel = chain.rels[k]
    start, end = toks[left.i0].start, toks[right.last].end
    left_ok = chain.left_clean or k > 0
    right_ok = chain.right_clean or k < len(chain.rels) - 1
    lv = cache.get(id(left)) or cache.setdefault(id(left), _value(left))
    rv = cache.get(id(right)) or cache.setdefault(id(right), _value(right))

    def out(outcome: str, detail: str, rule: str, lhs: str | None = None, rhs: str | None = None) -> Finding:
        return _finding(text, start, end, outcome, lhs, rhs, detail, rule, rel, toks[right.i0].start)

    for side, value in (("left", lv), ("right", rv)):
        if value.reason is not None:
            return out(ABSTAIN, f"The {side} side cannot be evaluated: {value.reason}.", "not-evaluable")
    if lv.names or rv.names:
        return _judge_symbolic(text, toks, chain, k, left, right, lv, rv, out, left_ok and right_ok)
    assert lv.q is not None and rv.q is not None
    return _judge_numeric(text, start, end, left, right, lv, rv, rel, left_ok, right_ok, out)


def _equal(a: Fraction, b: Fraction, exact: bool) -> bool:
    if exact:
        return a == b
    return abs(a - b) <= Fraction(1, 10**40) * max(1, abs(a), abs(b))


def _pct_shape(member: Member) -> tuple[bool, bool]:
    """(has a percent anywhere, is a lone percentage)."""
    node = member.node
    has = member.has_pct
    if not has:
        return False, False
    while node[0] in ("neg", "g"):
        node = node[1]
    return has, node[0] == "%" and member.bare


def _contains(node: tuple, kind: str) -> bool:
    if node[0] == kind:
        return True
    if node[0] in ("+", "*"):
        return any(_contains(child, kind) for _, child in node[1])
    return any(isinstance(child, tuple) and _contains(child, kind) for child in node[1:])


def _literals(node: tuple, out: list[tuple]) -> list[tuple]:
    if node[0] == "n":
        out.append(node)
    elif node[0] in ("+", "*"):
        for _, child in node[1]:
            _literals(child, out)
    else:
        for child in node[1:]:
            if isinstance(child, tuple):
                _literals(child, out)
    return out


def _term_units(member: Member) -> tuple[set[str], set[str]]:
    """(unit labels of the additive terms, all unit labels) of a side."""
    node = member.node
    while node[0] == "g":
        node = node[1]
    terms = node[1] if node[0] == "+" else [(1, node)]
    term_labels = set()
    for _, term in terms:
        labels = [member.units[lit[3]] for lit in _literals(term, []) if lit[3] in member.units]
        if labels:
            term_labels.add(labels[-1])
    return term_labels, set(member.units.values())


def _percent_in_sum(member: Member) -> bool:
    if not member.has_pct:
        return False
    node = member.node
    while node[0] == "g":
        node = node[1]
    if node[0] != "+":
        return False
    flags = [_contains(term, "%") for _, term in node[1]]
    return any(flags) and not all(flags)


def _rounding(v: Fraction, c: Fraction, d: int) -> str | None:
    """How a stated literal c with d decimals relates to an exact value v that needs more decimals.

    "rounded": c is v rounded to d decimals (a tie either way) or truncated; "near": c is within one
    unit of the last place; None otherwise, or when v is exact at d decimals (then c must equal it).
    """
    scale = 10**d
    scaled = v * scale
    if scaled.denominator == 1:
        return None
    low = Fraction(scaled.numerator // scaled.denominator, scale)
    high = low + Fraction(1, scale)
    if c != low and c != high:
        return None
    if abs(v - c) * 2 * scale <= 1 or c == (low if v > 0 else high):
        return "rounded"
    return "near"


def _stated(member: Member, other_has_pct: bool) -> list[tuple[Number, int]]:
    """(value, decimals) readings of a side that is a lone literal: the number the text claims.

    A lone percentage read against a side without one is both p/100 (with two more decimals) and p.
    """
    if not member.bare:
        return []
    lit = _literals(member.node, [])
    if len(lit) != 1 or lit[0][2] < 0:
        return []
    value, decimals = _sign_of(member.node) * lit[0][1], lit[0][2]
    if not member.has_pct:
        return [(value, decimals)]
    readings = [(Fraction(value, 100), decimals + 2)]
    if not other_has_pct:
        readings.append((value, decimals))
    return readings


def _sign_of(node: tuple) -> int:
    sign = 1
    while node[0] in ("neg", "%", "g"):
        if node[0] == "neg":
            sign = -sign
        node = node[1]
    return sign


def _within_places(value: Number, stated: Number, decimals: int) -> bool:
    """Is `stated` `value` to the places it shows? 0.33 for 1/3; 1200 for 1234 (trailing zeros of an
    integer are places it does not show)."""
    places = 0
    if decimals == 0 and stated != 0:
        n = abs(stated.numerator)
        while n % 10 == 0:
            n //= 10
            places += 1
    tolerance = Fraction(1, 2 * 10**decimals) if decimals > 0 else Fraction(10**places, 2)
    return abs(value - stated) <= tolerance


def _approximates(stated_side: Member, a: Number, b: Number) -> bool:
    readings = _stated(stated_side, False)
    return bool(readings) and _within_places(a, readings[0][0], readings[0][1])


def _context_disputes(text: str, start: int, end: int) -> bool:
    """Does the text question or reject this very equality ("Wait, 3 + 4 = 8?", "... is wrong")?"""
    after = text[end : end + 60]
    before = text[max(0, start - 60) : start]
    return bool(_DISPUTE_AFTER.search(after) or _DISPUTE_BEFORE.search(before) or _NOT_BEFORE.search(before))


def _judge_numeric(text, start, end, left, right, lv, rv, rel, left_ok, right_ok, out) -> Finding:  # noqa: ANN001, C901
    a, b = lv.q, rv.q
    exact = lv.exact and rv.exact
    l_has, l_lone = _pct_shape(left)
    r_has, r_lone = _pct_shape(right)
    # A lone percentage shows as written: "70%", not 0.7.
    lhs_s = fmt(a * 100, lv.exact) + "%" if l_lone else fmt(a, lv.exact)
    rhs_s = fmt(b * 100, rv.exact) + "%" if r_lone else fmt(b, rv.exact)
    left_shown = show(left.node)
    shown = eq_text(left_shown, lhs_s)
    sign = _REL_SIGN[rel]

    if _equal(a, b, exact):
        if left.bare and right.bare:
            return out(VERIFIED, f"{lhs_s} restated.", "restated", lhs_s, rhs_s)
        if right.bare:
            detail = f"{left_shown} {sign} {rhs_s}"
        elif left.bare:
            detail = f"{left_shown} {sign} {show(right.node)}"
        else:
            detail = f"{left_shown} {sign} {show(right.node)}, both {lhs_s.removeprefix('≈ ')}"
        if not exact:
            detail += " (equal to 40 significant digits)"
        return out(VERIFIED, detail + approx_suffix(a), "exact", lhs_s, rhs_s)
    if left.bare and right.bare and not (rel == "~" and _approximates(right, a, b)):
        return out(
            ABSTAIN, f"Two lone numbers ({lhs_s} and {rhs_s}): a unit conversion or a label, not a calculation.",
            "bare-numbers", lhs_s, rhs_s,
        )
    if left.bare and left.labelled and not right.bare:
        # "5 pairs = 5 * 2 = 10", "Total oranges in 8 boxes = 8 * 20": a quantity named, then computed.
        return out(
            ABSTAIN, f"{lhs_s} with its unit names a quantity that the right side computes ({show(right.node)}).",
            "label", lhs_s, rhs_s,
        )
    # Percentages read both ways when only one side has one.
    if r_lone and not l_has and _equal(a, b * 100, exact):
        return out(VERIFIED, f"{shown} = {rhs_s}", "percent", lhs_s, rhs_s)
    if l_lone and not r_has and _equal(a * 100, b, exact):
        return out(VERIFIED, f"{lhs_s} = {eq_text(show(right.node), rhs_s)}", "percent", lhs_s, rhs_s)

    # Rounding of a stated literal.
    stated_side = right if right.bare else (left if left.bare else None)
    if stated_side is not None:
        other = a if stated_side is right else b
        other_pct = l_has if stated_side is right else r_has
        for c, d in _stated(stated_side, other_pct):
            how = _rounding(other, c, d)
            if how == "rounded" and (d > 0 or rel == "~"):
                return out(VERIFIED, f"{shown}{approx_suffix(a)}, which rounds to {fmt(c)}", "rounded", lhs_s, rhs_s)
            if how is not None and d == 0 and rel == "=":
                return out(
                    ABSTAIN, f"{shown}{approx_suffix(a)}; {fmt(c)} is it rounded to a whole number, or a slip.",
                    "rounded-integer", lhs_s, rhs_s,
                )
            if how == "near" and d > 0:
                return out(
                    ABSTAIN, f"{shown}; {fmt(c)} is off by one in its last decimal place.", "last-digit", lhs_s, rhs_s
                )
            if rel == "~" and _within_places(other, c, d):
                return out(VERIFIED, f"{shown}{approx_suffix(a)} ≈ {fmt(c)}", "approximate", lhs_s, rhs_s)

    term_l, units_l = _term_units(left)
    term_r, units_r = _term_units(right)
    if units.mixed(term_l) or units.mixed(term_r):
        return out(
            ABSTAIN, f"{shown}, but its terms are in different units ({', '.join(sorted(term_l | term_r))}).",
            "mixed-units", lhs_s, rhs_s,
        )
    if _percent_in_sum(left) or _percent_in_sum(right):
        return out(
            ABSTAIN, f"{shown}; a percentage added to a plain number usually means a relative change.",
            "percent-additive", lhs_s, rhs_s,
        )
    if rel == "~":
        scale = max(abs(a), abs(b))
        if scale == 0 or abs(a - b) * 10 <= scale:
            return out(ABSTAIN, f"{shown}, approximately {rhs_s} (within 10 %).", "approximate", lhs_s, rhs_s)
    # In a step that speaks of approximations, inputs with two or more decimals may be rounded and
    # carry their rounding into the result ("1/3 ≈ 0.33, so 0.33 × 3 = 0.99..."). Not elsewhere:
    # "$2.50 × 2 = $5.01" is a slip, not rounding.
    rounded = frozenset(
        lit[3] for side in (left, right) for lit in _literals(side.node, []) if lit[2] >= 2 or (side.bare and lit[2] > 0)
    )
    if rounded and _APPROX_CUE.search(text):
        try:
            lo_l, hi_l = interval(left.node, rounded)
            lo_r, hi_r = interval(right.node, rounded)
            if lo_l <= hi_r and lo_r <= hi_l:
                return out(
                    ABSTAIN, f"{shown}, not {rhs_s}, but the difference is within the rounding of its inputs.",
                    "rounded-inputs", lhs_s, rhs_s,
                )
        except (NotEvaluable, ZeroDivisionError):
            pass
    if (units_l or units_r) and a != 0 and b != 0:
        kind = units.conversion(units_l, units_r, abs(Fraction(a) / b))
        if kind is not None:
            return out(
                ABSTAIN,
                f"{shown} against {rhs_s}: the sides differ by a {kind} conversion factor "
                f"({', '.join(sorted(units_l)) or 'no unit'} vs {', '.join(sorted(units_r)) or 'no unit'}).",
                "unit-conversion", lhs_s, rhs_s,
            )
    if not left_ok or not right_ok:
        where = "before" if not left_ok else "after"
        return out(
            ABSTAIN, f"{shown}, not {rhs_s}, but the text {where} it may change what it means.", "boundary", lhs_s, rhs_s
        )
    if _context_disputes(text, start, end):
        return out(ABSTAIN, f"{shown}, not {rhs_s}; the sentence itself questions it.", "disputed", lhs_s, rhs_s)
    if rel == "~":
        return out(MISMATCH, f"{shown}, not approximately {rhs_s}.", "approximate", lhs_s, rhs_s)
    rhs_claim = rhs_s if right.bare else eq_text(show(right.node), rhs_s)
    return out(MISMATCH, f"{shown}, not {rhs_claim}.", "exact", lhs_s, rhs_s)


def _judge_symbolic(text, toks, chain, k, left, right, lv, rv, out, clean) -> Finding:  # noqa: ANN001
    names = sorted(set(lv.names) | set(rv.names))
    # Symbolic sides are reported as written; show() is kept for the few details that need it.
    lhs_form = text[toks[left.i0].start : toks[left.last].end]
    rhs_form = text[toks[right.i0].start : toks[right.last].end]
    for member in (left, right):
        node = member.node
        while node[0] == "g":
            node = node[1]
        if node[0] == "s" and not (lv.names and rv.names):
            other = rv if member is left else lv
            shown = "" if other.q is None else f" = {fmt(other.q, other.exact)}"
            return out(
                ABSTAIN,
                f"{node[1]} is an unknown: the value given to it{shown} is not checked here.",
                "assignment",
                lhs_form if member is left else (fmt(lv.q, lv.exact) if lv.q is not None else lhs_form),
                rhs_form if member is right else (fmt(rv.q, rv.exact) if rv.q is not None else rhs_form),
            )
    left_points = _sample(left, names, lv) if lv.names else [lv.q] * 3
    right_points = _sample(right, names, rv) if rv.names else [rv.q] * 3
    if left_points is None or right_points is None or None in left_points or None in right_points:
        reason = lv.reason or rv.reason or "not a rational function"
        return out(ABSTAIN, f"Not checked: {reason}.", "not-evaluable", lhs_form, rhs_form)
    if any(not v.exact for v in (lv, rv)):
        return out(ABSTAIN, "Not checked: a radical next to variables.", "not-evaluable", lhs_form, rhs_form)
    diffs = [x - y for x, y in zip(left_points, right_points, strict=True)]
    variables = ", ".join(names)
    if all(d == 0 for d in diffs):
        return out(
            VERIFIED, f"{show(left.node)} = {show(right.node)} for every {variables} (an identity).", "identity",
            lhs_form, rhs_form,
        )
    start, end = toks[left.i0].start, toks[right.last].end
    if (
        len(set(diffs)) == 1
        and clean
        and toks[left.i0].math
        and not _context_disputes(text, start, end)
    ):
        return out(
            MISMATCH,
            f"No value of {variables} makes {show(left.node)} equal {show(right.node)}: "
            f"they always differ by {fmt(diffs[0])}.",
            "no-solution",
            lhs_form,
            rhs_form,
        )
    detail = f"An equation in {variables}, not an identity: it is not checked."
    if len(names) == 1:
        # Linear in its variable when the three differences are collinear (cross-multiplied: no
        # division until it is); then it holds at one point only.
        xs = sample_coordinates(0)
        rise, run = diffs[1] - diffs[0], xs[1] - xs[0]
        if rise != 0 and (diffs[2] - diffs[0]) * run == rise * (xs[2] - xs[0]):
            root = xs[0] - Fraction(diffs[0]) * run / rise
            detail = f"An equation in {names[0]}, not an identity: it holds only for {names[0]} = {fmt(root)}."
    return out(ABSTAIN, detail, "equation", lhs_form, rhs_form)
