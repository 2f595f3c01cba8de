"""Values of parsed expressions: exact rationals first, sympy only for what rationals cannot hold.

Order of attempts, cheapest first:
1. `exact(node)`: `fractions.Fraction` arithmetic. Covers integers, decimals, percentages, `\\frac`,
   integer powers, perfect roots (`\\sqrt{16}`, `8^{1/3}`), factorials and binomials: nearly all the
   arithmetic in GSM8K- and MATH-style chains, at a few microseconds per expression.
2. `approximate(node)`: sympy, for radicals, pi and rational powers that are not perfect (`\\sqrt{2}`,
   `2\\pi`). The tree is rebuilt with sympy constructors (Rational, Add, Mul, Pow, sqrt, root), never
   by parsing text, and evaluated to 50 significant digits.
3. `samples(node)`: expressions with variables are evaluated exactly at three fixed points with large,
   unrelated integer coordinates. Two polynomials or rational functions that agree at such points are
   the same function except with negligible probability (Schwartz-Zippel): that is how an identity
   (`2(3x-7) = 6x - 14`) is told from an equation (`5x = 2(3x-7)`) without calling sympy.

Sizes are bounded before anything is computed: exponents beyond 10,000, results beyond about
12,000 digits, factorials beyond 1,000! raise `TooLarge`, so `9^9^9` or `10^{10^{10}}` cost nothing.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from functools import lru_cache

MAX_EXPONENT = 10_000
MAX_BITS = 40_000  # about 12,000 decimal digits
MAX_FACTORIAL = 1_000
MAX_ROOT_INDEX = 12
MAX_SYMPY_EXPONENT = 1_000
MAX_SAMPLED_EXPONENT = 200
SAMPLE_POINTS = 3
APPROX_DIGITS = 50


class NotEvaluable(Exception):
    """The expression has no value we can trust; the message says why, for the finding's detail."""


class TooLarge(NotEvaluable):
    pass


class Irrational(NotEvaluable):
    """Needs sympy: a radical, pi, or a rational power that is not a perfect power."""


class HasSymbols(NotEvaluable):
    pass


def _int_root(value: int, k: int) -> int | None:
    if value < 0:
        if k % 2 == 0:
            return None
        root = _int_root(-value, k)
        return -root if root is not None else None
    if k == 2:
        root = math.isqrt(value)
        return root if root * root == value else None
    root = round(value ** (1.0 / k)) if value.bit_length() < 1000 else None
    if root is None:
        return None
    for candidate in (root - 1, root, root + 1):
        if candidate >= 0 and candidate**k == value:
            return candidate
    return None


Number = int | Fraction  # whole values stay ints: int arithmetic is several times faster than Fraction's


def _norm(value: Fraction) -> Number:
    return value.numerator if value.denominator == 1 else value


def divide(a: Number, b: Number) -> Number:
    if b == 0:
        raise ZeroDivisionError
    if type(a) is int and type(b) is int:
        q, r = divmod(a, b)
        return q if r == 0 else Fraction(a, b)
    return _norm(a / b)


def exact_root(value: Number, k: int) -> Number | None:
    """The exact k-th root of a rational, or None when it is irrational (or complex)."""
    if value.numerator.bit_length() > MAX_BITS:
        raise TooLarge("number too large")
    num = _int_root(value.numerator, k)
    den = _int_root(value.denominator, k)
    if num is None or den is None:
        return None
    return num if den == 1 else Fraction(num, den)


def power(base: Number, exponent: Number) -> Number:
    if exponent.denominator != 1:
        q = exponent.denominator
        if q > MAX_ROOT_INDEX:
            raise Irrational("power with a fractional exponent")
        root = exact_root(base, q)
        if root is None:
            raise Irrational("power with a fractional exponent")
        return power(root, exponent.numerator)
    k = exponent.numerator
    if base == 0 and k < 0:
        raise ZeroDivisionError
    if k == 0:
        return 1
    if base == 0 or base == 1:
        return base.numerator
    if base == -1:
        return -1 if k % 2 else 1
    if abs(k) > MAX_EXPONENT:
        raise TooLarge("exponent too large to evaluate")
    bits = max(base.numerator.bit_length(), base.denominator.bit_length())
    if bits * abs(k) > MAX_BITS:
        raise TooLarge("power too large to evaluate")
    if k < 0:
        return divide(1, base ** (-k))
    return base**k


