"""Queue priority from passes: "convincing wrong answers" first, as PRM800K served them. Pure: no Django.

A chain is a convincing wrong answer when the critic passes every step yet its final answer differs from
the problem's reference answer: the errors people most need to find are the ones a model did not see.
"""

import re
from fractions import Fraction

_BOXED = re.compile(r"\\boxed\s*\{(.*)\}", re.S)
_NOISE = re.compile(r"[\s$,]|\\[,;!]|\\text\{[^}]*\}|\\(?:left|right)|\.$")


def normalise(answer: str) -> str:
    text = answer.strip()
    boxed = _BOXED.search(text)
    if boxed:
        text = boxed.group(1)
    text = _NOISE.sub("", text).rstrip(".")
    frac = re.fullmatch(r"\\d?frac\{(-?\d+)\}\{(\d+)\}", text)
    if frac:
        text = f"{frac.group(1)}/{frac.group(2)}"
    try:
        return str(Fraction(text))
    except (ValueError, ZeroDivisionError):
        return text.lower()


def answers_differ(final_answer: str, reference: str) -> bool | None:
    """True / False, or None when either is missing (nothing to compare)."""
    if not final_answer.strip() or not reference.strip():
        return None
    return normalise(final_answer) != normalise(reference)


def convincing_wrong(verdicts: list[str], final_answer: str, reference: str) -> bool:
    """Every step judged correct (none unusable or missing) and the final answer wrong."""
    return bool(verdicts) and all(v == "correct" for v in verdicts) and answers_differ(final_answer, reference) is True
