"""Expressions over a step's tokens: one side of an equality. Pure: no Django, no sympy.

`Parser.member(i)` parses the longest expression starting at token i (recursive descent: sums,
products, unary minus, powers, factorials, percentages, `\\frac`, `\\sqrt`, `\\binom`, `|x|`, groups,
implicit products like `2x` and `2(3+4)`, prose operators "times", "divided by", "20% of 50"), and
the unit words after each quantity ("30 dollars", "42 bales", "8 (this week)"). chains.py strings
members into chains `a = b = c`.

Nodes are tuples, first item the type:
  ("n", value: int | Fraction, decimals: int, token index)   a literal
  ("s", name) a variable      ("pi",)
  ("+", [(sign, node), ...])  ("*", [(op, node), ...]) with op "*" or "/"
  ("^", base, exponent)  ("neg", x)  ("%", x)  ("!", x)  ("abs", x)  ("g", x) parentheses
  ("frac", a, b)  ("sqrt", x, index or None)  ("binom", n, k)
"""
from __future__ import annotations

from fractions import Fraction

from .tokens import (
    BANG,
    BAR,
    CMD,
    CUR,
    LB,
    LP,
    NUM,
    OP,
    PCT,
    RB,
    RP,
    SUPPOW,
    SYM,
    TEXT,
    US,
    WORD,
    Tok,
)
from .units import unit_label
from .words import ROUNDING_NOTES, SCALES, STOP_WORDS

MAX_DEPTH = 40  # nesting deeper than this is not arithmetic anyone writes by hand
MAX_MEMBER_TOKENS = 300

