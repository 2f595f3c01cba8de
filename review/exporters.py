"""Row builders for each export format, from plain data. Pure: no Django.

Each format is what its consumers read:
- processbench: {"id", "generator", "problem", "steps", ..., "label"}; label = first -1 step or -1.
- trl-stepwise: {"prompt", "completions", "labels": [bool]} (TRL's stepwise-supervision type, read by
  PRMTrainer). Steps up to and including the first -1; +1 and 0 are True (0 is PRM800K's "reasonable,
  not wrong"), -1 is False. A chain whose first step is unrated gives no row; an unrated step ends the
  row before it (its label is unknown).
- prm800k: one row per label set, laid out as PRM800K's phase-2 rows (plus "id").
Every row carries the chain's source "id".

A step the labeler wrote (PRM800K's human_completion, rating null) counts as +1 in processbench and
trl-stepwise: PRM800K's labelers wrote one to replace a step they rated −1, as the step the solution
should take (docs/formats.md); prm800k writes it back as the human_completion it was, rating null.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .voting import consensus

FORMATS = ("prm800k", "trl-stepwise", "processbench")


@dataclass
class LabelSet:
    """One label set of a chain (a submitted assignment, or labels that came with the data), aligned
    with the steps of the chain's current revision (None where the set did not label a step)."""

    labeler: str
    finish_reason: str
    ratings: list[int | None]
    flagged: list[bool | None]
    corrections: list[str]
    active_seconds: int
    submitted_at: str
    source_meta: dict = field(default_factory=dict)
    # step index -> [(source, position, text, rating, flagged, chosen)]
    candidates: dict[int, list[tuple]] = field(default_factory=dict)
    human_steps: frozenset[int] = frozenset()
    reference: bool = False  # came with imported data

    def effective_ratings(self) -> list[int | None]:
        """Ratings with the labeler's own steps counted +1 (see the module's docstring)."""
        if not self.human_steps:
            return self.ratings
        return [1 if r is None and i in self.human_steps else r for i, r in enumerate(self.ratings)]


class StepsJson(Sequence[str]):
    """A chain's steps as the JSON array they are stored as (annotation/steps.py), decoded only if needed.

    Row builders count and slice steps; `dumps_row` writes the JSON of a whole chain's steps as it is,
    so an export of unedited chains never encodes a step.
    """

    __slots__ = ("_texts", "json", "size")

    def __init__(self, json: bytes, size: int):
        self.json = json
        self.size = size
        self._texts: list[str] | None = None

    def texts(self) -> list[str]:
        if self._texts is None:
            self._texts = orjson.loads(self.json)
        return self._texts

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        return iter(self.texts())

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice) and index.start in (None, 0) and index.step in (None, 1) and \
                (index.stop is None or index.stop >= self.size):
            return self
        return self.texts()[index]


@dataclass
class ChainRecord:
    source_id: str
    source_model: str
    problem: str
    reference_answer: str
    steps: Sequence[str]  # a list, or StepsJson on the way to an export file
    metadata: dict
    label_sets: list[LabelSet]
    # Reviewers' final labels by step index (review/adjudication.py): read before any consensus rule.
    adjudicated: dict[int, int] = field(default_factory=dict)
    # The project's consensus rule when it is not majority (Dawid–Skene over submitted passes), by step index.
    aggregated: dict[int, int] = field(default_factory=dict)

    def consensus(self) -> list[int | None]:
        """Per step: the reviewer's final label, else the project's consensus rule, else majority."""
        if not self.adjudicated and not self.aggregated:
            return self._consensus()
        ratings = list(self._consensus())  # a copy: the one-set case may hand out the set's own list
        for layer in (self.aggregated, self.adjudicated):
            for index, rating in layer.items():
                if index < len(ratings):
                    ratings[index] = rating
        return ratings

    def voters(self) -> list[LabelSet]:
        """The label sets whose majority is the chain's consensus. Reference labels are not votes: with any
        annotator's pass, the annotators' passes alone; a chain with only the labels it was imported with
        (an imported dataset exported again) goes out with those."""
        annotated = [ls for ls in self.label_sets if not ls.reference]
        return annotated or self.label_sets

    def _consensus(self) -> list[int | None]:
        n = len(self.steps)
        voters = self.voters() if len(self.label_sets) > 1 else self.label_sets
        if len(voters) == 1:
            # One label set is its own consensus: what `consensus` returns, without a Counter per step
            # (an imported dataset is this case, millions of steps).
            ratings = voters[0].effective_ratings()[:n]
            return ratings + [None] * (n - len(ratings))
        return consensus([ls.effective_ratings() for ls in voters], n)


def _index(values: list, value: Any, stop: int) -> int:
    """values.index(value, 0, stop), or stop when it is not there (list.index runs at C speed)."""
    try:
        return values.index(value, 0, stop)
    except ValueError:
        return stop


