"""Math regions and tokens of a step's text. Pure: no Django, no sympy.

A step mixes prose and LaTeX. `tokenize(text)` returns one flat token list for the whole step: prose
is lexed in *text mode*, the inside of `\\(...\\)`, `\\[...\\]`, `$...$`, `$$...$$` and math
environments in *math mode*, and each region's delimiters become BOUND tokens. Every token keeps its
character offsets in the step, so a finding can always be sliced back out of the original text.

The two modes differ only where prose and LaTeX disagree:
- letters: in math mode every letter is a variable (`xy` is x·y); in prose words are words and a lone
  letter is a variable (except "a", "A", "I": articles and the pronoun);
- `x` between two numbers in prose is multiplication ("42 bales x 75 pounds"); in math it is x;
- `!` after a number is a factorial in math; in prose only when an operator or `=` follows
  ("5! = 120"), since "= 8!" is far more often an exclamation than 40,320;
- `$` in prose opens math only under pandoc's rule (the opener is followed by a non-space, the closer
  is preceded by a non-space and not followed by a digit), so "$300 + $6 - $275" stays currency.

Lexing is linear in the text: one pass over the delimiters, one compiled regex over what is kept.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from fractions import Fraction

from .tokens import (
    BANG,
    BOUND,
    CHARS,
    CMD,
    CMD_TOKENS,
    CUR,
    GREEK,
    LB,
    LP,
    MATH_WORDS,
    NUM,
    OP,
    OP2,
    OTHER,
    PCT,
    PUNCT,
    RB,
    RP,
    SEP,
    SIMPLE_CHARS,
    SIZING,
    SKIP_CMDS,
    SYM,
    TEXT,
    WORD,
    WORD_TOKENS,
    Tok,
)

MAX_NUMBER_DIGITS = 40  # longer literals are read as OTHER: nobody checks 41-digit arithmetic by hand

_MATH_ENVS = r"(?:equation|align|alignat|gather|eqnarray|multline|displaymath|math|flalign)\*?"
_DELIMS = re.compile(
    # Every alternative starts with a literal `$` or backslash, so the engine skips ahead to those
    # characters; the escaped `\\$` is refused after the fact.
    r"\$\$|\\\[|\\\]|\\\(|\\\)|\\begin\{" + _MATH_ENVS + r"\}|\\end\{" + _MATH_ENVS + r"\}|\$(?<!\\\$)"
)

# One regex for both modes. The common tokens (spaces, words, plain numbers) come first and take a
# single attempt; the rarer number shapes and the backslash commands sit behind a one-character
# lookahead so that most positions never try them.
_LEXEMES = r"""
    \s*(?:  # the spaces before a token are part of its match: half as many matches
    (?P<lmark>(?:\d{1,2}|[a-hA-H])[.)](?=[ \t]))
  | (?P<word>[A-Za-z]+(?:['’][A-Za-z]+HYPHENATED)*)
  | (?P<num>\d+(?:\.\d+)?)(?![\d.,:/eEA-Za-z{\\-])
  | (?=\d)(?:
        (?P<date>\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}(?![\d/]))
      | (?P<clock>\d+(?::\d+)+|\d+(?:st|nd|rd|th|am|pm)(?![A-Za-z]))
      | (?P<sci>\d+(?:\.\d+)?[eE][-+]?\d{1,3}(?![\w.]))
      | (?P<thou>\d{1,3}(?:(?:,|\{,\}|,\\!|\\,)\d{3})+(?!\d|,\d|\.\d+\.)(?:\.\d+)?)
      | (?P<badnum>\d+(?:,\d+)+|\d+(?:\.\d+){2,})
      | (?P<num2>\d+(?:\.\d+)?(?!\.\d))
    )
  | (?P<dot>\.(?<![\w.]\.)\d+)
  | (?=\\)(?:
        (?P<env>\\(?:begin|end)[ \t]*\{[^{}]{0,30}\}(?:\{[^{}]{0,30}\})?)
      | (?P<text>\\(?:text|textbf|textit|textrm|textsf|texttt|textnormal|mathrm|mathbf|mathit|mathsf|mathtt|mbox|hbox|operatorname)\*?[ \t]*\{(?P<tbody>[^{}]{0,200})\})
      | (?P<skip>\\(?:left|right)[ \t]*\.)
      | (?P<cmd>\\(?:[A-Za-z]+|.))
    )
  | (?P<deg>\^[ \t]*(?:\{[ \t]*\\circ[ \t]*\}|\\circ)|°)
  | (?P<op2>==|<=|>=|!=|:=|=>|->|\*\*|\.\.\.)
  | (?P<ch>\S)
    )"""
# Prose joins hyphenated words ("medium-sized"); in math a hyphen between letters is a minus.
_PROSE_TOKEN = re.compile(_LEXEMES.replace("HYPHENATED", r"|-[A-Za-z]{2,}(?![A-Za-z0-9])"), re.VERBOSE | re.DOTALL)
_MATH_TOKEN = re.compile(_LEXEMES.replace("HYPHENATED", ""), re.VERBOSE | re.DOTALL)
# Group number -> name, as a list: m.lastindex and m.span(number) avoid dictionary lookups per token.
_GROUP_NAMES = [""] * (_MATH_TOKEN.groups + 1)
for _name, _number in _MATH_TOKEN.groupindex.items():
    _GROUP_NAMES[_number] = _name
assert _PROSE_TOKEN.groupindex == _MATH_TOKEN.groupindex

_LETTERS = re.compile(r"[a-z]+")
_OPAQUE_ENV = re.compile(r"matrix|cases|array|tabular")


def _number(raw: str) -> tuple[int | Fraction, int] | None:
    """A literal's exact value (an int when whole) and its count of decimals; None if too long."""
    if raw.isdigit() and len(raw) <= MAX_NUMBER_DIGITS:
        return int(raw), 0
    digits = raw.replace(",", "").replace("{}", "").replace("\\!", "").replace("\\,", "")
    if len(digits) > MAX_NUMBER_DIGITS + 6 and sum(c.isdigit() for c in digits) > MAX_NUMBER_DIGITS:
        return None
    if "e" in digits or "E" in digits:
        mantissa, _, exponent = digits.replace("E", "e").partition("e")
        value = Fraction(mantissa) * Fraction(10) ** int(exponent)
        return value, 0 if "." not in mantissa else len(mantissa.partition(".")[2])
    whole, _, frac = digits.partition(".")
    if not frac:
        return int(whole or "0"), 0
    return Fraction(int(whole + frac), 10 ** len(frac)), len(frac)


_CLOSER = {"\\[": "\\]", "\\(": "\\)", "$$": "$$"}


def math_regions(text: str) -> list[tuple[int, int, int, int]]:
    """(open_start, inner_start, inner_end, close_end) of each math region, in order, not nested.

    An opener without its closer is prose. One pass over the delimiters: an opener scans forward for
    its closer; once a scan for some closer reaches the end, later openers of that kind give up at
    once, so a step full of unmatched `\\[` stays linear.
    """
    if "$" not in text and "\\" not in text:
        return []
    matches = [(m.start(), m.end(), m.group()) for m in _DELIMS.finditer(text)]
    count = len(matches)
    n = len(text)
    regions: list[tuple[int, int, int, int]] = []
    exhausted: set[str] = set()  # closers known to be absent from here on
    i = 0
    while i < count:
        start, end, delim = matches[i]
        if delim == "$":
            # Pandoc: the opener is followed by a non-space; the closer is preceded by a non-space and
            # not followed by a digit. And it is the very next `$`: math cannot hold one, so a `$`
            # that cannot close ("$213.92 = 0.20 × $213.92 = $\\boxed{42.78}$") makes it currency.
            if i + 1 < count and matches[i + 1][2] == "$" and not text[end : end + 1].isspace() and end < n:
                close_at = matches[i + 1][0]
                after = text[close_at + 1 : close_at + 2]
                if (
                    not text[close_at - 1].isspace()
                    and not after.isdigit()
                    and close_at - start <= 1500  # a long stretch or a blank line: currency after all
                    and "\n\n" not in text[start:close_at]
                ):
                    regions.append((start, end, close_at, close_at + 1))
                    i += 2
                    continue
            i += 1
            continue
        key = _CLOSER.get(delim) or ("end" if delim.startswith("\\begin") else None)
        if key is None or key in exhausted:  # a closer without an opener, or no closer ahead
            i += 1
            continue
        j = i + 1
        while j < count and not (matches[j][2] == key or (key == "end" and matches[j][2].startswith("\\end"))):
            j += 1
        if j == count:
            exhausted.add(key)
            i += 1
            continue
        regions.append((start, end, matches[j][0], matches[j][1]))
        i = j + 1
    return regions


def _line_start(text: str, s: int) -> bool:
    """Is text[s] the first non-blank character of its line (where "1." or "a)" is a list marker)?"""
    line = text.rfind("\n", 0, s) + 1
    return s - line < 8 and not text[line:s].strip()


def _lex_segment(text: str, start: int, end: int, math: bool, out: list[Tok]) -> None:  # noqa: C901
    """Append the tokens of text[start:end] in the given mode to `out`."""
    braces: list[bool] = []  # True for a brace opened by \boxed
    boxed_pending = False
    prev_end = -1
    pending = -1  # start of a skipped sizing command (\left, \big) that belongs to the next token
    append = out.append
    for m in (_MATH_TOKEN if math else _PROSE_TOKEN).finditer(text, start, end):
        group = m.lastindex
        kind = _GROUP_NAMES[group]
        if kind == "skip":  # \left. and \right., invisible delimiters
            continue
        s0, e = m.span(group)  # a token group always ends where the match does
        s = s0
        if pending >= 0:  # "\left(" reads as "(" but its span starts at the backslash
            s, pending = pending, -1
        if kind == "ch":
            ch = text[s0]
            simple = SIMPLE_CHARS.get(ch)
            if simple is not None:
                append(Tok(simple[0], s, e, simple[1], math, simple[2], s == prev_end))
                prev_end = e
                continue
            if ch == "{":
                braces.append(boxed_pending)
                if boxed_pending:
                    boxed_pending = False
                    append(Tok(BOUND, s, e, "open", math, 0, s == prev_end))
                else:
                    append(Tok(LB, s, e, "{", math, 0, s == prev_end))
                prev_end = e
                continue
            if ch == "}":
                if braces and braces.pop():
                    append(Tok(BOUND, s, e, "close", math, 0, s == prev_end))
                else:
                    append(Tok(RB, s, e, "}", math, 0, s == prev_end))
                prev_end = e
                continue
        if kind == "word":
            word = text[s0:e]
            if math and e - s0 == 1:  # a variable: the commonest math token after operators
                append(Tok(SYM, s, e, word, True, 0, s == prev_end))
                prev_end = e
                continue
            low = word.lower()
            if math:
                if low in MATH_WORDS or len(word) > 3:
                    tok = Tok(WORD, s, e, low, True)
                else:  # "xy", "abc": a product of variables
                    for offset, letter in enumerate(word):
                        single = Tok(SYM, s + offset, s + offset + 1, letter, True)
                        single.glued = offset > 0 or s == prev_end
                        append(single)
                    prev_end = e
                    continue
            elif low in WORD_TOKENS:
                k, v = WORD_TOKENS[low]
                tok = Tok(k, s, e, v, False)
            elif len(word) == 1:
                tok = Tok(SYM, s, e, word, False) if word not in "aAI" else Tok(WORD, s, e, low, False)
            else:
                tok = Tok(WORD, s, e, low, False)
        elif kind == "num" and e - s0 <= 9 and text[s0:e].isdigit():  # a plain integer
            append(Tok(NUM, s, e, int(text[s0:e]), math, 0, s == prev_end))
            prev_end = e
            continue
        elif kind == "num" or kind == "num2" or kind == "thou" or kind == "sci" or kind == "dot":
            parsed = _number(text[s0:e])
            if parsed is None:
                tok = Tok(OTHER, s, e, "long-number", math)
            else:
                tok = Tok(NUM, s, e, parsed[0], math, parsed[1])
        elif kind == "lmark":
            if _line_start(text, s):
                tok = Tok(PUNCT, s, e, "list", math)  # "1." "2)" "a)" at a line start
            else:  # "e.g. ", "x) ": the character and its punctuation, as two tokens
                head = text[s0:e][:-1]
                if head.isdigit():
                    first = Tok(NUM, s, e - 1, int(head), math)
                elif math or head not in "aAI":
                    first = Tok(SYM, s, e - 1, head, math)
                else:
                    first = Tok(WORD, s, e - 1, head.lower(), math)
                first.glued = s == prev_end
                append(first)
                k, v = CHARS[text[s0:e][-1]]
                tok = Tok(k, e - 1, e, v, math)
                tok.glued = True
                prev_end = e
                append(tok)
                continue
        elif kind == "ch":
            ch = text[s0:e]
            if math and (ch == "&" or ch == "~"):
                continue
            if ch == "!" and (math or (s == prev_end and re.match(r"\s*[=+\-*/×]", text[e : e + 4]))):
                tok = Tok(BANG, s, e, "!", math)  # factorial; in prose only as in "5! = 120"
            elif ch == "&":
                tok = Tok(WORD, s, e, "and", math)
            elif ch in CHARS:
                k, v = CHARS[ch]
                tok = Tok(k, s, e, v, math, -1 if k == NUM else 0)
            else:
                tok = Tok(OTHER, s, e, ch, math)
        elif kind == "cmd":
            name = text[s0:e][1:]
            if name in SKIP_CMDS:
                if name in SIZING:
                    pending = s
                continue
            if name in GREEK:
                tok = Tok(SYM, s, e, "\\" + name, math)
            elif name in CMD_TOKENS:
                k, v = CMD_TOKENS[name]
                if k == CMD and v == "boxed":
                    boxed_pending = True
                    continue
                if (k == LP and v == "{") or (k == RP and v == "}"):  # \{ \}: literal braces
                    v = "\\" + str(v)
                tok = Tok(k, s, e, v, math)
            elif name in ("(", ")", "[", "]"):  # a stray region delimiter
                tok = Tok(OTHER, s, e, name, math)
            else:
                tok = Tok(CMD, s, e, name, math)
        elif kind == "text":
            body = m.group("tbody").strip()
            if text[s0:e].startswith("\\operatorname"):
                tok = Tok(CMD, s, e, body, math)
            elif len(body) == 1 and body.isalpha() and text[s0:e][1:5] == "math":
                tok = Tok(SYM, s, e, body, math)
            elif any(c.isdigit() for c in body):
                tok = Tok(OTHER, s, e, "text-with-number", math)
            else:
                # "\text{ hours (meditation)}": the words before a parenthesis are the unit.
                tok = Tok(TEXT, s, e, tuple(_LETTERS.findall(body.partition("(")[0].lower())), math)
        elif kind == "op2":
            k, v = OP2[text[s0:e]]
            tok = Tok(k, s, e, v, math)
        elif kind == "deg":
            tok = Tok(TEXT, s, e, ("degrees",), math)
        elif kind == "env":
            # A matrix or cases environment is opaque; align-like ones only separate lines.
            env = text[s0:e]
            tok = Tok(OTHER if _OPAQUE_ENV.search(env) else SEP, s, e, "env", math)
        else:  # date, clock, badnum
            tok = Tok(OTHER, s, e, kind, math)
        tok.glued = s == prev_end
        prev_end = e
        append(tok)


def _prose_fixups(tokens: list[Tok]) -> None:
    """Two prose readings that need both neighbours of a token.

    - `x` between two quantities is multiplication: "42 bales x 75 pounds", "3x4".
    - A hyphen glued between two numbers that would give a negative result is a range, not a
      subtraction: "pages 10-12", "ages 3-5" (while "18-6=12" is subtraction).
    """
    for i in range(1, len(tokens) - 1):
        tok = tokens[i]
        if tok.math:
            continue
        before, after = tokens[i - 1], tokens[i + 1]
        if tok.kind == SYM and tok.val in ("x", "X"):
            if after.kind not in (NUM, CUR, LP) or after.math:
                continue
            spaced = not tok.glued and not after.glued
            glued_digits = tok.glued and after.glued and before.kind == NUM and after.kind == NUM
            if glued_digits or (spaced and before.kind in (NUM, WORD, RP, PCT)):
                tok.kind, tok.val = OP, "*"
        elif (
            tok.kind == OP
            and tok.val == "-"
            and tok.glued
            and after.glued
            and before.kind == NUM
            and after.kind == NUM
            and not after.math
            and before.val < after.val
        ):
            tok.kind, tok.val = OTHER, "range"


RELATION = re.compile(r"[=≈≃]|\\(?:approx|simeq|sim(?![a-z]))|[Ee]quals\b|EQUALS\b")
# The same, in three scans that the regex engine runs fast (a character class, then literals only when
# the text has them): the combined pattern costs several microseconds a step.
_REL_CHARS = re.compile(r"[=≈≃]")
_REL_COMMANDS = re.compile(r"\\(?:approx|simeq|sim(?![a-z]))")
_REL_WORDS = re.compile(r"(?:[Ee]quals|EQUALS)\b")


def may_relate(text: str) -> bool:
    """Could the text hold a relation at all? (The cheap first look of every check.)"""
    return (
        "=" in text
        or "≈" in text
        or "≃" in text
        or ("\\" in text and ("\\approx" in text or "\\sim" in text))
        or "quals" in text
        or "QUALS" in text
    )


def relation_positions(text: str) -> list[int]:
    """Offsets of every relation (`RELATION`) in the text, in order."""
    positions = [m.start() for m in _REL_CHARS.finditer(text)]
    extra = False
    if "\\" in text and ("\\approx" in text or "\\sim" in text):
        positions += [m.start() for m in _REL_COMMANDS.finditer(text)]
        extra = True
    if "quals" in text or "QUALS" in text:
        positions += [m.start() for m in _REL_WORDS.finditer(text)]
        extra = True
    if extra:
        positions.sort()
    return positions
_SENTENCE_END = re.compile(r"[.?;:](?=\s)|!(?<!\d!)(?=\s)|\n\s*\n")  # "5! = 120" is no sentence end


def tokenize(text: str, windows: bool = False) -> list[Tok]:
    """The tokens of a step: prose in text mode, math regions in math mode between BOUND tokens.

    With `windows`, only what can hold an equality is lexed: each math region that contains a
    relation (or that a following region continues with "= ..."), and each prose sentence that
    contains one. A SEP "gap" token stands for what was skipped. Nothing is lost: a member never
    crosses a sentence end or a region bound, and both are clean edges, as the gap is.
    """
    tokens: list[Tok] = []
    if not windows:
        cursor = 0
        for open_start, inner_start, inner_end, close_end in math_regions(text):
            _lex_segment(text, cursor, open_start, False, tokens)
            tokens.append(Tok(BOUND, open_start, inner_start, "open", True))
            _lex_segment(text, inner_start, inner_end, True, tokens)
            tokens.append(Tok(BOUND, inner_end, close_end, "close", True))
            cursor = close_end
        _lex_segment(text, cursor, len(text), False, tokens)
        _prose_fixups(tokens)
        return tokens
    relations = relation_positions(text)
    if not relations:
        return tokens
    regions = math_regions(text)
    # Which regions to lex: those holding a relation, and those a relation-led region continues.
    keep = [False] * len(regions)
    for index, (open_start, _inner_start, _inner_end, close_end) in enumerate(regions):
        k = bisect_right(relations, open_start - 1)
        keep[index] = k < len(relations) and relations[k] < close_end
    for index in range(len(regions) - 2, -1, -1):
        if keep[index + 1] and not keep[index]:
            nxt = regions[index + 1]
            inner = text[nxt[1] : nxt[2]].lstrip(" \t\n&")
            gap = text[regions[index][3] : nxt[0]]
            keep[index] = inner.startswith(("=", "\\approx", "≈")) and not gap.strip()
    pieces: list[tuple[int, int, int, bool]] = []  # (start, end, region index or -1, cut short)
    cursor = 0
    for index, region in enumerate([*regions, (len(text), len(text), len(text), len(text))]):
        if region[0] > cursor:
            _prose_windows(text, cursor, region[0], relations, pieces)
        if index < len(regions) and keep[index]:
            pieces.append((region[0], region[3], index, False))
        cursor = region[3]
    # A prose window next to a region that was not lexed gets a marker in its place: in
    # "\\(25\\%\\) of $80 = ..." the "of" follows a percentage, not the start of a sentence.
    skipped_ends = {r[3] for r, kept in zip(regions, keep, strict=True) if not kept}
    skipped_starts = {r[0] for r, kept in zip(regions, keep, strict=True) if not kept}
    last_end = 0
    for piece_start, piece_end, index, cut in pieces:
        if piece_start > last_end and tokens and not text[last_end:piece_start].isspace():
            tokens.append(Tok(SEP, last_end, last_end, "gap", False))
        if cut or (index < 0 and piece_start in skipped_ends):
            # Mid-sentence, or right after unread math: whatever precedes may change the meaning.
            tokens.append(Tok(OTHER, piece_start, piece_start, "cut", False))
        if index >= 0:
            open_start, inner_start, inner_end, close_end = regions[index]
            tokens.append(Tok(BOUND, open_start, inner_start, "open", True))
            _lex_segment(text, inner_start, inner_end, True, tokens)
            tokens.append(Tok(BOUND, inner_end, close_end, "close", True))
        else:
            _lex_segment(text, piece_start, piece_end, False, tokens)
            if piece_end in skipped_starts:
                tokens.append(Tok(OTHER, piece_end, piece_end, "cut", False))
        last_end = piece_end
    _prose_fixups(tokens)
    return tokens


def _prose_windows(text: str, start: int, end: int, relations: list[int], out: list) -> None:
    """Append a piece for each sentence of text[start:end] that holds a relation (at most 400
    characters before its first relation; a longer sentence is cut and marked so)."""
    k = bisect_right(relations, start - 1)
    window_end = start
    while k < len(relations) and relations[k] < end:
        at = relations[k]
        k += 1
        if at < window_end:
            continue
        floor = max(start, window_end)
        window_start, cut = floor, False
        if at - floor > 400:
            window_start, cut = at - 400, True
        for m in _SENTENCE_END.finditer(text, window_start, at):
            window_start, cut = m.end(), False
        found = _SENTENCE_END.search(text, at, end)
        window_end = found.end() if found is not None else end
        out.append((window_start, window_end, -1, cut))
