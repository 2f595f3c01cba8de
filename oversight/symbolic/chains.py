"""Chains of equalities `a = b = c` over a step's tokens, and whether their edges can be trusted.

`chains(tokens, text)` scans the tokens once. Wherever a member can start (and a relation can
follow it) it parses the longest expression there; if `=` or `≈` follows, it keeps parsing members.
Each adjacent pair of members is later judged on its own (checker.py). A display that starts with
`=` (`\\[ A \\] \\[ = B \\]`, or an align line `&= B`) continues the last member of the one before.

A member is only as trustworthy as its edges, so each chain records whether its first member starts
at a *clean* place (the start of a sentence or math region, after punctuation, a plain word or a
relation) and whether its last member ends at one. "half of 10 + 4 = 9", "17 mod 5 = 2",
"\\log_2 8 = 3", "1 + 2 + \\cdots + 10 = 55", "\\text{Age} - 4 = 10 - 4" all fail that test: the text
around the parsed member changes its meaning, so the checker may not call such a pair a mismatch.
"""

from __future__ import annotations

from .parser import Abort, Member, Parser
from .tokens import (
    BAR,
    BOUND,
    CMD,
    CUR,
    DOTS,
    END,
    LB,
    LP,
    NUM,
    OP,
    OTHER,
    PUNCT,
    RB,
    REL,
    RP,
    SEP,
    SYM,
    TEXT,
    US,
    WORD,
    Tok,
)
from .words import APPROX_WORDS, LEFT_DANGER, MULTIPLIERS, RIGHT_DANGER


class Chain:
    """Members a = b = c, the relation between each pair, and whether its two ends are clean."""

    __slots__ = ("members", "rels", "left_clean", "right_clean", "continued")

    def __init__(self, members: list[Member], rels: list[str], left_clean: bool, right_clean: bool) -> None:
        self.members = members
        self.rels = rels
        self.left_clean = left_clean
        self.right_clean = right_clean
        self.continued = False  # the first member comes from the previous math line or region



_CAN_START = frozenset((NUM, CUR, SYM, LP, LB, BAR, CMD, OP))


def left_clean(toks: list[Tok], i: int) -> bool:
    """May a left side start at token i without the text before it changing its meaning?"""
    j = i - 1
    if j < 0:
        return True
    tok = toks[j]
    kind = tok.kind
    if kind == BOUND and tok.val == "close" and toks[i].kind == OP:
        return False  # "\\(x\\) + 3 = 5": the sign continues the math before it
    if kind in (BOUND, SEP, REL):
        return True
    if toks[i].kind == OP:
        # A sign after words is a binary operator with a wordy operand ("\text{Age} - 4 = 10 - 4"),
        # unless it is glued to its number and not to the word: "is now -50 + 100".
        if kind in (WORD, TEXT) and not toks[i].glued and toks[i + 1].glued and toks[i + 1].kind == NUM:
            return _word_clean(toks, j)
        return kind == PUNCT and tok.val != ")" or (kind == LP and left_clean(toks, j))
    if kind == PUNCT:
        return True
    if kind == WORD:
        return _word_clean(toks, j)
    if kind == TEXT:
        return not tok.val or tok.val[-1] not in LEFT_DANGER
    if kind == LP and tok.val in ("(", "["):
        if j == 0 or toks[j - 1].kind in (BOUND, SEP, REL, PUNCT, WORD, TEXT):
            return True
        # Prose "multiples of 4 (4 × 25 = 100)": a remark in parentheses, not a product.
        return not tok.math and not tok.glued and toks[j - 1].kind == NUM
    return False


def _word_clean(toks: list[Tok], j: int) -> bool:
    """Is the word at j a safe thing to stand before a left side?"""
    word = toks[j].val
    if word == "of":
        # "a total of $100 + $50", "a height of 4/2" are safe; "half of 10 + 4", "one-third of 27",
        # "\(25\%\) of $80", "the square of 3 + 4" are not.
        before = toks[j - 1] if j > 0 else None
        if before is None or before.kind in (PUNCT, SEP) or (before.kind == BOUND and before.val == "open"):
            return True
        if before.kind == WORD:
            return before.val.rpartition("-")[2] not in MULTIPLIERS
        return before.kind == TEXT and (not before.val or before.val[-1] not in MULTIPLIERS)
    return word.rpartition("-")[2] not in LEFT_DANGER  # "two-thirds 6 + 3" as "thirds"


def right_clean(toks: list[Tok], k: int) -> bool:
    """May a right side end before token k without the text after it changing its value?"""
    if k >= len(toks):
        return True
    tok = toks[k]
    kind = tok.kind
    if kind in (BOUND, SEP, REL, END):
        return True
    nxt = toks[k + 1] if k + 1 < len(toks) else None
    if kind == PUNCT:
        # "3,5" and "3:4" are lexed apart from a number only when spaced; glued they are ambiguous.
        return not (tok.val in (",", ":") and nxt is not None and nxt.glued and nxt.kind == NUM)
    if kind == WORD:
        if tok.val in RIGHT_DANGER:
            return False
        if tok.val == "of":  # "= 15 quarts of strawberries" is fine, "= 3 of 4" is not
            return nxt is None or nxt.kind != NUM
        if tok.val == "and" and nxt is not None:  # "= 3 and 1/2", "= 3 and a half"; not "= 51 and 7 * 13"
            after = toks[k + 2] if k + 2 < len(toks) else None
            if nxt.kind == NUM and after is not None and after.kind == OP and after.val == "/":
                return False
            if nxt.kind == WORD and nxt.val in ("a", "one", "half", "quarter"):
                return False
        return True
    if kind == TEXT:
        return not tok.val or tok.val[0] not in RIGHT_DANGER
    if kind == RP:
        return nxt is None or nxt.kind in (BOUND, SEP, REL, PUNCT, WORD, TEXT, RP, END)
    if kind == OP and tok.val in ("-", "+") and not tok.math and nxt is not None and nxt.kind == WORD:
        # A dash between list items: "= 11 shoes - On Wednesday: ..."
        return nxt.val not in LEFT_DANGER
    if kind == US:
        # "= 202_{10}": a base-ten marker; any other base changes the value.
        return _base_ten(toks, k)
    return False


