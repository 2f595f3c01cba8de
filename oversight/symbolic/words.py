"""The prose vocabulary of the checker: words that end a quantity, that make the text around an
equality untrustworthy, that mark an approximation, and number words that scale."""

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
        "times", "squared", "cubed", "mod", "modulo", "remainder", "r", "point", "plus", "minus", "over",
        "divided", "multiplied", "percent",
    )
)
APPROX_WORDS = frozenset(
    (
        "about", "approximately", "approx", "roughly", "around", "nearly", "almost",
    )
)
ROUNDING_NOTES = ("round", "approx", "about", "nearest", "estimate")
# Number words that scale the number before them. Not "dozen": "66 / 12 = 5.5 dozen" uses it as a
# unit as often as "3 dozen = 36" as a number; as a unit it is excused by its factor (units.py).
SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9, "trillion": 10**12}
# Words before "of" that make it a multiplication or a function of what follows.
MULTIPLIERS = frozenset(
    (
        "half", "halves", "third", "thirds", "quarter", "quarters", "fourth", "fourths", "fifth", "fifths",
        "sixth", "sixths", "seventh", "sevenths", "eighth", "eighths", "ninth", "ninths", "tenth", "tenths",
        "hundredth", "hundredths", "percent", "percentage", "fraction", "part", "parts", "portion", "share",
        "twice", "double", "triple", "square", "cube", "root", "sqrt", "log", "logarithm", "power", "reciprocal",
        "inverse", "negative", "opposite", "absolute", "factorial", "multiple", "times", "ratio",
    )
)
