"""Symbolic checker: find arithmetic and algebraic equalities in a step and check them. Pure: no Django.

    >>> [f.outcome for f in check_step(r"So \\(17 \\times 4 = 58\\) apples.")]
    ['mismatch']

`check_step(text)` returns a `Finding` per equality (each adjacent pair of a chain `a = b = c`):
"mismatch", "verified" or "abstain", the evaluated sides and the reason. `step_outcome(findings)`
summarises a step as "mismatch" or "abstain", never "correct". See `checker` for the rules,
`lexer` and `parser` for what is read, `values` for how it is evaluated, and `planting` for the
planted-error generator the benchmark uses.
"""

from .checker import ABSTAIN, MISMATCH, OUTCOMES, VERIFIED, Finding, check_step, check_steps, step_outcome

__all__ = ["ABSTAIN", "MISMATCH", "OUTCOMES", "VERIFIED", "Finding", "check_step", "check_steps", "step_outcome"]
