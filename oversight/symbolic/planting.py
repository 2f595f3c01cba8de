"""Planted slips: take an equality the checker verified and alter one number, as a careless solver would.

Used to build evaluation sets with known errors (bench/symbolic.py) and, later, gold chains with a
planted error. Pure and deterministic given the `random.Random` passed in.

Arithmetic slips alter the *result* of a verified numeric equality (`17 × 4 = 68` → `17 × 4 = 58`),
so the altered equality is false by construction: its left side is unchanged and was equal to the old
result. (Altering an operand instead can leave it true, as in `0 × 5 = 0`.) The alteration is one of:
- `digit`: one digit replaced by another (never a leading zero);
- `off-by-one`: one unit more or less in the last place (68 → 67, 2.50 → 2.51);
- `transposition`: two adjacent different digits swapped (68 → 86);
- `carry`: ten more or less, a dropped or doubled carry (68 → 78).
Algebra slips alter one integer of the right side of a verified identity
(`(x + 2)(x + 3) = x^2 + 5x + 6` → `... + 5x + 7`); whether that broke the identity is for the caller
to check (it nearly always does).

The literal is rewritten in the same layout (thousands separators, decimals), so the step still reads
naturally and only the value changes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from .checker import VERIFIED, Finding

ARITHMETIC_KINDS = ("digit", "off-by-one", "transposition", "carry")
# A right side that is one literal: optional currency sign, the number, optional percent.
_RESULT = re.compile(r"^(?:\\?\$|€|£)?\s*(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(\\?%)?$")
_INTEGER = re.compile(r"(?<![\w.^_{])\d+(?![\w.}])")


@dataclass(frozen=True)
class Plant:
    """A step with one planted slip: the new text and where the altered number now sits."""

    text: str
    start: int  # span of the altered literal in `text`
    end: int
    original: str  # the literal before and after
    replacement: str
    kind: str  # digit | off-by-one | transposition | carry | algebra
    expression: str  # the equality as it read before the slip


def arithmetic_candidates(findings: list[Finding]) -> list[Finding]:
    """Verified exact numeric equalities whose result is a lone literal at the end: the slips' sites."""
    out = []
    for f in findings:
        if f.outcome != VERIFIED or f.rule != "exact" or f.relation != "=":
            continue
        if f.lhs_value is None or f.lhs_value.startswith("≈"):
            continue
        if f.rhs_start < 0 or _RESULT.match(f.expression[f.rhs_start - f.start :]) is None:
            continue
        out.append(f)
    return out


def algebra_candidates(findings: list[Finding]) -> list[Finding]:
    """Verified identities with an integer on the right side that can be altered."""
    out = []
    for f in findings:
        if f.outcome == VERIFIED and f.rule == "identity":
            right = f.expression[f.expression.rfind("=") + 1 :]
            if _INTEGER.search(right):
                out.append(f)
    return out


def _alter(literal: str, kind: str, rng: random.Random) -> str | None:
    """The literal with one slip of `kind`, in the same layout; None if that slip does not apply."""
    integer, _, decimals = literal.partition(".")
    digits = (integer + decimals).replace(",", "")
    places = len(decimals)
    if kind == "digit":
        index = rng.randrange(len(digits))
        choices = [d for d in "0123456789" if d != digits[index] and not (index == 0 and d == "0" and len(digits) > 1)]
        new_digits = digits[:index] + rng.choice(choices) + digits[index + 1 :]
    elif kind == "transposition":
        pairs = [i for i in range(len(digits) - 1) if digits[i] != digits[i + 1] and not (i == 0 and digits[1] == "0")]
        if not pairs:
            return None
        i = rng.choice(pairs)
        new_digits = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
    elif kind in ("off-by-one", "carry"):
        step = 1 if kind == "off-by-one" else 10
        value = int(digits) + rng.choice((-step, step))
        if value < 0 or (kind == "carry" and int(digits) < 10):
            value = int(digits) + step
        new_digits = str(value).rjust(places + 1, "0")
    else:
        raise ValueError(f"unknown slip {kind!r}; expected one of {', '.join(ARITHMETIC_KINDS)}")
    if new_digits == digits:
        return None
    whole = new_digits[: len(new_digits) - places] if places else new_digits
    frac = new_digits[len(new_digits) - places :] if places else ""
    if "," in integer:
        whole = f"{int(whole):,}"
    return whole + ("." + frac if places else "")


def plant_arithmetic(text: str, finding: Finding, rng: random.Random) -> Plant | None:
    """`text` with the result of `finding` (a verified equality in it) altered by one slip."""
    expression = finding.expression
    offset = finding.rhs_start - finding.start
    match = _RESULT.match(expression[offset:])
    if match is None:
        return None
    lo, hi = offset + match.start(1), offset + match.end(2 if match.group(2) else 1)
    literal = expression[lo:hi]
    kinds = list(ARITHMETIC_KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        replacement = _alter(literal, kind, rng)
        if replacement is not None:
            start = finding.start + lo
            new_text = text[:start] + replacement + text[finding.start + hi :]
            return Plant(new_text, start, start + len(replacement), literal, replacement, kind, expression)
    return None


def plant_algebra(text: str, finding: Finding, rng: random.Random) -> Plant | None:
    """`text` with one integer of the right side of a verified identity altered by one or a digit."""
    expression = finding.expression
    eq = expression.rfind("=")
    spans = [m.span() for m in _INTEGER.finditer(expression, eq + 1)]
    if not spans:
        return None
    lo, hi = rng.choice(spans)
    literal = expression[lo:hi]
    replacement = _alter(literal, rng.choice(("digit", "off-by-one")), rng)
    if replacement is None:
        return None
    start = finding.start + lo
    new_text = text[:start] + replacement + text[finding.start + hi :]
    return Plant(new_text, start, start + len(replacement), literal, replacement, "algebra", expression)
