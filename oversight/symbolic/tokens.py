"""Token kinds, the token class, and the tables that map LaTeX commands, characters and prose words
to tokens. Pure data: lexer.py does the reading."""

from __future__ import annotations

from fractions import Fraction

# Token kinds.
NUM = "NUM"  # val: Fraction; dec: digits after the decimal point (0 for integers)
CUR = "CUR"  # currency sign; val: "$", "€", ...
PCT = "PCT"  # %, \%, "percent"
OP = "OP"  # val: + - * / ^
LP, RP = "LP", "RP"  # ( [ \left( ...
LB, RB = "LB", "RB"  # { } in math (grouping, arguments)
REL = "REL"  # val: "=" or "~" (approximately) or "other" (<, ≤, ≠, ≡, ...)
SYM = "SYM"  # a variable; val: its name
WORD = "WORD"  # a prose word, lower-cased; in math a run of letters that is a unit or an English word
TEXT = "TEXT"  # \text{...}; val: tuple of lower-cased words
PUNCT = "PUNCT"  # . , ; : ? ! and list markers ("1." at a line start)
SEP = "SEP"  # statement separators: \\ \quad \Rightarrow \implies, \begin{...}, "=>", "→"
BOUND = "BOUND"  # start or end of a math region (val "open"/"close"), or of \boxed{...}
CMD = "CMD"  # val: frac, sqrt, binom, pi or the name of a command we do not evaluate
BAR = "BAR"  # | (absolute value)
US = "US"  # _ (subscript)
BANG = "BANG"  # factorial
SUPPOW = "SUPPOW"  # ² ³; val: the exponent as Fraction
DOTS = "DOTS"  # ... … \cdots \ldots: an omitted part or a repeating decimal
OTHER = "OTHER"  # anything we do not read: dates, times, ordinals, bad numbers, stray symbols
END = "END"  # the parser's sentinel after the last token


GREEK = frozenset(
    (
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
        "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
        "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Upsilon", "Phi", "Psi",
        "Omega",
    )
)
SKIP_CMDS = frozenset(
    (
        "not", "left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
        "Biggl", "Biggr", "displaystyle", "textstyle", "scriptstyle", "limits", "nolimits", "space",
        "thinspace", "medspace", "negthinspace", "mathstrut",
    )
) | {",", ";", ":", "!", " ", "&"}
SIZING = frozenset(("left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr"))
CMD_TOKENS: dict[str, tuple[str, object]] = {
    "times": (OP, "*"),
    "cdot": (OP, "*"),
    "ast": (OP, "*"),
    "div": (OP, "/"),
    "frac": (CMD, "frac"),
    "dfrac": (CMD, "frac"),
    "tfrac": (CMD, "frac"),
    "cfrac": (CMD, "frac"),
    "sqrt": (CMD, "sqrt"),
    "binom": (CMD, "binom"),
    "dbinom": (CMD, "binom"),
    "tbinom": (CMD, "binom"),
    "pi": (CMD, "pi"),
    "boxed": (CMD, "boxed"),
    "fbox": (CMD, "boxed"),
    "%": (PCT, "%"),
    "$": (CUR, "$"),
    "{": (LP, "{"),
    "}": (RP, "}"),
    "lvert": (BAR, "|"),
    "rvert": (BAR, "|"),
    "vert": (BAR, "|"),
    "approx": (REL, "~"),
    "simeq": (REL, "~"),
    "thickapprox": (REL, "~"),
    "approxeq": (REL, "~"),
    "sim": (REL, "~"),
    "cdots": (DOTS, "..."),
    "ldots": (DOTS, "..."),
    "dots": (DOTS, "..."),
    "dotsb": (DOTS, "..."),
    "vdots": (DOTS, "..."),
    "\\": (SEP, "\\\\"),
    "newline": (SEP, "\\\\"),
    "quad": (SEP, "quad"),
    "qquad": (SEP, "quad"),
    "hline": (SEP, "hline"),
    "Rightarrow": (SEP, "=>"),
    "implies": (SEP, "=>"),
    "Longrightarrow": (SEP, "=>"),
    "rightarrow": (SEP, "=>"),
    "longrightarrow": (SEP, "=>"),
    "to": (SEP, "=>"),
    "iff": (SEP, "=>"),
    "Leftrightarrow": (SEP, "=>"),
    "therefore": (SEP, "=>"),
    "because": (SEP, "=>"),
    "text": (OTHER, "text"),  # \text without a simple {...} body
}
for _rel in (
    "neq", "ne", "le", "leq", "ge", "geq", "lt", "gt", "leqslant", "geqslant", "equiv", "cong", "propto",
    "in", "notin", "subset", "subseteq", "ll", "gg",
):
    CMD_TOKENS[_rel] = (REL, "other")

