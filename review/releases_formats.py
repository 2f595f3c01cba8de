"""Row builders of the release formats beyond review/exporters.py, the split by problem, the dataset card.
Pure: no Django.

Each format is what its consumer reads as it is (docs/releases.md has the table):
- math-shepherd: {"id", "input", "label", "value"}: `input` is the problem, a space, then the steps as
  "Step i: text" each followed by the step tag " ки" (steps separated by a newline), as the
  peiyi9979/Math-Shepherd data is laid out; `label` is `input` with each tag replaced by "+" or "-";
  `value` is that list of "+"/"-" (what OpenRLHF's ProcessRewardDataset reads with `--label_key value`,
  one entry per tag).
- preference: TRL's standard preference type {"prompt", "chosen", "rejected"} (plain text): prompt =
  the problem and the steps before the pair's step, chosen / rejected = the better / worse step. Pairs
  come from an annotator's correction of a step rated -1 (chosen: the correction, rejected: the step),
  and from alternatives offered at the same prefix (PRM800K's completions): every -1 against every +1.
- openai-preference: OpenAI's preference (DPO) fine-tuning lines {"input": {"messages", "tools",
  "parallel_tool_calls"}, "preferred_output": [assistant], "non_preferred_output": [assistant]}.

The neutral rating 0 (PRM800K's "reasonable, not wrong") counts as a good step by default
(`neutral="positive"`, what review/exporters.py does for trl-stepwise); a release may choose
`neutral="negative"` instead (then 0 is False / "-" and ends the row like -1). Recorded in the manifest.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from functools import partial
from typing import Any

from .exporters import ChainRecord

STEP_TAG = "ки"  # Math-Shepherd's step tag (a Cyrillic syllable: one token in its tokenizers)
NEUTRAL_CHOICES = ("positive", "negative")


def _good(rating: int, neutral: str) -> bool:
    return rating > 0 or (rating == 0 and neutral == "positive")


# `_good` as a C-level predicate for `map` (0 <= r, or 0 < r): a Python call per step was a tenth of a build.
_GOOD = {"positive": partial(operator.le, 0), "negative": partial(operator.lt, 0)}


def stepwise_labels(ratings: Sequence[int | None], neutral: str = "positive") -> list[bool]:
    """The labels of a stepwise row: the steps up to the first unrated step (left out) or the first bad step
    (kept), whichever comes first, each True when good."""
    end = _index(ratings, None)
    labels = list(map(_GOOD.get(neutral, _GOOD["negative"]), ratings[:end]))
    bad = _index(labels, False)
    return labels[:bad + 1] if bad < len(labels) else labels


def _index(values: Sequence, value: object) -> int:
    """values.index(value), or len(values) when it is not there."""
    try:
        return values.index(value)
    except ValueError:
        return len(values)


def labelled_prefix(ratings: Sequence[int | None], neutral: str = "positive") -> int:
    """How many leading steps a stepwise row keeps: up to the first unrated step (left out) or the first
    bad step (kept), whichever comes first."""
    return len(stepwise_labels(ratings, neutral))


def trl_stepwise_row(chain: ChainRecord, ratings: list[int | None], neutral: str = "positive") -> dict | None:
    labels = stepwise_labels(ratings, neutral)
    if not labels:
        return None
    return {"id": chain.source_id, "prompt": chain.problem, "completions": chain.steps[:len(labels)],
            "labels": labels}


def processbench_row(chain: ChainRecord, ratings: list[int | None], neutral: str = "positive") -> dict:
    first = next((i for i, r in enumerate(ratings) if r is not None and not _good(r, neutral)), -1)
    extra = {k: v for k, v in chain.metadata.items() if k not in {"prm800k_question"}}
    return {"id": chain.source_id, "generator": chain.source_model, "problem": chain.problem,
            "steps": chain.steps, **extra, "label": first}


class FormatRefusal(ValueError):
    """A chain this format cannot carry faithfully; the release leaves it out and counts the reason."""


def math_shepherd_row(chain: ChainRecord, ratings: list[int | None], neutral: str = "positive") -> dict | None:
    labels = stepwise_labels(ratings, neutral)
    if not labels:
        return None
    steps = list(chain.steps[:len(labels)])
    if STEP_TAG in chain.problem or any(STEP_TAG in step for step in steps):
        raise FormatRefusal(f"the text contains the step tag '{STEP_TAG}'")
    marks = ["+" if good else "-" for good in labels]
    body = [f"Step {i + 1}: {step}" for i, step in enumerate(steps)]
    tagged = "\n".join(f"{line} {STEP_TAG}" for line in body)
    label = "\n".join(f"{line} {mark}" for line, mark in zip(body, marks, strict=True))
    return {"id": chain.source_id, "input": f"{chain.problem} {tagged}", "label": f"{chain.problem} {label}",
            "value": marks}


def _prompt(problem: str, prefix: Sequence[str]) -> str:
    return problem + "\n\n" + "".join(step + "\n" for step in prefix)


def preference_pairs(chain: ChainRecord) -> list[dict[str, Any]]:
    """Pairs at the same prefix, in step order, each once: (step index, chosen, rejected, where from)."""
    pairs: list[dict[str, Any]] = []
    seen: set[tuple[int, str, str]] = set()
    steps = list(chain.steps)

    def add(index: int, chosen: str, rejected: str, origin: str, labeler: str) -> None:
        if not chosen.strip() or not rejected.strip() or chosen == rejected or (index, chosen, rejected) in seen:
            return
        seen.add((index, chosen, rejected))
        pairs.append({"index": index, "chosen": chosen, "rejected": rejected, "origin": origin, "labeler": labeler})

    for label_set in chain.label_sets:
        for index, (rating, correction) in enumerate(zip(label_set.ratings, label_set.corrections, strict=False)):
            if rating == -1 and correction and index < len(steps):
                add(index, correction, steps[index], "correction", label_set.labeler)
        for index in sorted(label_set.candidates):
            offered = label_set.candidates[index]
            good = [c[2] for c in offered if c[3] == 1]
            bad = [c[2] for c in offered if c[3] == -1]
            for chosen in good:
                for rejected in bad:
                    add(index, chosen, rejected, "alternatives", label_set.labeler)
    pairs.sort(key=lambda p: p["index"])  # stable: within a step, the order they were found
    return pairs


def preference_rows(chain: ChainRecord) -> list[dict[str, Any]]:
    steps = list(chain.steps)
    return [{"id": f"{chain.source_id}:{p['index']}:{n}", "chain_id": chain.source_id, "step": p["index"],
             "origin": p["origin"], "prompt": _prompt(chain.problem, steps[:p["index"]]), "chosen": p["chosen"],
             "rejected": p["rejected"]} for n, p in enumerate(preference_pairs(chain))]


def openai_preference_rows(chain: ChainRecord) -> list[dict[str, Any]]:
    steps = list(chain.steps)
    rows = []
    for p in preference_pairs(chain):
        messages = [{"role": "user", "content": chain.problem}]
        if p["index"]:
            messages.append({"role": "assistant", "content": "\n".join(steps[:p["index"]])})
        rows.append({"input": {"messages": messages, "tools": [], "parallel_tool_calls": True},
                     "preferred_output": [{"role": "assistant", "content": p["chosen"]}],
                     "non_preferred_output": [{"role": "assistant", "content": p["rejected"]}]})
    return rows


# --- split by problem ---------------------------------------------------------------------------------

def problem_split(statement_hash: str, *, test_fraction: float, seed: str) -> str:
    """'test' or 'train' for a problem, from its statement hash alone: every chain of a problem lands in
    the same split, and the same seed and fraction give the same split on any machine."""
    if test_fraction <= 0:
        return "train"
    digest = hashlib.sha256(f"{seed}:{statement_hash}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


# --- the dataset card ---------------------------------------------------------------------------------

def _yaml_str(value: str) -> str:
    # JSON strings are valid YAML flow scalars; orjson would not escape "#"-free text differently.
    import json

    return json.dumps(value, ensure_ascii=False)


def dataset_card(*, name: str, version: str, description: str, splits: dict[str, int], manifest: dict) -> str:
    """README.md with the YAML front matter dataset hubs read (configs → Parquet files per split)."""
    lines = ["---", f"pretty_name: {_yaml_str(f'{name} {version}')}", "license: other", "task_categories:",
             "- text-classification", "tags:", "- process-supervision", "- step-labels", "configs:",
             "- config_name: default", "  data_files:"]
    for split in splits:
        lines += [f"  - split: {split}", f"    path: data/{split}.parquet"]
    lines += ["dataset_info:", "  features:", "  - name: id", "    dtype: string", "  - name: problem",
              "    dtype: string", "  - name: steps", "    sequence: string", "  - name: ratings",
              "    sequence: int8", "  - name: labels", "    sequence: bool", "  - name: label",
              "    dtype: int32", "  - name: generator", "    dtype: string", "  - name: provenance",
              "    dtype: string", "  splits:"]
    for split, rows in splits.items():
        lines += [f"  - name: {split}", f"    num_examples: {rows}"]
    lines.append("---")
    filters = manifest.get("filters", {})
    body = [
        f"# {name} {version}", "", description or "Step-level process-supervision labels made with Stepwise.", "",
        "## How it was made", "",
        f"- Label source: `{filters.get('label_source')}`; minimum agreement: {filters.get('min_agreement')}; "
        f"neutral rating 0 counts as `{filters.get('neutral')}`.",
        f"- Gold chains {'included' if filters.get('include_gold') else 'left out'}, screening chains "
        f"{'included' if filters.get('include_screening') else 'left out'}, planted-error chains "
        f"{'included' if filters.get('include_planted') else 'left out'}.",
        f"- Split by problem (no problem in two splits): test share {filters.get('test_fraction')}, "
        f"seed `{filters.get('seed')}`.",
        f"- Content hash `{manifest.get('content_hash')}` (the code version is in `manifest.json`).",
        "",
        "## Columns", "",
        "`ratings`: the step ratings (−1, 0, +1; null where the step was not rated) of the label source; `labels`: the "
        "same as booleans up to the first bad step (TRL's stepwise supervision); `label`: the first bad step "
        "(0-based) or −1 (ProcessBench); `provenance`: JSON with the annotator pseudonyms, arm, assistance "
        "shown and active time of the labels used.",
        "",
        "Every file, its sha256 and row count are in `manifest.json`.", "",
    ]
    return "\n".join(lines + body)
