"""One long, deterministic chain of thought for the browser benchmarks (the same chain for every tool).

ProcessBench-like math steps of 150-250 characters, most with inline LaTeX (`\\(\\frac{a}{b}\\)`,
`\\(\\sqrt{...}\\)`, display math), about one in five with markdown bold (`**...**`); the first step
always has both, so a screenshot of the top of a workspace shows whether they render.
"""

import random

_WORDS = ("we", "the", "number", "of", "so", "then", "each", "total", "is", "and", "which", "gives", "since",
          "therefore", "apples", "boxes", "minutes", "remaining", "first", "second", "sum", "product", "value",
          "equation", "both", "sides", "by", "to", "find", "that", "this", "means", "angle", "triangle", "area")
MIN_CHARS, MAX_CHARS = 150, 250


def _fragment(rng: random.Random) -> str:
    a, b = rng.randint(2, 99), rng.randint(2, 99)
    words = " ".join(rng.choices(_WORDS, k=rng.randint(3, 8)))
    kind = rng.choices(range(6), weights=(25, 25, 10, 15, 10, 15))[0]
    if kind == 0:
        return f"{words.capitalize()} \\({a} \\times {b} = {a * b}\\)."
    if kind == 1:
        return f"Then \\(\\frac{{{a}}}{{{b}}} + {a} = \\frac{{{a + a * b}}}{{{b}}}\\), {words}."
    if kind == 2:
        return f"{words.capitalize()}: \\[x^2 - {a + b}x + {a * b} = 0.\\]"
    if kind == 3:
        return f"{words.capitalize()} \\(\\sqrt{{{a * a}}} = {a}\\)."
    if kind == 4:
        return f"So **{a} + {b} = {a + b}**, {words}."
    return f"{words.capitalize()} {a} + {b} = {a + b}."


def chain_steps(n_steps: int, seed: int = 0) -> list[str]:
    """`n_steps` step texts of MIN_CHARS-MAX_CHARS characters; the same list for the same arguments."""
    rng = random.Random(f"chain:{n_steps}:{seed}")
    steps: list[str] = []
    while len(steps) < n_steps:
        text = f"Step {len(steps) + 1}: "
        if not steps:
            text += "Let \\(\\frac{3}{4}\\) of the **total** be the apples, so "
        while len(text.strip()) < MIN_CHARS:
            text += _fragment(rng) + " "
        text = text.strip()
        if len(text) <= MAX_CHARS:
            steps.append(text)
    return steps


def problem_text(seed: int = 0) -> str:
    rng = random.Random(f"problem:{seed}")
    a, b, c = rng.randint(10, 99), rng.randint(2, 9), rng.randint(2, 9)
    return (f"A shop has {a} boxes with {b} apples each and sells \\(\\frac{{{c}}}{{{b * c}}}\\) of them each "
            f"day. How many apples are left after **{c} days**?")
