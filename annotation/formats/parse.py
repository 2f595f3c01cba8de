"""Parse an import file (stepwise JSONL, ProcessBench, PRM800K) into ParsedChain records. Pure: no Django.

`parse_rows` streams: one ParsedChain at a time, bad rows recorded in `errors` (line, field, what
is wrong and how to fix it) while reading goes on, so one pass reports every bad line. The caller
writes nothing unless the whole file is good. No field is dropped silently: fields a format does
not know are kept in the chain's metadata and listed in `unknown_fields`.
"""

import io
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from ..segmentation import MODES, split_steps
from .reader import Row, RowErrors, Value, depth, iter_values, locate, refuse_if
from .records import FileRefused, Limits, ParsedCandidate, ParsedChain, ParsedLabels, RowError, text_hash

FORMATS = ("stepwise", "processbench", "prm800k")
FINISH_REASONS = ("solution", "found_error", "bad_problem", "give_up")

STEPWISE_FIELDS = frozenset({"id", "problem", "steps", "text", "segmentation", "reference_answer", "model",
                             "final_answer", "metadata"})
PROCESSBENCH_FIELDS = frozenset({"id", "generator", "problem", "steps", "label", "final_answer_correct"})
PRM800K_FIELDS = frozenset({"labeler", "timestamp", "generation", "is_quality_control_question",
                            "is_initial_screening_question", "question", "label"})
PRM800K_QUESTION = frozenset({"problem", "ground_truth_answer", "ground_truth_solution", "pre_generated_steps",
                              "pre_generated_answer", "pre_generated_answer_correct", "pre_generated_verifier_score",
                              "pre_generated_model"})
PRM800K_LABEL = frozenset({"steps", "total_time", "finish_reason"})
PRM800K_STEP = frozenset({"completions", "human_completion", "chosen_completion"})
PRM800K_COMPLETION = frozenset({"text", "rating", "flagged", "source"})


def detect_format(value: Any) -> str:
    """Guess the format from the first row of a file."""
    if isinstance(value, dict):
        label = value.get("label")
        if isinstance(label, dict) and "question" in value:
            return "prm800k"
        # ProcessBench rows carry `label` (the first wrong step): a row with steps and a label is one,
        # whatever else it has, so its labels are never dropped as those of an unknown field.
        if "label" in value and "steps" in value:
            return "processbench"
    return "stepwise"


Parser = Callable[[Row, str, Limits], ParsedChain]


