"""Expressions and chains of equalities over a step's tokens. Pure: no Django, no sympy.

`chains(tokens, text)` scans the tokens once. Wherever an expression can start it parses the longest
expression there (recursive descent: sums, products, unary minus, powers, factorials, percentages,
`\\frac`, `\\sqrt`, `\\binom`, `|x|`, groups); if a relation `=` / `≈` follows, it keeps parsing
members to build a chain `a = b = c`. Each adjacent pair of members is later judged on its own.

A member is only as trustworthy as its edges, so each chain records whether its first member starts
at a *clean* place (the start of a sentence or math region, after punctuation, a plain word or a
relation) and whether its last member ends at one. "half of 10 + 4 = 9", "17 mod 5 = 2",
"\\log_2 8 = 3", "1 + 2 + \\cdots + 10 = 55" all fail that test: the text around the parsed
member changes its meaning, so the checker may not call such a pair a mismatch.

Nodes are tuples, first item the type:
  ("n", value: Fraction, decimals: int, token index)   a literal
  ("s", name) a variable      ("pi",)
  ("+", [(sign, node), ...])  ("*", [(op, node), ...]) with op "*" or "/"
  ("^", base, exponent)  ("neg", x)  ("%", x)  ("!", x)  ("abs", x)  ("g", x) parentheses
  ("frac", a, b)  ("sqrt", x, index or None)  ("binom", n, k)
"""

from __future__ import annotations

from fractions import Fraction

from .lexer import (
    BANG,
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
    PCT,
    PUNCT,
    RB,
    REL,
    RP,
    SEP,
    SUPPOW,
    SYM,
    TEXT,
    US,
    WORD,
    Tok,
)
from .units import unit_label

MAX_DEPTH = 40  # nesting deeper than this is not arithmetic anyone writes by hand
MAX_MEMBER_TOKENS = 300

# Words that end a quantity ("3 apples and ...") instead of being its unit.
STOP_WORDS = frozenset(
    (
        "so", "then", "and", "or", "but", "which", "that", "is", "are", "was", "were", "be", "been", "being",
        "will", "would", "can", "could", "should", "must", "to", "for", "in", "on", "at", "of", "by", "with",
        "from", "than", "as", "the", "this", "these", "those", "it", "its", "we", "he", "she", "they", "i",
        "you", "our", "his", "her", "their", "there", "here", "if", "because", "since", "when", "while",
        "after", "before", "into", "over", "under", "about", "approximately", "roughly", "around", "nearly",
        "almost", "exactly", "just", "therefore", "thus", "hence", "total", "altogether", "now", "also", "not",
        "no", "yes", "more", "less", "fewer", "gives", "give", "get", "gets", "got", "makes", "make", "equal",
        "equals", "means", "where", "who", "what", "how", "respectively", "step", "answer", "next", "first",
        "second", "third", "finally", "let", "lets", "let's", "we'll", "we're", "we've", "that's", "it's",
        "which's", "new", "old", "is", "divided", "multiplied", "squared", "cubed", "mod", "modulo",
        "remainder", "point",
    )
)
# Prose before a left side that changes what it means: "half of 10 + 4", "17 mod 5", "twice 3 + 4".
# ("and" is not one: "..., and 1,200 + 300 = 1,500" joins clauses far more often than it adds.)
LEFT_DANGER = frozenset(
    (
        "of", "by", "than", "times", "plus", "minus", "over", "into", "per", "from", "less", "more", "fewer",
        "half", "halves", "twice", "double", "triple", "thrice", "quadruple", "quarter", "quarters", "third",
        "thirds", "fourth", "fourths", "fifth", "fifths", "sixth", "sixths", "seventh", "eighth", "ninth",
        "tenth", "tenths", "hundredth", "hundredths", "thousandth", "percent", "mod", "modulo", "divided",
        "multiplied", "squared", "cubed", "root", "roots", "power", "powers", "exponent", "factorial", "sqrt",
        "log", "ln", "sin", "cos", "tan", "negative",
    )
)
# Prose after a right side that changes its value: "= 5 squared", "= 7 remainder 3", "= 2 mod 5".
RIGHT_DANGER = frozenset(
    (
        "times", "of", "squared", "cubed", "mod", "modulo", "remainder", "r", "point", "plus", "minus", "over",
        "divided", "multiplied", "percent",
    )
)
APPROX_WORDS = frozenset(
    (
        "about", "approximately", "approx", "roughly", "around", "nearly", "almost",
    )
)
_ROUNDING_NOTES = ("round", "approx", "about", "nearest", "estimate")
# Number words that scale the number before them. Not "dozen": "66 / 12 = 5.5 dozen" uses it as a
# unit as often as "3 dozen = 36" as a number; as a unit it is excused by its factor (units.py).
SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}


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