def processbench_row(chain: ChainRecord) -> dict[str, Any] | None:
    if not chain.label_sets:
        return None
    ratings = chain.consensus()
    first_error = _index(ratings, -1, len(ratings))
    extra = {k: v for k, v in chain.metadata.items() if k not in {"prm800k_question"}}
    return {"id": chain.source_id, "generator": chain.source_model, "problem": chain.problem,
            "steps": chain.steps, **extra, "label": first_error if first_error < len(ratings) else -1}


def trl_stepwise_row(chain: ChainRecord) -> dict[str, Any] | None:
    if not chain.label_sets:
        return None
    ratings = chain.consensus()
    # Up to the first unrated step (left out) or the first -1 (kept), whichever comes first.
    end = _index(ratings, None, len(ratings))
    wrong = _index(ratings, -1, end)
    if wrong < end:
        end = wrong + 1
    if end == 0:
        return None
    return {"id": chain.source_id, "prompt": chain.problem, "completions": chain.steps[:end],
            "labels": [rating >= 0 for rating in ratings[:end]]}


def prm800k_rows(chain: ChainRecord) -> list[dict[str, Any]]:
    return [_prm800k_row(chain, label_set) for label_set in chain.label_sets]


def _prm800k_row(chain: ChainRecord, ls: LabelSet) -> dict[str, Any]:
    return _prm800k_frame(chain, ls, _prm800k_steps(chain, ls))


def _prm800k_steps(chain: ChainRecord, ls: LabelSet) -> list[Any]:
    meta = ls.source_meta
    steps: list[Any] = []
    last_rated = None  # counted once, when first needed (per step, it made long chains quadratic)
    for index, text in enumerate(chain.steps):
        offered = ls.candidates.get(index)
        if offered:
            steps.append(_step_from_candidates(offered))
            continue
        correction = ls.corrections[index] if index < len(ls.corrections) else ""
        rating = ls.ratings[index] if index < len(ls.ratings) else None
        if rating is None and not correction:
            if last_rated is None:
                last_rated = _last_rated(ls.ratings)
            if index >= last_rated:
                break  # the annotator stopped before this step
        steps.append({
            "completions": [{"text": text, "rating": rating, "flagged": ls.flagged[index] if index < len(ls.flagged) else None}],
            "human_completion": ({"text": correction, "rating": None, "source": "human", "flagged": False}
                                 if correction else None),
            "chosen_completion": None if (rating == -1 or correction) else 0,
        })
    for position in meta.get("null_steps", []):
        steps.insert(position, None)
    for key, value in meta.get("step_extra", {}).items():  # fields of a step the format does not know
        position, name = key.split(".", 1)
        if int(position) < len(steps) and isinstance(steps[int(position)], dict):
            steps[int(position)][name] = value
    return steps


def _prm800k_frame(chain: ChainRecord, ls: LabelSet, steps: Any) -> dict[str, Any]:
    """The row around its steps (`steps` is written where PRM800K has them, label.steps)."""
    meta = ls.source_meta
    question = {"problem": chain.problem, "ground_truth_answer": chain.reference_answer or None,
                **meta.get("question", chain.metadata.get("prm800k_question", {}))}
    label = {"steps": steps, "total_time": meta.get("total_time", ls.active_seconds * 1000),
             "finish_reason": ls.finish_reason, **meta.get("label_extra", {})}
    row = {
        "labeler": meta.get("labeler", ls.labeler),
        "timestamp": meta.get("timestamp", ls.submitted_at),
        "generation": meta.get("generation"),
        "is_quality_control_question": meta.get("is_quality_control_question", False),
        "is_initial_screening_question": meta.get("is_initial_screening_question", False),
        "question": _question_in_order(question),
        "id": chain.source_id,
        "label": label,
        **meta.get("extra", {}),
    }
    order = meta.get("key_order")
    if order:  # an imported row goes back out in its own key order, without fields it did not have
        row = {**{key: row[key] for key in order if key in row}, "id": chain.source_id}
    return row


