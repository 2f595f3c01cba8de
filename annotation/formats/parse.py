"""Parse an import file (stepwise JSONL, ProcessBench, PRM800K) into ParsedChain records. Pure: no Django.

A file with any bad row is refused whole: `parse_file` raises FileRefused listing line, field and
what is wrong, before anything is written.
"""

from collections.abc import Callable
from typing import Any

from ..segmentation import MODES, split_steps
from .reader import Row, RowErrors, iter_objects, refuse_if
from .records import ParsedCandidate, ParsedChain, ParsedLabels, RowError, text_hash

FORMATS = ("stepwise", "processbench", "prm800k")
FINISH_REASONS = ("solution", "found_error", "bad_problem", "give_up")


def detect_format(value: Any) -> str:
    """Guess the format from the first object of a file."""
    if isinstance(value, dict):
        if isinstance(value.get("label"), dict) and "question" in value:
            return "prm800k"
        if "label" in value and "steps" in value and "generator" in value:
            return "processbench"
    return "stepwise"


def parse_file(data: bytes, *, fmt: str = "auto", segmentation: str = "newline", filename: str = "",
               progress: Callable[[int], None] | None = None) -> tuple[str, list[ParsedChain]]:
    """(format used, chains) or FileRefused. `progress(line)` reports how far parsing got."""
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
    errors: list[RowError] = []
    chains: list[ParsedChain] = []
    seen_ids: dict[str, int] = {}
    seen_labels: dict[tuple[str, str], int] = {}
    parser = None
    for count, (line, value) in enumerate(iter_objects(data, errors), start=1):
        if parser is None:
            fmt = detect_format(value) if fmt == "auto" else fmt
            parser = _PARSERS[fmt]
        row = Row(line, value, errors)
        if not isinstance(value, dict):
            errors.append(RowError(line, "", f"is a JSON {type(value).__name__}; each row must be an object"))
            continue
        try:
            chain = parser(row, segmentation)
        except RowErrors:
            continue
        first = seen_ids.get(chain.source_id)
        if first is not None and fmt != "prm800k":
            errors.append(RowError(line, "id", f"'{chain.source_id}' is repeated (first at line {first}); ids must be unique in a file"))
            continue
        for labels in chain.labels:
            key = (chain.source_id, labels.source)
            if key in seen_labels:
                errors.append(RowError(line, "labeler", f"'{labels.source}' already labeled this same chain at line {seen_labels[key]}"))
            seen_labels[key] = line
        seen_ids.setdefault(chain.source_id, line)
        chains.append(chain)
        if progress and count % 1000 == 0:
            progress(line)
    if parser is None and not errors:
        errors.append(RowError(0, "", "the file holds no rows"))
    refuse_if(errors, filename)
    if progress:
        progress(data.count(b"\n") + 1)
    return fmt or "stepwise", _merge_repeats(chains)


def _merge_repeats(chains: list[ParsedChain]) -> list[ParsedChain]:
    """PRM800K has one row per labeler: rows with the same chain become one chain with several labels."""
    merged: dict[str, ParsedChain] = {}
    for chain in chains:
        if chain.source_id in merged:
            merged[chain.source_id].labels.extend(chain.labels)
        else:
            merged[chain.source_id] = chain
    return list(merged.values())


# --- stepwise JSONL (ours) -------------------------------------------------------------------------

