"""How values and expressions are written in findings: 68, 2.5, 10/3, ≈ 1.414213562; 17 × 4, √2."""

from __future__ import annotations

from fractions import Fraction

from .values import Number


def fmt(q: Number, exact: bool = True) -> str:
    """A value for people: 68, 2.5, 10/3, ≈ 1.414213562, 1.234568e+45."""
    if type(q) is int and -(10**30) < q < 10**30:
        return str(q)
    if not exact:
        return "≈ " + _short_decimal(q)
    if q.denominator == 1:
        digits = str(abs(q.numerator))
        if len(digits) > 30:
            sign = "-" if q < 0 else ""
            return f"{sign}{digits[0]}.{digits[1:7]}e+{len(digits) - 1}"
        return str(q.numerator)
    den = q.denominator
    twos = fives = 0
    while den % 2 == 0:
        den //= 2
        twos += 1
    while den % 5 == 0:
        den //= 5
        fives += 1
    places = max(twos, fives)
    if den == 1 and places <= 12:
        scaled = abs(q.numerator) * 10**places // q.denominator
        sign = "-" if q < 0 else ""
        whole, frac = divmod(scaled, 10**places)
        return f"{sign}{whole}.{frac:0{places}d}"
    if len(str(q.numerator)) + len(str(q.denominator)) <= 24:
        return f"{q.numerator}/{q.denominator}"
    return "≈ " + _short_decimal(q)


def _short_decimal(q: Fraction) -> str:
    if q == 0:
        return "0"
    magnitude = abs(q)
    if Fraction(1, 10**6) <= magnitude < 10**15:
        text = f"{float(q):.10g}"
        return text
    return f"{float(q):.6e}" if abs(q.numerator).bit_length() < 1000 else "(huge)"


def approx_suffix(q: Fraction) -> str:
    shown = fmt(q)
    return "" if "/" not in shown else f" ≈ {_short_decimal(q)}"


def show(node: tuple) -> str:
    """An expression for people: 17 × 4, 2(3x - 7), 14/2, √(2), 20% of 50 as 20% × 50."""
    kind = node[0]
    if kind == "n":
        value, dec = node[1], node[2]
        if dec > 0:
            return f"{float(value):.{dec}f}" if abs(value) < 10**15 else fmt(value)
        return fmt(value)
    if kind == "s":
        return str(node[1])
    if kind == "pi":
        return "π"
    if kind == "+":
        parts = []
        for index, (sign, term) in enumerate(node[1]):
            text = show(term)
            if index == 0:
                parts.append(text if sign > 0 else f"-{text}")
            else:
                parts.append(("+ " if sign > 0 else "- ") + text)
        return " ".join(parts)
    if kind == "*":
        out = ""
        for index, (op, factor) in enumerate(node[1]):
            text = show(factor)
            if factor[0] == "+":
                text = f"({text})"
            if index == 0:
                out = text
            elif op == "/":
                out += f" ÷ {text}"
            elif factor[0] in ("s", "g") and node[1][index - 1][1][0] in ("n", "s"):
                out += text
            else:
                out += f" × {text}"
        return out
    if kind == "g":
        return f"({show(node[1])})"
    if kind == "neg":
        return f"-{show(node[1])}"
    if kind == "%":
        return f"{show(node[1])}%"
    if kind == "!":
        return f"{show(node[1])}!"
    if kind == "abs":
        return f"|{show(node[1])}|"
    if kind == "frac":
        return f"{_atomic(node[1])}/{_atomic(node[2])}"
    if kind == "^":
        return f"{_atomic(node[1])}^{_atomic(node[2])}"
    if kind == "sqrt":
        prefix = "√" if node[2] is None else f"{_atomic(node[2])}√"
        return f"{prefix}{_atomic(node[1])}"
    if kind == "binom":
        return f"C({show(node[1])}, {show(node[2])})"
    return "?"


def eq_text(expression: str, value: str) -> str:
    """ "17 × 4 = 68", "√2 ≈ 1.414213562", and just "1/21" when the expression is its value."""
    if expression == value:
        return value
    if value.startswith("≈ "):
        return f"{expression} {value}"
    return f"{expression} = {value}"


def _atomic(node: tuple) -> str:
    text = show(node)
    return text if node[0] in ("n", "s", "g", "pi") and not text.startswith("-") else f"({text})"