def _integer(value: Number, what: str) -> int:
    if value.denominator != 1:
        raise NotEvaluable(f"{what} of a non-integer")
    return value.numerator


def _check_size(value: Number) -> Number:
    if value.numerator.bit_length() > MAX_BITS or value.denominator.bit_length() > MAX_BITS:
        raise TooLarge("number too large")
    return value


def evaluate(node: tuple, env: dict[str, Number] | None = None) -> Number:  # noqa: C901
    """Exact value of a tree; variables come from `env` (sampling) or raise HasSymbols."""
    kind = node[0]
    if kind == "n":
        return node[1]
    if kind == "*":
        product: Number = 1
        for op, factor in node[1]:
            value = evaluate(factor, env)
            product = _check_size(product * value if op == "*" else divide(product, value))
        return product
    if kind == "+":
        total: Number = 0
        for sign, term in node[1]:
            value = evaluate(term, env)
            total = total + value if sign > 0 else total - value
        return total
    if kind == "g":
        return evaluate(node[1], env)
    if kind == "neg":
        return -evaluate(node[1], env)
    if kind == "%":
        return divide(evaluate(node[1], env), 100)
    if kind == "frac":
        return divide(evaluate(node[1], env), evaluate(node[2], env))
    if kind == "^":
        exponent = evaluate(node[2], env)
        if env is not None and abs(exponent) > MAX_SAMPLED_EXPONENT:
            # At the sampling points (~10^6), \omega^{1997} has 12,000 digits: not worth it.
            raise NotEvaluable("power too high to sample")
        return power(evaluate(node[1], env), exponent)
    if kind == "s":
        if env is None or node[1] not in env:
            raise HasSymbols(node[1])
        return env[node[1]]
    if kind == "sqrt":
        k = 2 if node[2] is None else _integer(evaluate(node[2], env), "root index")
        if not 2 <= k <= MAX_ROOT_INDEX:
            raise NotEvaluable("root index out of range")
        value = evaluate(node[1], env)
        root = exact_root(value, k)
        if root is None:
            if value < 0 and k % 2 == 0:
                raise NotEvaluable("square root of a negative number")
            raise Irrational("irrational root")
        return root
    if kind == "abs":
        return abs(evaluate(node[1], env))
    if kind == "!":
        n = _integer(evaluate(node[1], env), "factorial")
        if n < 0:
            raise NotEvaluable("factorial of a negative number")
        if n > MAX_FACTORIAL:
            raise TooLarge("factorial too large to evaluate")
        return math.factorial(n)
    if kind == "binom":
        n = _integer(evaluate(node[1], env), "binomial")
        k = _integer(evaluate(node[2], env), "binomial")
        if n > 10 * MAX_FACTORIAL or n < 0:
            raise TooLarge("binomial too large to evaluate")
        return math.comb(n, k) if k >= 0 else 0
    if kind == "pi":
        raise Irrational("pi")
    raise NotEvaluable(f"unsupported {kind}")


def symbols(node: tuple, out: set[str] | None = None) -> set[str]:
    """Names of the variables in a tree."""
    if out is None:
        out = set()
    kind = node[0]
    if kind == "s":
        out.add(node[1])
    elif kind in ("+", "*"):
        for _, child in node[1]:
            symbols(child, out)
    elif kind in ("g", "neg", "%", "abs", "!"):
        symbols(node[1], out)
    elif kind in ("frac", "^", "binom"):
        symbols(node[1], out)
        symbols(node[2], out)
    elif kind == "sqrt":
        symbols(node[1], out)
        if node[2] is not None:
            symbols(node[2], out)
    return out


# Sampling points: large, unrelated integers so that no hand-written polynomial vanishes on all three
# by accident. Fixed (seeded) so findings are reproducible.
_RNG = random.Random(20240517)
_POINTS = [[_RNG.randrange(10_007, 999_983) for _ in range(64)] for _ in range(SAMPLE_POINTS)]