def _parse_stepwise(row: Row, segmentation: str) -> ParsedChain:
    d = row.data
    source_id = _id(row, d)
    problem = row.text(d, "", "problem")
    metadata = row.get(d, "", "metadata", dict, required=False, default={}) or {}
    chain = ParsedChain(
        line=row.line, source_id=source_id, problem=problem, steps=[],
        reference_answer=row.get(d, "", "reference_answer", str, required=False, default="") or "",
        source_model=row.get(d, "", "model", str, required=False, default="") or "",
        final_answer=row.get(d, "", "final_answer", str, required=False, default="") or "",
        metadata=metadata, problem_source=str(metadata.get("source", "")),
    )
    has_steps, has_text = "steps" in d, "text" in d
    if has_steps == has_text:
        raise row.fail("steps", "give either 'steps' (a list of strings) or 'text' (split into steps), not "
                       + ("both" if has_steps else "neither"))
    if has_steps:
        chain.steps = row.string_list(d, "", "steps")
        return chain
    raw = row.text(d, "", "text")
    mode = row.get(d, "", "segmentation", str, required=False, default=segmentation) or segmentation
    if mode not in MODES:
        raise row.fail("segmentation", f"is '{mode}'; expected one of {', '.join(MODES)}")
    spans = split_steps(raw, mode)
    if not spans:
        raise row.fail("text", "has no steps after splitting")
    chain.raw_text, chain.segmentation = raw, mode
    chain.steps = [span.text for span in spans]
    chain.spans = [(span.start, span.end) for span in spans]
    return chain


def _id(row: Row, d: dict) -> str:
    value = row.get(d, "", "id", (str, int))
    value = str(value).strip()
    if not value:
        raise row.fail("id", "is empty")
    if len(value) > 200:
        raise row.fail("id", f"is {len(value)} characters long; at most 200")
    return value


# --- ProcessBench ----------------------------------------------------------------------------------

def _parse_processbench(row: Row, segmentation: str) -> ParsedChain:
    d = row.data
    source_id = _id(row, d)
    problem = row.text(d, "", "problem")
    steps = row.string_list(d, "", "steps")
    label = row.get(d, "", "label", int)
    if not -1 <= label < len(steps):
        raise row.fail("label", f"is {label}; expected -1 (no wrong step) or a 0-based step index below {len(steps)}")
    generator = row.get(d, "", "generator", str, required=False, default="") or ""
    row.get(d, "", "final_answer_correct", bool, required=False, nullable=True)  # type check only
    metadata = {key: value for key, value in d.items() if key not in {"id", "generator", "problem", "steps", "label"}}
    ratings: list[int | None]
    if label == -1:
        ratings = [1] * len(steps)
    else:
        # ProcessBench marks only the earliest wrong step: steps before it are right, after it unknown.
        ratings = [1] * label + [-1] + [None] * (len(steps) - label - 1)
    return ParsedChain(
        line=row.line, source_id=source_id, problem=problem, steps=steps, source_model=generator,
        metadata=metadata, problem_source="processbench",
        labels=[ParsedLabels(source="processbench", ratings=ratings, flagged=[None] * len(steps),
                             finish_reason="solution" if label == -1 else "found_error",
                             first_error_step=None if label == -1 else label)],
    )


# --- PRM800K ---------------------------------------------------------------------------------------

