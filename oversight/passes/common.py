"""Shared pieces of the passes: the chain as a prompt, bounded text, lenient JSON reading."""

import json
import re

MAX_FIELD = 4000
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


class Malformed(ValueError):
    """The model's answer could not be used; the message says why (recorded with the result)."""


def bounded(value: object, limit: int = MAX_FIELD) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text if len(text) <= limit else text[:limit] + " [cut]"


def read_json_object(content: str, finish_reason: str) -> dict:
    """The JSON object in a model's answer: the whole answer, or inside a code fence, or the outermost
    braces of a chatty one. A cut-off answer (finish_reason "length") or anything else is Malformed."""
    if finish_reason == "length":
        raise Malformed("the answer was cut off at the token limit (finish_reason=length)")
    text = _FENCE.sub("", content.strip())
    for candidate in (text, text[text.find("{"): text.rfind("}") + 1] if "{" in text else ""):
        if not candidate:
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise Malformed(f"no JSON object in the answer: {bounded(content, 200)!r}")


def window(steps: list[str], index: int, context_chars: int) -> tuple[int, list[str]]:
    """The steps before `index` that fit in `context_chars` (the nearest first kept): (first index, texts)."""
    start, used = index, 0
    while start > 0 and used + len(steps[start - 1]) <= context_chars:
        start -= 1
        used += len(steps[start])
    return start, steps[start:index]


def chain_prompt(problem: str, steps: list[str], index: int, context_chars: int) -> str:
    start, before = window(steps, index, context_chars)
    lines = [f"Problem:\n{problem}\n", "Solution so far:"]
    if start > 0:
        lines.append(f"[steps 1 to {start} left out for length]")
    lines += [f"Step {start + n + 1}: {text}" for n, text in enumerate(before)]
    lines.append(f"\nStep under review (step {index + 1}):\n{steps[index]}")
    return "\n".join(lines)