def samples(node: tuple, names: list[str]) -> list[Number]:
    """Exact values of a tree at the sampling points; variables beyond 64 are not sampled."""
    if len(names) > 64:
        raise NotEvaluable("too many variables")
    env = {name: tuple(point[index] for point in _POINTS) for index, name in enumerate(names)}
    try:
        return list(_evaluate3(node, env))
    except Irrational as exc:
        raise NotEvaluable("radical or power of a variable") from exc


def _evaluate3(node: tuple, env: dict[str, tuple[Number, ...]]) -> tuple[Number, ...]:  # noqa: C901
    """`evaluate` at the three sampling points in one walk of the tree (a tuple of three values)."""
    kind = node[0]
    if kind == "n":
        v = node[1]
        return (v, v, v)
    if kind == "s":
        try:
            return env[node[1]]
        except KeyError:
            raise HasSymbols(node[1]) from None
    if kind == "+":
        t0 = t1 = t2 = 0
        for sign, term in node[1]:
            a, b, c = _evaluate3(term, env)
            if sign > 0:
                t0, t1, t2 = t0 + a, t1 + b, t2 + c
            else:
                t0, t1, t2 = t0 - a, t1 - b, t2 - c
        return (t0, t1, t2)
    if kind == "*":
        p0 = p1 = p2 = 1
        for op, factor in node[1]:
            a, b, c = _evaluate3(factor, env)
            if op == "*":
                p0, p1, p2 = p0 * a, p1 * b, p2 * c
            else:
                p0, p1, p2 = divide(p0, a), divide(p1, b), divide(p2, c)
        return (_check_size(p0), _check_size(p1), _check_size(p2))
    if kind == "g":
        return _evaluate3(node[1], env)
    if kind == "neg":
        a, b, c = _evaluate3(node[1], env)
        return (-a, -b, -c)
    if kind == "%":
        return tuple(divide(v, 100) for v in _evaluate3(node[1], env))
    if kind == "frac":
        top, bottom = _evaluate3(node[1], env), _evaluate3(node[2], env)
        return tuple(divide(x, y) for x, y in zip(top, bottom, strict=True))
    if kind == "^":
        exponents = _evaluate3(node[2], env)
        if exponents[0] != exponents[1] or exponents[0] != exponents[2]:
            raise NotEvaluable("power with a variable exponent")
        if abs(exponents[0]) > MAX_SAMPLED_EXPONENT:
            # At the sampling points (~10^6), \omega^{1997} has 12,000 digits: not worth it.
            raise NotEvaluable("power too high to sample")
        return tuple(power(v, exponents[0]) for v in _evaluate3(node[1], env))
    # sqrt, abs, factorial, binomial, pi: rare next to variables; one point at a time.
    return tuple(evaluate(node, {name: values[k] for name, values in env.items()}) for k in range(SAMPLE_POINTS))


def sample_coordinates(name_index: int) -> list[int]:
    return [point[name_index] for point in _POINTS]


def _key(node: tuple) -> tuple:
    """The node without token indexes, hashable: equal expressions anywhere share a cache entry."""
    kind = node[0]
    if kind == "n":
        return ("n", node[1], node[2], -1)
    if kind in ("+", "*"):
        return (kind, tuple((op, _key(child)) for op, child in node[1]))
    return (kind, *(_key(child) if isinstance(child, tuple) else child for child in node[1:]))


def approximate(node: tuple) -> tuple[Number, bool]:
    """sympy's value of a variable-free tree (see `_approximate`), cached: a chain's steps repeat
    their radicals."""
    return _approximate(_key(node))


@lru_cache(maxsize=2048)
def _approximate(node: tuple) -> tuple[Number, bool]:
    """A variable-free tree's value through sympy: (value, whether the value is exact).

    Exact when sympy simplifies it to a rational; otherwise a 50-digit rational approximation.
    """
    import sympy  # imported here: the rational fast path never pays for it

    expr = _to_sympy(node, sympy)
    if expr.is_Rational:  # sympy simplified it exactly: sqrt(2)*sqrt(8) is 4
        return _norm(Fraction(int(expr.p), int(expr.q))), True
    value = expr.evalf(APPROX_DIGITS)
    if not value.is_real or not value.is_number:
        raise NotEvaluable("not a real number")
    try:
        return Fraction(str(value)), False
    except (ValueError, ZeroDivisionError) as exc:
        raise NotEvaluable("no numeric value") from exc