def parse_rows(stream: IO[bytes], *, fmt: str = "auto", segmentation: str = "newline",
               limits: Limits | None = None, errors: list[RowError],
               on_format: Callable[[str], None] | None = None) -> Iterator[ParsedChain]:
    """Every good row of the file as a ParsedChain; bad rows go to `errors`, reading goes on.

    `on_format(name)` is told the format once the first row is read (auto-detection).
    Duplicate ids within the file are the caller's to check (PRM800K repeats a chain once per labeler).
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected auto or one of {', '.join(FORMATS)}")
    limits = limits or Limits()
    parser: Parser | None = None
    for value in iter_values(stream, errors, limits):
        if parser is None:
            fmt = detect_format(value.data) if fmt == "auto" else fmt
            parser = _PARSERS[fmt]
            if on_format:
                on_format(fmt)
        if len(errors) >= limits.max_errors:
            return
        row = Row(value.line, value.data, errors, item=value.item)
        if not isinstance(value.data, dict):
            row.error("", f"is a JSON {type(value.data).__name__}; each row must be an object")
            continue
        try:
            chain = parser(row, segmentation, limits)
        except RowErrors:
            continue
        chain.line, chain.item = value.line, value.item
        yield chain


def add_lines(stream: IO[bytes], errors: list[RowError], limits: Limits | None = None) -> list[RowError]:
    """`errors` with the line of every row that was only known by its position (fast array reading)."""
    pending = {e.item for e in errors if not e.line and e.item}
    if not pending:
        return errors
    lines = locate(stream, pending, limits or Limits())
    return [RowError(lines.get(e.item, 0), e.field, e.message, item=e.item) if not e.line and e.item else e
            for e in errors]


def parse_file(data: bytes, *, fmt: str = "auto", segmentation: str = "newline", filename: str = "",
               limits: Limits | None = None) -> tuple[str, list[ParsedChain]]:
    """(format, chains) of a whole file in memory, or FileRefused: for tests and small files.

    Rows of one PRM800K trajectory by several labelers become one chain with several label sets.
    """
    errors: list[RowError] = []
    found: list[str] = []
    stream = io.BytesIO(data)
    chains: dict[str, ParsedChain] = {}
    seen: dict[str, int] = {}
    for chain in parse_rows(stream, fmt=fmt, segmentation=segmentation, limits=limits, errors=errors,
                            on_format=found.append):
        first = chains.get(chain.source_id)
        if first is None:
            chains[chain.source_id] = chain
            seen[chain.source_id] = chain.line
        elif found[0] == "prm800k":
            first.labels.extend(chain.labels)
        else:
            errors.append(RowError(chain.line, "id", f"'{chain.source_id}' is repeated (first at "
                                                    f"{'line ' + str(seen[chain.source_id]) if seen[chain.source_id] else 'an earlier item'}); "
                                                    "ids must be unique in a file", item=chain.item))
    if not found and not errors:
        errors.append(RowError(0, "", "the file holds no rows"))
    refuse_if(add_lines(stream, errors, limits), filename)
    return (found[0] if found else "stepwise"), list(chains.values())


# --- shared field checks ---------------------------------------------------------------------------

def _id(row: Row, d: dict) -> str:
    value = row.get(d, "", "id", (str, int))
    value = str(value).strip()
    if not value:
        raise row.fail("id", "is empty")
    if len(value) > 200:
        raise row.fail("id", f"is {len(value)} characters long; at most 200")
    if "\x00" in value:
        raise row.fail("id", "contains a NUL character (\\u0000); remove it")
    return value


def _free_form(row: Row, field: str, value: Any, limits: Limits) -> Any:
    """A metadata-like value: nesting and size bounded, NUL refused (PostgreSQL cannot store it)."""
    if depth(value, limits.max_depth) > limits.max_depth:
        raise row.fail(field, f"is nested deeper than {limits.max_depth} levels; flatten it")
    encoded = orjson.dumps(value)
    if len(encoded) > limits.max_metadata_bytes:
        raise row.fail(field, f"is {len(encoded):,} bytes of JSON; at most {limits.max_metadata_bytes:,}")
    if b"\\u0000" in encoded:
        raise row.fail(field, "contains a NUL character (\\u0000), which cannot be stored; remove it")
    return value


def _check_steps_nul(row: Row, chain: ParsedChain, field: str) -> None:
    if b"\\u0000" in chain.steps_json:
        index = next(i for i, step in enumerate(chain.steps) if "\x00" in step)
        raise row.fail(f"{field}[{index}]", "contains a NUL character (\\u0000), which cannot be stored; remove it")


def _unknown(row: Row, d: dict, known: frozenset, limits: Limits, prefix: str = "") -> dict:
    """The fields of `d` outside `known`, checked as free-form values (kept, never dropped)."""
    extra = {key: value for key, value in d.items() if key not in known}
    for key, value in extra.items():
        _free_form(row, f"{prefix}{key}", value, limits)
    return extra


# --- stepwise JSONL (ours) -------------------------------------------------------------------------

def _parse_stepwise(row: Row, segmentation: str, limits: Limits) -> ParsedChain:
    d = row.data
    source_id = _id(row, d)
    problem = row.text(d, "", "problem", limit=limits.max_text_chars)
    metadata = row.get(d, "", "metadata", dict, required=False, default={}) or {}
    metadata = dict(_free_form(row, "metadata", metadata, limits))
    extra = _unknown(row, d, STEPWISE_FIELDS, limits)
    for key in extra:
        if key in metadata:
            raise row.fail(key, "is both a field of the row and a key of its metadata; rename one of them")
    chain = ParsedChain(
        line=row.line, source_id=source_id, problem=problem, steps=[],
        reference_answer=row.text(d, "", "reference_answer", required=False, limit=limits.max_text_chars),
        source_model=row.text(d, "", "model", required=False, limit=200),
        final_answer=row.text(d, "", "final_answer", required=False, limit=limits.max_text_chars),
        metadata={**metadata, **extra}, problem_source=str(metadata.get("source", ""))[:100],
        unknown_fields=list(extra),
    )
    has_steps, has_text = "steps" in d, "text" in d
    if has_steps == has_text:
        raise row.fail("steps", "give either 'steps' (a list of strings) or 'text' (split into steps), not "
                       + ("both" if has_steps else "neither"))
    if has_steps:
        chain.steps = row.string_list(d, "", "steps", limits)
        _check_steps_nul(row, chain, "steps")
        return chain
    raw = row.text(d, "", "text", limit=limits.max_raw_chars)
    mode = row.get(d, "", "segmentation", str, required=False, default=segmentation) or segmentation
    if mode not in MODES:
        raise row.fail("segmentation", f"is '{mode}'; expected one of {', '.join(MODES)}")
    spans = split_steps(raw, mode)
    if not spans:
        raise row.fail("text", "has no steps after splitting")
    if len(spans) > limits.max_steps:
        raise row.fail("text", f"splits into {len(spans):,} steps ({mode}); at most {limits.max_steps:,} per chain "
                               "(STEPWISE_IMPORT_MAX_STEPS): check the segmentation, split the chain, or raise the limit")
    too_long = next((i for i, span in enumerate(spans) if len(span.text) > limits.max_step_chars), None)
    if too_long is not None:
        raise row.fail("text", f"step {too_long + 1} is {len(spans[too_long].text):,} characters long after "
                               f"splitting ({mode}); at most {limits.max_step_chars:,} per step")
    chain.raw_text, chain.segmentation = raw, mode
    chain.steps = [span.text for span in spans]
    chain.spans = [(span.start, span.end) for span in spans]
    return chain


# --- ProcessBench ----------------------------------------------------------------------------------

def _parse_processbench(row: Row, segmentation: str, limits: Limits) -> ParsedChain:
    d = row.data
    source_id = _id(row, d)
    problem = row.text(d, "", "problem", limit=limits.max_text_chars)
    steps = row.string_list(d, "", "steps", limits)
    label = row.get(d, "", "label", int)
    if not -1 <= label < len(steps):
        raise row.fail("label", f"is {label}; expected -1 (no wrong step) or a 0-based step index below {len(steps)}")
    generator = row.text(d, "", "generator", required=False, limit=200)
    row.get(d, "", "final_answer_correct", bool, required=False, nullable=True)  # type check only
    extra = _unknown(row, d, PROCESSBENCH_FIELDS, limits)
    metadata = {key: value for key, value in d.items() if key not in {"id", "generator", "problem", "steps", "label"}}
    ratings: list[int | None]
    if label == -1:
        ratings = [1] * len(steps)
    else:
        # ProcessBench marks only the earliest wrong step: steps before it are right, after it unknown.
        ratings = [1] * label + [-1] + [None] * (len(steps) - label - 1)
    chain = ParsedChain(
        line=row.line, source_id=source_id, problem=problem, steps=steps, source_model=generator,
        metadata=metadata, problem_source="processbench", unknown_fields=list(extra),
        labels=[ParsedLabels(source="processbench", ratings=ratings, flagged=[None] * len(steps),
                             finish_reason="solution" if label == -1 else "found_error",
                             first_error_step=None if label == -1 else label)],
    )
    _check_steps_nul(row, chain, "steps")
    return chain


# --- PRM800K ---------------------------------------------------------------------------------------

def _parse_prm800k(row: Row, segmentation: str, limits: Limits) -> ParsedChain:
    d = row.data
    labeler = row.text(d, "", "labeler", limit=200)
    question = row.get(d, "", "question", dict)
    problem = row.text(question, "question", "problem", limit=limits.max_text_chars)
    answer = row.get(question, "question", "ground_truth_answer", str, required=False, nullable=True)
    label = row.get(d, "", "label", dict)
    raw_steps = row.get(label, "label", "steps", list)
    if len(raw_steps) > limits.max_steps:
        raise row.fail("label.steps", f"has {len(raw_steps):,} steps; at most {limits.max_steps:,} per chain")
    finish_reason = row.get(label, "label", "finish_reason", str)
    if finish_reason not in FINISH_REASONS:
        raise row.fail("label.finish_reason", f"is '{finish_reason}'; expected one of {', '.join(FINISH_REASONS)}")
    total_time = row.get(label, "label", "total_time", int, required=False, nullable=True)
    unknown = [*_unknown(row, d, PRM800K_FIELDS, limits),
               *(f"question.{k}" for k in _unknown(row, question, PRM800K_QUESTION, limits, "question."))]
    unknown += [f"label.{k}" for k in _unknown(row, label, PRM800K_LABEL, limits, "label.")]

    steps: list[str] = []
    ratings: list[int | None] = []
    flagged: list[bool | None] = []
    human_steps: list[int] = []
    candidates: list[ParsedCandidate] = []
    null_steps: list[int] = []
    step_extra: dict[str, Any] = {}
    for position, entry in enumerate(raw_steps):
        path = f"label.steps[{position}]"
        if entry is None:  # real rows have whole steps that are null; keep where, for re-export
            null_steps.append(position)
            continue
        if not isinstance(entry, dict):
            raise row.fail(path, "is not an object or null")
        for key, value in _unknown(row, entry, PRM800K_STEP, limits, f"{path}.").items():
            step_extra[f"{position}.{key}"] = value
            unknown.append(f"label.steps[].{key}")
        index = len(steps)
        completions = row.get(entry, path, "completions", list)
        chosen = row.get(entry, path, "chosen_completion", int, nullable=True)
        human = entry.get("human_completion")
        picked: tuple[str, int | None, bool | None] | None = None
        for i, completion in enumerate(completions):
            cpath = f"{path}.completions[{i}]"
            if not isinstance(completion, dict):
                raise row.fail(cpath, "is not an object")
            text = row.text(completion, cpath, "text", nonempty=False, limit=limits.max_step_chars)
            rating = _rating(row, completion, cpath)
            flag = row.get(completion, cpath, "flagged", bool, required=False, nullable=True)
            for key in _unknown(row, completion, PRM800K_COMPLETION, limits, f"{cpath}."):
                unknown.append(f"label.steps[].completions[].{key}")
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
            text = row.text(human, hpath, "text", limit=limits.max_step_chars)
            rating = _rating(row, human, hpath)
            flag = row.get(human, hpath, "flagged", bool, required=False, nullable=True)
            candidates.append(ParsedCandidate(index, 0, "human", text, rating, flag, chosen is None))
            if picked is None:
                picked = (text, rating, flag)
                human_steps.append(index)
        if picked is None:
            if not completions:
                raise row.fail(f"{path}.completions", "is empty and there is no human completion")
            # The step the labeler stopped at (phase 2: the pre-generated step they rated).
            first = candidates[-len(completions)]
            picked = (first.text, first.rating, first.flagged)
        if not picked[0].strip():
            raise row.fail(path, "is an empty step (its chosen completion has no text)")
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
        "extra": {k: v for k, v in d.items() if k not in PRM800K_FIELDS},
        "label_extra": {k: v for k, v in label.items() if k not in PRM800K_LABEL},
        "step_extra": step_extra,
    }
    _free_form(row, "", source_meta, limits)
    chain = ParsedChain(
        line=row.line, source_id="", problem=problem, steps=steps, reference_answer=answer or "",
        source_model=str(question.get("pre_generated_model", ""))[:200] if "pre_generated_model" in question else "",
        metadata={"prm800k_question": question_extra} if question_extra else {},
        problem_source="prm800k", unknown_fields=sorted(set(unknown)),
        labels=[ParsedLabels(source=f"prm800k:{labeler}", ratings=ratings, flagged=flagged,
                             finish_reason=finish_reason,
                             first_error_step=first_error if finish_reason == "found_error" else None,
                             candidates=candidates, source_meta=source_meta, human_steps=human_steps)],
    )
    _check_steps_nul(row, chain, "label.steps")
    # PRM800K rows carry no id: the chain is named by its content, so every labeler of one
    # trajectory lands on one chain.
    chain.source_id = "prm800k-" + text_hash(chain.content_hash)[:20]
    return chain


def _rating(row: Row, obj: dict, path: str) -> int | None:
    rating = row.get(obj, path, "rating", int, required=False, nullable=True)
    if rating is not None and rating not in (-1, 0, 1):
        raise row.fail(f"{path}.rating", f"is {rating}; expected -1, 0, 1 or null")
    return rating


_PARSERS: dict[str, Parser] = {
    "stepwise": _parse_stepwise,
    "processbench": _parse_processbench,
    "prm800k": _parse_prm800k,
}

__all__ = ["FORMATS", "FileRefused", "Limits", "Value", "add_lines", "detect_format", "parse_file", "parse_rows"]