class Chain:
    """Members a = b = c, the relation between each pair, and whether its two ends are clean."""

    __slots__ = ("members", "rels", "left_clean", "right_clean", "continued")

    def __init__(self, members: list[Member], rels: list[str], left_clean: bool, right_clean: bool) -> None:
        self.members = members
        self.rels = rels
        self.left_clean = left_clean
        self.right_clean = right_clean
        self.continued = False  # the first member comes from the previous math line or region


# Tokens after a factor that may continue its product: an operator, "of", "divided by", or the
# start of an implicit factor. Anything else ends the product at once.
_TERM_CONTINUES = frozenset((OP, WORD, SYM, LP, CMD))
_UNIT_STARTS = frozenset((WORD, TEXT, OP, LP))


class _Parser:
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
                if any(word.startswith(_ROUNDING_NOTES) for word in note):
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


# -- chains ----------------------------------------------------------------------------------------

_CAN_START = frozenset((NUM, CUR, SYM, LP, LB, BAR, CMD, OP))


def left_clean(toks: list[Tok], i: int) -> bool:
    """May a left side start at token i without the text before it changing its meaning?"""
    j = i - 1
    if j < 0:
        return True
    tok = toks[j]
    kind = tok.kind
    if kind in (BOUND, SEP, REL):
        return True
    if toks[i].kind == OP:
        # A sign after words is a binary operator with a wordy operand: "\text{Age} - 4 = 10 - 4".
        return kind == PUNCT and tok.val != ")" or (kind == LP and left_clean(toks, j))
    if kind == PUNCT:
        return True
    if kind == WORD:
        return tok.val not in LEFT_DANGER
    if kind == TEXT:
        return not tok.val or tok.val[-1] not in LEFT_DANGER
    if kind == LP and tok.val in ("(", "["):
        return j == 0 or toks[j - 1].kind in (BOUND, SEP, REL, PUNCT, WORD, TEXT)
    return False


def right_clean(toks: list[Tok], k: int) -> bool:
    """May a right side end before token k without the text after it changing its value?"""
    if k >= len(toks):
        return True
    tok = toks[k]
    kind = tok.kind
    if kind in (BOUND, SEP, REL, END):
        return True
    if kind == PUNCT:
        # "3,5" and "3:4" are lexed apart from a number only when spaced; glued they are ambiguous.
        return not (tok.val in (",", ":") and k + 1 < len(toks) and toks[k + 1].glued and toks[k + 1].kind == NUM)
    if kind == WORD:
        if tok.val in RIGHT_DANGER:
            return False
        if tok.val == "and" and k + 1 < len(toks):  # "= 3 and 1/2", "= 3 and a half"
            nxt = toks[k + 1]
            if nxt.kind == NUM or (nxt.kind == WORD and nxt.val in ("a", "one", "half", "quarter")):
                return False
        return True
    if kind == TEXT:
        return not tok.val or tok.val[0] not in RIGHT_DANGER
    if kind == RP:
        return k + 1 >= len(toks) or toks[k + 1].kind in (BOUND, SEP, REL, PUNCT, WORD, TEXT, RP)
    return False


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
    parser = _Parser(toks, text, n)
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
            start_ok = continued or left_clean(toks, members[0].i0)
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
