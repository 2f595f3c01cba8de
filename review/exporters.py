"""Row builders for each export format, from plain data. Pure: no Django.

Each format is what its consumers read:
- processbench: {"id", "generator", "problem", "steps", ..., "label"}; label = first -1 step or -1.
- trl-stepwise: {"prompt", "completions", "labels": [bool]} (TRL's stepwise-supervision type, read by
  PRMTrainer). Steps up to and including the first -1; +1 and 0 are True (0 is PRM800K's "reasonable,
  not wrong"), -1 is False. A chain whose first step is unrated gives no row; an unrated step ends the
  row before it (its label is unknown).
- prm800k: one row per submitted annotation, laid out as PRM800K's phase-2 rows (plus "id").
Every row carries the chain's source "id".
"""

from dataclasses import dataclass, field
from typing import Any

from .aggregation import consensus, first_error

FORMATS = ("prm800k", "trl-stepwise", "processbench")


@dataclass
class LabelSet:
    """One submitted assignment's labels for a chain."""

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


@dataclass
class ChainRecord:
    source_id: str
    source_model: str
    problem: str
    reference_answer: str
    steps: list[str]
    metadata: dict
    label_sets: list[LabelSet]

    def consensus(self) -> list[int | None]:
        return consensus([ls.ratings for ls in self.label_sets], len(self.steps))


def processbench_row(chain: ChainRecord) -> dict[str, Any] | None:
    if not chain.label_sets:
        return None
    ratings = chain.consensus()
    extra = {k: v for k, v in chain.metadata.items() if k not in {"prm800k_question"}}
    return {"id": chain.source_id, "generator": chain.source_model, "problem": chain.problem,
            "steps": chain.steps, **extra, "label": first_error(ratings)}


def trl_stepwise_row(chain: ChainRecord) -> dict[str, Any] | None:
    if not chain.label_sets:
        return None
    completions, labels = [], []
    for text, rating in zip(chain.steps, chain.consensus(), strict=True):
        if rating is None:
            break
        completions.append(text)
        labels.append(rating >= 0)
        if rating == -1:
            break
    if not completions:
        return None
    return {"id": chain.source_id, "prompt": chain.problem, "completions": completions, "labels": labels}


def prm800k_rows(chain: ChainRecord) -> list[dict[str, Any]]:
    return [_prm800k_row(chain, label_set) for label_set in chain.label_sets]


def _prm800k_row(chain: ChainRecord, ls: LabelSet) -> dict[str, Any]:
    meta = ls.source_meta
    steps: list[Any] = []
    for index, text in enumerate(chain.steps):
        offered = ls.candidates.get(index)
        if offered:
            steps.append(_step_from_candidates(offered))
            continue
        correction = ls.corrections[index] if index < len(ls.corrections) else ""
        rating = ls.ratings[index] if index < len(ls.ratings) else None
        if rating is None and not correction and index >= _last_rated(ls.ratings):
            break  # the annotator stopped before this step
        steps.append({
            "completions": [{"text": text, "rating": rating, "flagged": ls.flagged[index] if index < len(ls.flagged) else None}],
            "human_completion": ({"text": correction, "rating": None, "source": "human", "flagged": False}
                                 if correction else None),
            "chosen_completion": None if (rating == -1 or correction) else 0,
        })
    for position in meta.get("null_steps", []):
        steps.insert(position, None)
    question = {"problem": chain.problem, "ground_truth_answer": chain.reference_answer or None,
                **meta.get("question", chain.metadata.get("prm800k_question", {}))}
    row = {
        "labeler": meta.get("labeler", ls.labeler),
        "timestamp": meta.get("timestamp", ls.submitted_at),
        "generation": meta.get("generation"),
        "is_quality_control_question": meta.get("is_quality_control_question", False),
        "is_initial_screening_question": meta.get("is_initial_screening_question", False),
        "question": _question_in_order(question),
        "id": chain.source_id,
        "label": {"steps": steps,
                  "total_time": meta.get("total_time", ls.active_seconds * 1000),
                  "finish_reason": ls.finish_reason},
    }
    order = meta.get("key_order")
    if order:  # an imported row goes back out in its own key order, without fields it did not have
        row = {**{key: row[key] for key in order if key in row}, "id": chain.source_id}
    return row


def _last_rated(ratings: list[int | None]) -> int:
    return max((i for i, r in enumerate(ratings) if r is not None), default=-1) + 1


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
