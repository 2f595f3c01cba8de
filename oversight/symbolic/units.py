"""Units written after quantities: a comparable label, what they measure, the factors between them.

Units matter to the checker in two places only, both to *withhold* a mismatch:
- "2 hours + 30 minutes = 150 minutes": terms of one sum in different units *of the same kind*
  (time, length, mass, volume, money) are converted in the writer's head. Counts of different things
  ("20 flashlights + 36 candles = 56") add as they are, so they are not excused.
- "30 + 30 = 1 hour", "1.5 × 100 = 150 cents": sides that differ by exactly a conversion factor of the
  kind of unit one side names.
"""

from __future__ import annotations

from fractions import Fraction

_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "time": ("second", "sec", "minute", "min", "hour", "hr", "day", "week", "month", "year", "yr"),
    "length": ("mm", "cm", "meter", "metre", "km", "kilometer", "inch", "foot", "ft", "yard", "yd", "mile", "mi"),
    "mass": ("mg", "gram", "kg", "kilogram", "pound", "lb", "ounce", "oz", "ton"),
    "volume": ("ml", "milliliter", "liter", "litre", "gallon", "quart", "pint", "cup", "tablespoon", "teaspoon",
               "tbsp", "tsp"),
    "money": ("$", "€", "£", "cent", "penny"),
    "count": ("dozen", "score", "gross"),
}
DIMENSION = {unit: kind for kind, units in _DIMENSIONS.items() for unit in units}
FACTORS: dict[str, frozenset[Fraction]] = {
    "time": frozenset(Fraction(x) for x in (60, 3600, 24, 1440, 86400, 7, 168, 52, 365, 12, 30)),
    "length": frozenset(Fraction(x) for x in (10, 100, 1000, 12, 3, 36, 5280, 1760, 63360)),
    "mass": frozenset(Fraction(x) for x in (1000, 16, 2000, 10**6)),
    "volume": frozenset(Fraction(x) for x in (1000, 2, 4, 8, 16, 48, 128, 256, 3)),
    "money": frozenset((Fraction(100),)),
    "count": frozenset((Fraction(12), Fraction(20), Fraction(144))),
}
_CURRENCY_WORDS = {"dollar": "$", "dollars": "$", "usd": "$", "bucks": "$", "euro": "€", "euros": "€"}
_IRREGULAR = {"feet": "foot", "inches": "inch", "pennies": "penny", "lbs": "lb", "hrs": "hr", "mins": "min",
              "secs": "sec", "yrs": "yr", "people": "person", "children": "child"}


def singular(word: str) -> str:
    if word in _CURRENCY_WORDS:
        return _CURRENCY_WORDS[word]
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 2 and word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def unit_label(words: list[str]) -> str:
    """The head word of a unit, singular: "pounds per bale" -> "pound", "tablespoons of flour" ->
    "tablespoon", "dollars" -> "$". Qualifiers after it name what is counted, not the unit."""
    for word in words:
        if word not in ("/", "a", "an", "per", "of", "the"):
            return singular(word)
    return ""


def mixed(labels: set[str]) -> bool:
    """Do these labels (of one sum's terms) include two different units of the same kind?"""
    kinds: dict[str, str] = {}
    for label in labels:
        kind = DIMENSION.get(label)
        if kind is None:
            continue
        if kind in kinds and kinds[kind] != label:
            return True
        kinds[kind] = label
    return False


def conversion(left: set[str], right: set[str], ratio: Fraction) -> str | None:
    """The kind of unit whose conversion factor `ratio` (or its inverse) is, when both sides name
    different units of that kind, or only one side names units; None otherwise."""
    if left & right:
        return None
    left_kinds = {DIMENSION[u] for u in left if u in DIMENSION}
    right_kinds = {DIMENSION[u] for u in right if u in DIMENSION}
    # "100 yards ÷ 20 yards/minute = 15 minutes" names length on one side and time on the other:
    # no conversion between those. With units on one side only, that side's kinds.
    kinds = left_kinds & right_kinds if left and right else left_kinds | right_kinds
    for kind in kinds:
        factors = FACTORS[kind]
        if not (left and right):
            # One side unnamed: only factors a slip rarely lands on ("5 x 2 = 20 quarts" is not 2 pints).
            factors = frozenset(f for f in factors if f >= 12)
        if ratio in factors or (ratio != 0 and 1 / ratio in factors):
            return kind
    return None