class Abort(Exception):
    """A member too deep or too long to be arithmetic; scanning resumes after `pos`."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


class Member:
    """One side of an equality: its tree and where it sits in the tokens and the text."""

    __slots__ = ("node", "i0", "last", "next", "bare", "units", "approx_note", "ops", "labelled", "has_pct")

    def __init__(self, node: tuple, i0: int, last: int, nxt: int) -> None:
        self.node = node
        self.i0 = i0  # first token
        self.last = last  # last token of the expression proper (trailing units excluded)
        self.next = nxt  # first token after the member and its units
        self.bare = False  # a single literal: "58", "$30", "20%", "-4"
        self.units: dict[int, str] = {}  # literal token index -> unit label ("$", "pound", "hour")
        self.approx_note = False  # an annotation says it is rounded: "= 33 (rounded)"
        self.ops = 0
        self.labelled = False  # words or a remark follow a quantity: "5 pairs", "8 (this week)"
        self.has_pct = False  # a percent sign anywhere in it


# Tokens after a factor that may continue its product: an operator, "of", "divided by", or the
# start of an implicit factor. Anything else ends the product at once.
_TERM_CONTINUES = frozenset((OP, WORD, SYM, LP, CMD))
_UNIT_STARTS = frozenset((WORD, TEXT, OP, LP))


class Parser:
    def __init__(self, toks: list[Tok], text: str, n: int) -> None:
        self.toks = toks  # n tokens and the END sentinel
        self.n = n
        self.text = text
        self.i = 0

    # -- state -------------------------------------------------------------------------------------
    def _save(self) -> tuple[int, int, int]:
        return (self.i, self.last, self.ops)

    def _restore(self, state: tuple[int, int, int]) -> None:
        self.i, self.last, self.ops = state

    def _peek(self, offset: int = 0) -> Tok:
        # toks ends with an END sentinel at index n, so the current token always exists.
        if offset == 0:
            return self.toks[self.i]
        j = self.i + offset
        return self.toks[j] if j <= self.n else self.toks[self.n]

    def _take(self) -> Tok:
        tok = self.toks[self.i]
        self.last = self.i
        self.i += 1
        if self.i - self.start > MAX_MEMBER_TOKENS:
            raise Abort(self.i)
        return tok

    # -- entry -------------------------------------------------------------------------------------
    def member(self, i: int) -> Member | None:
        self.i = self.start = i
        self.last = i - 1
        self.depth = 0
        self.ops = 0
        self.units: dict[int, str] = {}
        self.approx_note = False
        self.labelled = False
        self.has_pct = False
        node = self.expr()
        if node is None:
            return None
        m = Member(node, i, self.last, self.i)
        m.units = self.units
        m.approx_note = self.approx_note
        m.ops = self.ops
        m.bare = _is_bare(node)
        m.labelled = self.labelled
        m.has_pct = self.has_pct
        return m

    # -- grammar -----------------------------------------------------------------------------------
    def expr(self) -> tuple | None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Abort(self.i)
        first = self.term()
        if first is None:
            self.depth -= 1
            return None
        terms = [(1, first)]
        toks = self.toks
        while True:
            tok = toks[self.i]
            if tok.kind != OP or (tok.val != "+" and tok.val != "-"):
                break
            state = self._save()
            self._take()
            nxt = self.term()
            if nxt is None:
                self._restore(state)
                break
            self.ops += 1
            terms.append((1 if tok.val == "+" else -1, nxt))
        self.depth -= 1
        return first if len(terms) == 1 else ("+", terms)

    def term(self) -> tuple | None:
        first = self.unary()
        if first is None:
            return None
        factors = [("*", first)]
        toks = self.toks
        while True:
            tok = toks[self.i]
            kind = tok.kind
            if kind not in _TERM_CONTINUES:
                break
            state = self._save()
            if kind == OP and tok.val in ("*", "/"):
                self._take()
                nxt = self.unary()
                op = tok.val
            elif tok.kind == WORD and tok.val == "of" and _fractional(factors):
                self._take()  # "20% of 50", "1/3 of 18"
                nxt = self.unary()
                op = "*"
            elif self._implicit(tok):
                nxt = self.power()
                op = "*"
            elif tok.kind == WORD and tok.val in ("divided", "multiplied") and self._next_is_by():
                self._take()
                self._take()
                nxt = self.unary()
                op = "/" if tok.val == "divided" else "*"
            else:
                break
            if nxt is None:
                self._restore(state)
                break
            self.ops += 1
            factors.append((op, nxt))
        return first if len(factors) == 1 else ("*", factors)

    def _next_is_by(self) -> bool:
        nxt = self._peek(1)
        return nxt is not None and nxt.kind == WORD and nxt.val == "by"

    def _implicit(self, tok: Tok) -> bool:
        """Is `tok` the start of a factor multiplied by juxtaposition ("2x", "2(3+4)", "(a)(b)")?"""
        if self.last < 0:
            return False
        prev = self.toks[self.last]
        pk = prev.kind
        kind = tok.kind
        if tok.math:
            if kind == SYM:
                return pk in (NUM, SYM, RP, RB) or (pk == CMD and prev.val == "pi")
            if kind == LP:
                # "f(x)" reads as a function call as often as a product: leave SYM( alone.
                return (pk in (NUM, RP, RB) or (pk == CMD and prev.val == "pi")) and tok.val in ("(", "[")
            if kind == CMD and tok.val in ("sqrt", "pi"):
                return pk in (NUM, SYM, RP, RB)
            if kind == CMD and tok.val == "frac":
                # "2\frac{1}{2}" is two and a half in word problems and twice a half in algebra.
                return pk in (SYM, RP, RB)
            return False
        if not tok.glued or self.i - 1 != self.last:
            return False
        if kind in (SYM, LP) or (kind == CMD and tok.val in ("sqrt", "pi")):
            return pk in (NUM, RP)
        return False

    def unary(self) -> tuple | None:
        tok = self.toks[self.i]
        if tok.kind == OP and (tok.val == "-" or tok.val == "+"):
            state = self._save()
            self._take()
            inner = self.unary()
            if inner is None:
                self._restore(state)
                return None
            return ("neg", inner) if tok.val == "-" else inner
        return self.power()

    def power(self) -> tuple | None:
        """An atom with its postfix operators, power and units: 5!, 20%, 2^{10}, 3², "30 dollars"."""
        start = self.i
        node = self.atom()
        if node is None:
            return None
        toks = self.toks
        tok = toks[self.i]
        while tok.kind == BANG or tok.kind == PCT:
            self._take()
            if tok.kind == BANG:
                node = ("!", node)
            else:
                node = ("%", node)
                self.has_pct = True
            tok = toks[self.i]
        if tok.kind == OP and tok.val == "^":
            state = self._save()
            self._take()
            exponent = self.exponent()
            if exponent is None:
                self._restore(state)
            else:
                node = ("^", node, exponent)
        elif tok.kind == SUPPOW:
            index = self.i
            self._take()
            node = ("^", node, ("n", tok.val, 0, index))
        if toks[self.i].kind in _UNIT_STARTS and (toks[start].kind in (NUM, CUR) or node[0] in ("%", "g")):
            before = self.i
            self.units_after(start)
            if self.i > before:  # "5 \text{ cm}^2": the power is the unit's
                tok = toks[self.i]
                if (tok.kind == OP and tok.val == "^" and toks[self.i + 1].kind == NUM) or tok.kind == SUPPOW:
                    self.i += 2 if tok.kind == OP else 1
        return node

    def exponent(self) -> tuple | None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Abort(self.i)
        tok = self._peek()
        node: tuple | None = None
        if tok is None:
            node = None
        elif tok.kind in (LB, LP):
            node = self.group(tok.kind)
        elif tok.kind == OP and tok.val == "-":
            state = self._save()
            self._take()
            inner = self.exponent()
            if inner is None:
                self._restore(state)
            else:
                node = ("neg", inner)
        elif tok.kind == NUM:
            index = self.i
            self._take()
            node = ("n", tok.val, tok.dec, index)
        elif tok.kind == SYM:
            self._take()
            node = ("s", tok.val)
        if node is not None:
            nxt = self._peek()
            if nxt is not None and nxt.kind == OP and nxt.val == "^":
                state = self._save()
                self._take()
                higher = self.exponent()
                if higher is None:
                    self._restore(state)
                else:
                    node = ("^", node, higher)
        self.depth -= 1
        return node

    def group(self, opener: str) -> tuple | None:
        closer = RB if opener == LB else RP
        state = self._save()
        self._take()
        inner = self.expr()
        tok = self._peek()
        if inner is None or tok is None or tok.kind != closer:
            self._restore(state)
            return None
        self._take()
        return ("g", inner)

    def atom(self) -> tuple | None:
        i = self.i
        tok = self.toks[i]
        kind = tok.kind
        if kind == NUM:
            if tok.math:  # the common case, inlined: a literal, no scale words in math
                self.last = i
                self.i = i + 1
                if self.i - self.start > MAX_MEMBER_TOKENS:
                    raise Abort(self.i)
                return ("n", tok.val, tok.dec, i)
            return self.literal()
        if kind == CUR:
            nxt = self._peek(1)
            if nxt is None or nxt.kind != NUM:
                return None
            self._take()
            node = self.literal()
            self.units[node[3]] = tok.val
            return node
        if kind == SYM:
            self._take()
            name = tok.val
            nxt = self._peek()
            if nxt is not None and nxt.kind == US:
                sub = self._subscript()
                if sub is None:
                    return None
                name = f"{name}_{sub}"
            return ("s", name)
        if kind in (LP, LB):
            if kind == LP and tok.val not in ("(", "["):
                return None  # \{ ... \}: a set, not a group
            return self.group(kind)
        if kind == BAR:
            state = self._save()
            self._take()
            inner = self.expr()
            close = self._peek()
            if inner is None or close is None or close.kind != BAR:
                self._restore(state)
                return None
            self._take()
            return ("abs", inner)
        if kind == CMD:
            return self.command(tok)
        return None

    def literal(self) -> tuple:
        index = self.i
        tok = self._take()
        node: tuple = ("n", tok.val, tok.dec, index)
        if not tok.math:
            nxt = self._peek()
            if nxt is not None and nxt.kind == WORD and nxt.val in SCALES:
                scale_index = self.i
                self._take()
                node = ("*", [("*", node), ("*", ("n", Fraction(SCALES[nxt.val]), 0, scale_index))])
        return node

    def _subscript(self) -> str | None:
        state = self._save()
        self._take()  # _
        tok = self._peek()
        if tok is None:
            self._restore(state)
            return None
        if tok.kind in (NUM, SYM):
            self._take()
            return self.text[tok.start : tok.end]
        if tok.kind == LB:
            parts = []
            self._take()
            while True:
                tok = self._peek()
                if tok is None or len(parts) > 6:
                    self._restore(state)
                    return None
                if tok.kind == RB:
                    self._take()
                    return "".join(parts) if parts else None
                if tok.kind not in (NUM, SYM, WORD, TEXT):
                    self._restore(state)
                    return None
                self._take()
                parts.append(self.text[tok.start : tok.end])
        self._restore(state)
        return None

    def argument(self) -> tuple | None:
        """A LaTeX argument: {expr} or a single digit or letter (\\frac12, \\sqrt x)."""
        tok = self._peek()
        if tok is None:
            return None
        if tok.kind == LB:
            group = self.group(LB)
            return group[1] if group is not None else None
        if tok.kind == NUM:
            index = self.i
            self._take()
            return ("n", tok.val, tok.dec, index)
        if tok.kind == SYM:
            self._take()
            return ("s", tok.val)
        return None

    def command(self, tok: Tok) -> tuple | None:
        name = tok.val
        state = self._save()
        if name == "pi":
            self._take()
            return ("pi",)
        if name == "frac" or name == "binom":
            self._take()
            nxt = self._peek()
            raw = self.text[nxt.start : nxt.end] if nxt is not None and nxt.kind == NUM else ""
            if len(raw) == 2 and raw.isdigit():  # \frac12 is one half
                index = self.i
                self._take()
                a: tuple | None = ("n", Fraction(int(raw[0])), 0, index)
                b: tuple | None = ("n", Fraction(int(raw[1])), 0, index)
            else:
                a = self.argument()
                b = self.argument() if a is not None else None
            if a is None or b is None:
                self._restore(state)
                return None
            return (name, a, b)
        if name == "sqrt":
            self._take()
            index_node = None
            nxt = self._peek()
            if nxt is not None and nxt.kind == LP and nxt.val == "[" and nxt.math:
                self._take()
                index_node = self.expr()
                close = self._peek()
                if index_node is None or close is None or close.kind != RP:
                    self._restore(state)
                    return None
                self._take()
            if not self.toks[self.last].math:  # prose: √16, √(16)
                nxt = self._peek()
                if nxt is not None and nxt.kind == NUM:
                    index = self.i
                    self._take()
                    return ("sqrt", ("n", nxt.val, nxt.dec, index), None)
                if nxt is not None and nxt.kind == LP:
                    group = self.group(LP)
                    if group is None:
                        self._restore(state)
                        return None
                    return ("sqrt", group, None)
            arg = self.argument()
            if arg is None:
                self._restore(state)
                return None
            return ("sqrt", arg, index_node)
        return None

    def units_after(self, literal_start: int) -> None:
        """Consume the unit words after a quantity ("30 dollars", "42 bales", "8 (this week)")."""
        toks, n = self.toks, self.n
        j = self.i
        if toks[j].kind not in _UNIT_STARTS:
            return
        words: list[str] = []
        while j < n and len(words) < 4:
            tok = toks[j]
            if tok.kind == WORD and tok.val not in STOP_WORDS and tok.val not in SCALES:
                if tok.val in ("a", "an", "per") and (not words or j + 1 >= n or toks[j + 1].kind != WORD):
                    break
                words.append(tok.val)
                j += 1
            elif tok.kind == TEXT and tok.val and tok.val[0] not in STOP_WORDS:
                words.extend(tok.val)
                j += 1
            elif tok.kind == TEXT and not tok.val:  # \text{ (Ana)}: a remark
                self.labelled = True
                j += 1
            elif (
                tok.kind == OP
                and tok.val == "/"
                and words
                and tok.glued
                and j + 1 < n
                and toks[j + 1].kind in (WORD, TEXT)
                and toks[j + 1].glued
            ):
                words.append("/")
                j += 1
            else:
                break
        # A parenthesised remark of words only: "8 (this week) - 4 (last week)".
        if j < n and toks[j].kind == LP and toks[j].val == "(" and not toks[j].glued:
            k = j + 1
            note: list[str] = []
            while k < n and k - j <= 8 and toks[k].kind in (WORD, TEXT):
                note.extend(toks[k].val if toks[k].kind == TEXT else [str(toks[k].val)])
                k += 1
            if k < n and k > j + 1 and toks[k].kind == RP:
                if any(word.startswith(ROUNDING_NOTES) for word in note):
                    self.approx_note = True
                j = k + 1
                self.labelled = True
        if words:
            self.labelled = True
            label = unit_label([w for w in words if w != "/"])
            for index in range(literal_start, self.i):
                if toks[index].kind == NUM:
                    self.units.setdefault(index, label)
                    break
        if j > self.i and j - self.start > MAX_MEMBER_TOKENS:
            raise Abort(j)
        self.i = j


def _is_bare(node: tuple) -> bool:
    while node[0] in ("neg", "%", "g"):
        node = node[1]
    return node[0] == "n"


def _fractional(factors: list[tuple[str, tuple]]) -> bool:
    """Can `of` follow this product as multiplication? Percentages and fractions: "20% of", "1/3 of"."""
    if len(factors) == 2:
        (_, a), (op, b) = factors
        return op == "/" and a[0] == "n" and b[0] == "n"
    node = factors[-1][1]
    if len(factors) > 1:
        return False
    if node[0] in ("%", "frac"):
        return True
    return node[0] == "n" and 0 < node[1] < 1
