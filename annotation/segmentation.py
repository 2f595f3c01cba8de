"""Split a chain's raw text into steps. Pure: no Django.

Every step keeps its character span in the raw text, so `text[start:end].strip() == step`.
"""

import re
from dataclasses import dataclass

MODES = ("newline", "blank_line", "step_marker", "sentence")

# "Step 3:", "**Step 3.**", "step 3)" at the start of a line.
_STEP_MARKER = re.compile(r"^[ \t]*(?:\*\*|#+[ \t]*)?step[ \t]*\d+[ \t]*(?:\*\*)?[:.)][ \t]*(?:\*\*)?", re.I | re.M)
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
# A sentence ends at . ! or ? followed by white space and a capital, a digit, a `$` or `\(` (math), or at a
# line break; "3.5" and "e.g. the" do not end one.
_SENTENCE_END = re.compile(r"(?<=[.!?])[ \t]+(?=[A-Z0-9$\\(])|\n+")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def _strip_span(raw: str, start: int, end: int) -> Span | None:
    chunk = raw[start:end]
    stripped = chunk.strip()
    if not stripped:
        return None
    lead = len(chunk) - len(chunk.lstrip())
    return Span(start + lead, start + lead + len(stripped), stripped)


def _pieces(raw: str, separators: list[tuple[int, int]]) -> list[Span]:
    spans, cursor = [], 0
    for sep_start, sep_end in [*separators, (len(raw), len(raw))]:
        span = _strip_span(raw, cursor, sep_start)
        if span is not None:
            spans.append(span)
        cursor = sep_end
    return spans


def split_steps(raw: str, mode: str) -> list[Span]:
    """Steps of `raw` under `mode` (one of MODES); empty pieces are dropped."""
    if mode == "newline":
        return _pieces(raw, [(m.start(), m.end()) for m in re.finditer(r"\n", raw)])
    if mode == "blank_line":
        return _pieces(raw, [(m.start(), m.end()) for m in _BLANK_LINES.finditer(raw)])
    if mode == "step_marker":
        # The marker itself is dropped from the step's text; text before the first marker is a step.
        return _pieces(raw, [(m.start(), m.end()) for m in _STEP_MARKER.finditer(raw)])
    if mode == "sentence":
        return _pieces(raw, [(m.start(), m.end()) for m in _SENTENCE_END.finditer(raw)])
    raise ValueError(f"unknown segmentation {mode!r}; expected one of {', '.join(MODES)}")
