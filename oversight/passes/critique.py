"""Critique: a model's verdict on one step, with the span it is about (checked verbatim against the step)."""

from dataclasses import dataclass

from .common import Malformed, bounded, chain_prompt, read_json_object

VERDICTS = ("correct", "incorrect", "unsure")
MAX_EXPLANATION = 800
MAX_QUOTE = 300
MAX_TOKENS = 600
CONTEXT_CHARS = 6000  # steps before the reviewed one given as context (the nearest first)

SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "explanation": {"type": "string", "maxLength": MAX_EXPLANATION},
        "quote": {"type": "string", "maxLength": MAX_QUOTE},
    },
    "required": ["verdict", "confidence", "explanation", "quote"],
    "additionalProperties": False,
}

SYSTEM = (
    "You check one step of a step-by-step math solution. Judge only the step under review, given the "
    "problem and the steps before it. Answer with one JSON object: verdict (correct, incorrect or unsure), "
    "confidence (0 to 1), explanation (one or two sentences), quote (the exact words of the step your "
    "verdict is about, copied character for character, or an empty string)."
)


@dataclass(frozen=True)
class CritiqueResult:
    verdict: str  # correct / incorrect / unsure / malformed
    confidence: float | None
    explanation: str
    quote: str
    quote_verified: bool | None
    raw: str = ""


def messages(problem: str, steps: list[str], index: int, context_chars: int = CONTEXT_CHARS) -> list[dict]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": chain_prompt(problem, steps, index, context_chars)}]


def parse(content: str, finish_reason: str, step_text: str) -> CritiqueResult:
    """The model's answer as a result; an unusable one as verdict "malformed" with the reason and the raw text."""
    try:
        data = read_json_object(content, finish_reason)
        verdict = data.get("verdict")
        if not isinstance(verdict, str) or verdict.strip().lower() not in VERDICTS:
            raise Malformed(f"verdict must be one of {', '.join(VERDICTS)}; got {bounded(verdict, 40)!r}")
        confidence = data.get("confidence")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
            raise Malformed(f"confidence must be a number from 0 to 1; got {bounded(confidence, 40)!r}")
        quote = bounded(data.get("quote"), MAX_QUOTE).strip()
        return CritiqueResult(verdict=verdict.strip().lower(), confidence=float(confidence),
                              explanation=bounded(data.get("explanation"), MAX_EXPLANATION).strip(), quote=quote,
                              quote_verified=(quote in step_text) if quote else None)
    except Malformed as exc:
        return CritiqueResult(verdict="malformed", confidence=None, explanation=str(exc), quote="",
                              quote_verified=None, raw=bounded(content, 2000))