def _to_sympy(node: tuple, sp):  # noqa: ANN001 - sympy's types
    kind = node[0]
    if kind == "n":
        return sp.Rational(node[1].numerator, node[1].denominator)
    if kind == "+":
        return sp.Add(*[_to_sympy(t, sp) if s > 0 else -_to_sympy(t, sp) for s, t in node[1]])
    if kind == "*":
        parts = []
        for op, factor in node[1]:
            value = _to_sympy(factor, sp)
            if op == "/":
                if value == 0:
                    raise ZeroDivisionError
                value = sp.Pow(value, -1)
            parts.append(value)
        return sp.Mul(*parts)
    if kind in ("g",):
        return _to_sympy(node[1], sp)
    if kind == "neg":
        return -_to_sympy(node[1], sp)
    if kind == "%":
        return _to_sympy(node[1], sp) / 100
    if kind == "frac":
        denominator = _to_sympy(node[2], sp)
        if denominator == 0:
            raise ZeroDivisionError
        return _to_sympy(node[1], sp) / denominator
    if kind == "^":
        # Bound the exponent before sympy sees it (sympy would expand 9**387420489): it must be a
        # rational we can evaluate, and small.
        try:
            exact_exponent = evaluate(node[2])
        except Irrational as exc:
            raise NotEvaluable("irrational exponent") from exc
        if abs(exact_exponent) > MAX_SYMPY_EXPONENT:
            raise TooLarge("exponent too large to evaluate")
        base = _to_sympy(node[1], sp)
        return sp.Pow(base, sp.Rational(exact_exponent.numerator, exact_exponent.denominator))
    if kind == "sqrt":
        inner = _to_sympy(node[1], sp)
        if node[2] is None:
            return sp.sqrt(inner)
        k = _integer(evaluate(node[2]), "root index")
        if not 2 <= k <= MAX_ROOT_INDEX:
            raise NotEvaluable("root index out of range")
        return sp.root(inner, k)
    if kind == "abs":
        return sp.Abs(_to_sympy(node[1], sp))
    if kind == "pi":
        return sp.pi
    if kind in ("!", "binom"):
        return sp.Integer(int(evaluate(node)))
    raise NotEvaluable(f"unsupported {kind}")


def interval(node: tuple, rounded: frozenset[int]) -> tuple[Fraction, Fraction]:
    """Range of a variable-free tree when each literal in `rounded` (token indexes) may be off by half a
    unit in its last decimal place. Raises NotEvaluable for anything but + - × ÷ and integer powers.
    """
    kind = node[0]
    if kind == "n":
        if node[3] in rounded and node[2] > 0:
            half = Fraction(1, 2 * 10 ** node[2])
            return node[1] - half, node[1] + half
        return node[1], node[1]
    if kind == "+":
        lo = hi = Fraction(0)
        for sign, term in node[1]:
            a, b = interval(term, rounded)
            if sign > 0:
                lo, hi = lo + a, hi + b
            else:
                lo, hi = lo - b, hi - a
        return lo, hi
    if kind in ("*", "frac"):
        pairs = node[1] if kind == "*" else [("*", node[1]), ("/", node[2])]
        lo = hi = Fraction(1)
        for op, factor in pairs:
            a, b = interval(factor, rounded)
            if op == "/":
                if a <= 0 <= b:
                    raise NotEvaluable("division by a range containing zero")
                a, b = Fraction(1) / b, Fraction(1) / a
            products = (lo * a, lo * b, hi * a, hi * b)
            lo, hi = min(products), max(products)
        return lo, hi
    if kind == "g":
        return interval(node[1], rounded)
    if kind == "neg":
        a, b = interval(node[1], rounded)
        return -b, -a
    if kind == "%":
        a, b = interval(node[1], rounded)
        return Fraction(a, 100), Fraction(b, 100)
    if kind == "^":
        exponent = evaluate(node[2])
        if exponent.denominator != 1 or not 0 <= exponent <= 64:
            raise NotEvaluable("power in a rounded range")
        a, b = interval(node[1], rounded)
        k = exponent.numerator
        ends = (power(a, exponent), power(b, exponent))
        if k % 2 == 0 and a < 0 < b:
            return Fraction(0), max(ends)
        return min(ends), max(ends)
    raise NotEvaluable(f"unsupported {kind} in a rounded range")