def _parse_prm800k(row: Row, segmentation: str) -> ParsedChain:
    d = row.data
    labeler = row.text(d, "", "labeler")
    question = row.get(d, "", "question", dict)
    problem = row.text(question, "question", "problem")
    answer = row.get(question, "question", "ground_truth_answer", str, required=False, nullable=True)
    label = row.get(d, "", "label", dict)
    raw_steps = row.get(label, "label", "steps", list)
    finish_reason = row.get(label, "label", "finish_reason", str)
    if finish_reason not in FINISH_REASONS:
        raise row.fail("label.finish_reason", f"is '{finish_reason}'; expected one of {', '.join(FINISH_REASONS)}")
    total_time = row.get(label, "label", "total_time", int, required=False, nullable=True)

    steps: list[str] = []
    ratings: list[int | None] = []
    flagged: list[bool | None] = []
    candidates: list[ParsedCandidate] = []
    null_steps: list[int] = []
    for position, entry in enumerate(raw_steps):
        path = f"label.steps[{position}]"
        if entry is None:  # real rows have whole steps that are null; keep where, for re-export
            null_steps.append(position)
            continue
        if not isinstance(entry, dict):
            raise row.fail(path, "is not an object or null")
        index = len(steps)
        completions = row.get(entry, path, "completions", list)
        chosen = row.get(entry, path, "chosen_completion", int, nullable=True)
        human = entry.get("human_completion")
        picked: tuple[str, int | None, bool | None] | None = None
        for i, completion in enumerate(completions):
            cpath = f"{path}.completions[{i}]"
            if not isinstance(completion, dict):
                raise row.fail(cpath, "is not an object")
            text = row.get(completion, cpath, "text", str)
            rating = _rating(row, completion, cpath)
            flag = row.get(completion, cpath, "flagged", bool, required=False, nullable=True)
            candidates.append(ParsedCandidate(index, i, "model", text, rating, flag, chosen == i))
            if chosen == i:
                picked = (text, rating, flag)
        if chosen is not None and not 0 <= chosen < len(completions):
            raise row.fail(f"{path}.chosen_completion", f"is {chosen} but the step has {len(completions)} completion(s)")
        if human is not None:
            hpath = f"{path}.human_completion"
            if isinstance(human, str):
                human = {"text": human, "rating": None, "source": "human", "flagged": None}
            if not isinstance(human, dict):
                raise row.fail(hpath, "is neither an object, a string nor null")
            text = row.get(human, hpath, "text", str)
            rating = _rating(row, human, hpath)
            flag = row.get(human, hpath, "flagged", bool, required=False, nullable=True)
            candidates.append(ParsedCandidate(index, 0, "human", text, rating, flag, chosen is None))
            if picked is None:
                picked = (text, rating, flag)
        if picked is None:
            if not completions:
                raise row.fail(f"{path}.completions", "is empty and there is no human completion")
            # The step the labeler stopped at (phase 2: the pre-generated step they rated).
            first = candidates[-len(completions)]
            picked = (first.text, first.rating, first.flagged)
        steps.append(picked[0])
        ratings.append(picked[1])
        flagged.append(picked[2])
    if not steps:
        raise row.fail("label.steps", "has no steps")
    first_error = next((i for i, r in enumerate(ratings) if r == -1), None)
    if finish_reason == "found_error" and first_error is None:
        raise row.fail("label.finish_reason", "is 'found_error' but no step is rated -1")
    question_extra = {k: v for k, v in question.items() if k not in {"problem", "ground_truth_answer"}}
    source_meta = {
        "labeler": labeler,
        "timestamp": d.get("timestamp"),
        "generation": d.get("generation"),
        "is_quality_control_question": d.get("is_quality_control_question", False),
        "is_initial_screening_question": d.get("is_initial_screening_question", False),
        "total_time": total_time,
        "null_steps": null_steps,
        "question": question_extra,
        "key_order": list(d.keys()),
    }
    chain = ParsedChain(
        line=row.line, source_id="", problem=problem, steps=steps, reference_answer=answer or "",
        source_model=str(question.get("pre_generated_model", "")) if "pre_generated_model" in question else "",
        metadata={"prm800k_question": question_extra} if question_extra else {},
        problem_source="prm800k",
        labels=[ParsedLabels(source=f"prm800k:{labeler}", ratings=ratings, flagged=flagged,
                             finish_reason=finish_reason,
                             first_error_step=first_error if finish_reason == "found_error" else None,
                             candidates=candidates, source_meta=source_meta)],
    )
    # PRM800K rows carry no id: the chain is named by its content, so every labeler of one
    # trajectory lands on one chain.
    chain.source_id = "prm800k-" + text_hash(chain.content_hash)[:20]
    return chain


def _rating(row: Row, obj: dict, path: str) -> int | None:
    rating = row.get(obj, path, "rating", int, required=False, nullable=True)
    if rating is not None and rating not in (-1, 0, 1):
        raise row.fail(f"{path}.rating", f"is {rating}; expected -1, 0, 1 or null")
    return rating


_PARSERS: dict[str, Callable[[Row, str], ParsedChain]] = {
    "stepwise": _parse_stepwise,
    "processbench": _parse_processbench,
    "prm800k": _parse_prm800k,
}