CHARS: dict[str, tuple[str, object]] = {
    "+": (OP, "+"),
    "-": (OP, "-"),
    "−": (OP, "-"),
    "*": (OP, "*"),
    "×": (OP, "*"),
    "·": (OP, "*"),
    "⋅": (OP, "*"),
    "∙": (OP, "*"),
    "/": (OP, "/"),
    "÷": (OP, "/"),
    "^": (OP, "^"),
    "=": (REL, "="),
    "≈": (REL, "~"),
    "≃": (REL, "~"),
    "≅": (REL, "other"),
    "≠": (REL, "other"),
    "<": (REL, "other"),
    ">": (REL, "other"),
    "≤": (REL, "other"),
    "≥": (REL, "other"),
    "≡": (REL, "other"),
    "(": (LP, "("),
    "[": (LP, "["),
    ")": (RP, ")"),
    "]": (RP, "]"),
    "%": (PCT, "%"),
    "$": (CUR, "$"),
    "€": (CUR, "€"),
    "£": (CUR, "£"),
    "¥": (CUR, "¥"),
    "₹": (CUR, "₹"),
    ".": (PUNCT, "."),
    ",": (PUNCT, ","),
    ";": (PUNCT, ";"),
    ":": (PUNCT, ":"),
    "?": (PUNCT, "?"),
    "!": (PUNCT, "!"),
    '"': (PUNCT, '"'),
    "“": (PUNCT, '"'),
    "”": (PUNCT, '"'),
    "—": (PUNCT, "—"),
    "|": (BAR, "|"),
    "_": (US, "_"),
    "…": (DOTS, "..."),
    "→": (SEP, "=>"),
    "⇒": (SEP, "=>"),
    "√": (CMD, "sqrt"),
    "π": (CMD, "pi"),
    "²": (SUPPOW, Fraction(2)),
    "³": (SUPPOW, Fraction(3)),
    "½": (NUM, Fraction(1, 2)),
    "¼": (NUM, Fraction(1, 4)),
    "¾": (NUM, Fraction(3, 4)),
}
# Characters that always make the same token, whatever the mode or the neighbours.
SIMPLE_CHARS = {ch: (k, v, -1 if k == NUM else 0) for ch, (k, v) in CHARS.items() if ch not in "!&~{}"}
OP2: dict[str, tuple[str, object]] = {
    "==": (REL, "="),
    "<=": (REL, "other"),
    ">=": (REL, "other"),
    "!=": (REL, "other"),
    ":=": (REL, "other"),
    "=>": (SEP, "=>"),
    "->": (SEP, "=>"),
    "**": (PUNCT, "**"),  # markdown bold far more often than a power
    "...": (DOTS, "..."),
}
# Prose words that are operators or relations.
WORD_TOKENS: dict[str, tuple[str, object]] = {
    "times": (OP, "*"),
    "plus": (OP, "+"),
    "minus": (OP, "-"),
    "equals": (REL, "="),
    "percent": (PCT, "%"),
}
# Short letter runs in math mode that are units or words, not products of variables.
MATH_WORDS = frozenset(
    (
        "cm", "km", "kg", "mg", "ml", "mm", "hr", "hrs", "min", "mins", "sec", "secs", "ft", "yd", "mi",
        "lb", "lbs", "oz", "mph", "kph", "cal", "deg", "rad", "per", "day", "days", "yr", "yrs", "usd",
        "and", "or", "if", "so", "the", "for", "to", "of", "is", "are", "mod", "gcd", "lcm", "max", "min",
        "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln", "exp", "lim", "det", "arg", "dim", "ker",
        "hom", "inf", "sup",
    )
)


class Tok:
    """One token: kind, offsets in the step, value, mode (math or prose), decimals of a literal."""

    __slots__ = ("kind", "start", "end", "val", "math", "dec", "glued")

    def __init__(
        self, kind: str, start: int, end: int, val: object, math: bool, dec: int = 0, glued: bool = False
    ) -> None:
        self.kind = kind
        self.start = start
        self.end = end
        self.val = val
        self.math = math
        self.dec = dec
        self.glued = glued  # no space between this token and the previous one

    def __repr__(self) -> str:  # for debugging and test failure messages
        return f"{self.kind}({self.val!r})@{self.start}"