def prm800k_lines(chain: ChainRecord) -> list[bytes]:
    """`[dumps_row(row) for row in prm800k_rows(chain)]`, byte for byte, without a dict per step.

    A step of a label set without candidates or corrections is always the same JSON around its text, its
    rating and its flag: each text is encoded once per chain (not once per label set), the rest comes from
    a table of the few (rating, flag) endings, joined in C (`map`, `bytes.join`); label sets that agree
    share the joined steps. Anything else (candidates, corrections, PRM800K's null steps and extra step
    fields, values of unusual types) goes through the dict path, `_prm800k_row`.
    """
    if not chain.label_sets:
        return []
    texts = chain.steps.texts() if isinstance(chain.steps, StepsJson) else list(chain.steps)
    heads: list[bytes] | None = None
    question: bytes | None = None
    last: tuple[list, list, bytes] | None = None
    lines = []
    for ls in chain.label_sets:
        size = min(len(texts), _last_rated(ls.ratings))
        ratings, flagged = ls.ratings[:size], ls.flagged[:size]
        if len(flagged) < size:
            flagged = flagged + [None] * (size - len(flagged))
        meta = ls.source_meta
        if (ls.candidates or any(ls.corrections) or meta.get("null_steps") or meta.get("step_extra")
                or not {*map(type, ratings)} <= _RATING_TYPES or not {*map(type, flagged)} <= _FLAG_TYPES):
            lines.append(orjson.dumps(_prm800k_row(chain, ls)))
            continue
        if last is not None and last[0] == ratings and last[1] == flagged:
            body = last[2]
        else:
            if heads is None:
                heads = list(map(_STEP_HEAD.__add__, map(orjson.dumps, texts)))
            body = b",".join(map(bytes.__add__, heads, map(_STEP_TAILS.__getitem__, zip(ratings, flagged, strict=True))))
            last = (ratings, flagged, body)
        if not meta:  # what `_prm800k_frame` writes without source metadata, the question encoded once a chain
            if question is None:
                question = (b',"generation":null,"is_quality_control_question":false,"is_initial_screening_question":'
                            b'false,"question":' + orjson.dumps(_question_in_order(
                                {"problem": chain.problem, "ground_truth_answer": chain.reference_answer or None,
                                 **chain.metadata.get("prm800k_question", {})}))
                            + b',"id":' + orjson.dumps(chain.source_id) + b',"label":{"steps":[')
            lines.append(b"".join((b'{"labeler":', orjson.dumps(ls.labeler), b',"timestamp":',
                                   orjson.dumps(ls.submitted_at), question, body, b'],"total_time":',
                                   orjson.dumps(ls.active_seconds * 1000), b',"finish_reason":',
                                   orjson.dumps(ls.finish_reason), b"}}")))
            continue
        head, slot, tail = orjson.dumps(_prm800k_frame(chain, ls, _SLOT)).partition(_SLOT_JSON)
        if not slot or _SLOT_JSON in tail:  # the steps are not in the row (its key order leaves them out)
            lines.append(orjson.dumps(_prm800k_row(chain, ls)))
            continue
        lines.append(b"".join((head, b"[", body, b"]", tail)))
    return lines


_RATING_TYPES = {int, type(None)}
_FLAG_TYPES = {bool, type(None)}
_STEP_HEAD = b'{"completions":[{"text":'


class _StepTails(dict):
    """(rating, flagged) -> the JSON of a plain step after its text, as `_prm800k_steps` writes it."""

    def __missing__(self, key: tuple) -> bytes:
        rating, flagged = key
        tail = (b',"rating":' + orjson.dumps(rating) + b',"flagged":' + orjson.dumps(flagged)
                + b'}],"human_completion":null,"chosen_completion":' + (b"null" if rating == -1 else b"0") + b"}")
        self[key] = tail
        return tail


_STEP_TAILS = _StepTails()


def _last_rated(ratings: list[int | None]) -> int:
    """One past the last rated step (0 when none is)."""
    end = len(ratings)
    while end and ratings[end - 1] is None:
        end -= 1
    return end


def _question_in_order(question: dict) -> dict:
    # PRM800K puts ground_truth_answer after ground_truth_solution when both are present.
    if "ground_truth_solution" in question:
        keys = ["problem", "ground_truth_solution", "ground_truth_answer"]
        return {**{k: question[k] for k in keys if k in question}, **{k: v for k, v in question.items() if k not in keys}}
    return question


def _step_from_candidates(offered: list[tuple]) -> dict[str, Any]:
    model = sorted((c for c in offered if c[0] == "model"), key=lambda c: c[1])
    human = next((c for c in offered if c[0] == "human"), None)
    chosen = next((c[1] for c in model if c[5]), None)
    return {
        "completions": [{"text": c[2], "rating": c[3], "flagged": c[4]} for c in model],
        "human_completion": ({"text": human[2], "rating": human[3], "source": "human", "flagged": human[4]}
                             if human else None),
        "chosen_completion": chosen,
    }


# --- writing rows -----------------------------------------------------------------------------------

_SLOT = "\x00stepwise-steps\x00"  # never inside an exported string: PostgreSQL refuses NUL in text
_SLOT_JSON = orjson.dumps(_SLOT)


def dumps_row(row: dict[str, Any]) -> bytes:
    """The row as compact JSON (orjson), a StepsJson value written as the stored JSON it is."""
    key = next((key for key, value in row.items() if isinstance(value, StepsJson)), None)
    if key is None:
        return orjson.dumps(row)
    steps = row[key]
    if steps.size == 0:
        return orjson.dumps({**row, key: []})
    head, tail = orjson.dumps({**row, key: _SLOT}).split(_SLOT_JSON, 1)
    return head + steps.json + tail


Builder = Callable[[ChainRecord], dict | None]
