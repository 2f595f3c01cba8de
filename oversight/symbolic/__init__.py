"""Symbolic checker: find arithmetic and algebraic equalities in a step and check them. Pure: no Django.

    >>> [f.outcome for f in check_step(r"So \\(17 \\times 4 = 58\\) apples.")]
    ['mismatch']

`check_step(text)` returns a `Finding` per equality (each adjacent pair of a chain `a = b = c`):
"mismatch", "verified" or "abstain", the evaluated sides and the reason. `step_outcome(findings)`
summarises a step as "mismatch" or "abstain", never "correct".

Modules, in the order a step goes through them: `lexer` (math regions, tokens; tables in `tokens`),
`parser` (one side of an equality), `chains` (a = b = c and whether their edges can be trusted),
`values` (exact rationals, sympy for radicals, sampling for identities), `checker` (the rules;
`units`, `words` and `display` serve it). `planting` makes planted slips for evaluation sets.
"""

from .checker import ABSTAIN, MISMATCH, OUTCOMES, VERIFIED, Finding, check_step, check_steps, step_outcome

__all__ = ["ABSTAIN", "MISMATCH", "OUTCOMES", "VERIFIED", "Finding", "check_step", "check_steps", "step_outcome"]