def _base_ten(toks: list[Tok], k: int) -> bool:
    nxt = toks[k + 1] if k + 1 < len(toks) else None
    if nxt is not None and nxt.kind == NUM and nxt.val == 10:
        return True
    return (
        nxt is not None
        and nxt.kind == LB
        and k + 3 < len(toks)
        and toks[k + 2].kind == NUM
        and toks[k + 2].val == 10
        and toks[k + 3].kind == RB
    )


def _statement_start(toks: list[Tok], i: int) -> bool:
    return i == 0 or toks[i - 1].kind in (BOUND, SEP)


def _continues(toks: list[Tok], previous: Member | None, i: int) -> bool:
    """Does the relation at token i continue `previous` across a line or region break?

    `\\[ A \\] \\[ = B \\]` and `A \\\\ &= B` mean A = B; only region bounds and line breaks may lie
    between them.
    """
    if previous is None or not _statement_start(toks, i):
        return False
    between = toks[previous.next : i]
    return 0 < len(between) <= 3 and all(t.kind in (BOUND, SEP) and t.val not in ("=>", "gap") for t in between)


_STOPS = frozenset((PUNCT, BOUND, SEP, REL, DOTS, OTHER))


def _useful_starts(toks: list[Tok]) -> list[bool]:
    """Can a member starting at token i be followed by a relation? Members never contain a stop
    token, so only if the first stop after i is = or ≈, or a bound or line break that a
    continued relation ("\\] \\[ = ...") follows. Skipping the rest saves most parses."""
    n = len(toks)
    useful = [False] * n
    target = False  # for the stop at or after i: is it (or does it lead to) a relation?
    for i in range(n - 1, -1, -1):
        tok = toks[i]
        if tok.kind in _STOPS:
            if tok.kind == REL:
                target = tok.val in ("=", "~")
            elif tok.kind in (BOUND, SEP) and tok.math:
                j = i + 1
                while j < n and j - i <= 3 and toks[j].kind in (BOUND, SEP):
                    j += 1
                target = j < n and toks[j].kind == REL and toks[j].val in ("=", "~")
            else:
                target = False
        useful[i] = target
    return useful


def chains(toks: list[Tok], text: str) -> list[Chain]:
    """Every chain of two or more members joined by = or ≈, in text order."""
    useful = _useful_starts(toks)
    n = len(toks)
    toks.append(Tok(END, len(text), len(text), None, False))  # sentinel, removed before returning
    try:
        return _chains(toks, text, n, useful)
    finally:
        toks.pop()


def _chains(toks: list[Tok], text: str, n: int, useful: list[bool]) -> list[Chain]:
    parser = Parser(toks, text, n)
    found: list[Chain] = []
    previous: Member | None = None  # last member that ended a math statement
    i = 0
    while i < n:
        tok = toks[i]
        members: list[Member] = []
        rels: list[str] = []
        continued = False
        if tok.kind == REL and tok.val in ("=", "~") and _continues(toks, previous, i):
            assert previous is not None
            members.append(previous)
            continued = True
            j = i
        elif tok.kind in _CAN_START and useful[i]:
            try:
                first = parser.member(i)
            except Abort as abort:
                i = max(abort.pos, i + 1)
                continue
            if first is None:
                i += 1
                continue
            members.append(first)
            j = first.next
        else:
            i += 1
            continue
        while j < n and toks[j].kind == REL and toks[j].val in ("=", "~"):
            rel = toks[j].val
            k = j + 1
            if k < n and toks[k].kind == WORD and toks[k].val in APPROX_WORDS:
                rel, k = "~", k + 1  # "= about 33"
            try:
                nxt = parser.member(k)
            except Abort as abort:
                j = abort.pos
                break
            if nxt is None:
                break
            if nxt.approx_note:
                rel = "~"
            members.append(nxt)
            rels.append(rel)
            j = nxt.next
        last = members[-1]
        if (j >= n or toks[j].kind in (BOUND, SEP)) and toks[last.last].math:
            previous = last  # a later "\\[ = ... \\]" may continue it
        if len(members) >= 2:
            # A continued chain starts with the member it continues: its own left edge counts.
            start_ok = left_clean(toks, members[0].i0)
            end_tok = toks[j] if j < n else None
            end_ok = right_clean(toks, j)
            if end_tok is not None and end_tok.kind == DOTS:  # "= 0.333..." is a rounded value
                rels[-1] = "~"
                end_ok = True
            chain = Chain(members, rels, start_ok, end_ok)
            chain.continued = continued
            found.append(chain)
        i = j if j > i else i + 1
    return found
