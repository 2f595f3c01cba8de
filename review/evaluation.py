"""Judge evaluation: a judge's (critic, PRM, model) step judgements scored against human labels. Pure: no
Django; numpy.

- ProcessBench F1 (Zheng et al. 2024, "ProcessBench"): per subset, the accuracy on chains with an error
  (the predicted first wrong step equals the labelled one) and on chains without (the judge predicts
  none, -1); F1 is their harmonic mean; the average is the mean of the subsets' F1.
- Step-level precision and recall of finding wrong steps (a wrong step is the positive class), on the
  steps the humans rated. A judge that gives only a first error judges the steps before it correct,
  that step wrong and nothing after it.
- Calibration from the judge's step scores (probability that the step is correct): the confidence of
  its verdict is max(p, 1-p); expected calibration error over 10 equal-width bins, and the bins
  (the reliability diagram).
- Intervals: chain bootstrap (review/quality/bootstrap.py), the chain being the unit resampled.
- Ceiling: the same measures for one human against another on the chains two humans labelled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .quality.bootstrap import Measure, bootstrap_many

BINS = 10
THRESHOLD = 0.5  # a step score below this is a "wrong" verdict


class PredictionsError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:5]))
        self.errors = errors


@dataclass
class GoldChain:
    id: str
    subset: str
    ratings: list[int | None]  # the release's ratings per step
    others: list[list[int | None]] = field(default_factory=list)  # each human label set, for the ceiling

    @property
    def label(self) -> int:
        return first_error(self.ratings)


@dataclass
class Prediction:
    label: int  # first wrong step, -1 for none
    step_scores: list[float] | None = None


def first_error(ratings: Sequence[int | None]) -> int:
    return next((i for i, r in enumerate(ratings) if r is not None and r < 0), -1)


def subset_of(source_id: str, metadata: dict) -> str:
    """ProcessBench's subsets are the id's prefix (gsm8k-12, math-3, olympiadbench-7, omnimath-40)."""
    value = metadata.get("subset") if isinstance(metadata, dict) else None
    return str(value) if value else source_id.rsplit("-", 1)[0] if "-" in source_id else "all"


def json_lines_with_ids(lines: Sequence[bytes], errors: list[str], *, id_is: str,
                        limit_errors: int) -> Iterator[tuple[str, dict]]:
    """("line N", object) for each non-blank line that is a JSON object with a string "id" (`id_is` says what
    it names); a line that is not is added to `errors` with its number. Stops once `errors` holds
    `limit_errors` (the caller's own errors count too)."""
    import orjson

    for number, raw in enumerate(lines, start=1):
        if len(errors) >= limit_errors:
            return
        if not raw.strip():
            continue
        where = f"line {number}"
        try:
            row = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            errors.append(f"{where}: not JSON ({exc})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            errors.append(f"{where}, field 'id': expected an object with {id_is} as a string")
            continue
        yield where, row


def parse_predictions(lines: Sequence[bytes], gold: dict[str, GoldChain], *, limit_errors: int = 50) -> dict[str, Prediction]:
    """JSON Lines {"id", "label"?, "step_scores"?}: every bad line is named; nothing is taken if one is bad."""
    errors: list[str] = []
    out: dict[str, Prediction] = {}
    for where, row in json_lines_with_ids(lines, errors, id_is="the chain's id", limit_errors=limit_errors):
        chain = gold.get(row["id"])
        if chain is None:
            errors.append(f"{where}, field 'id': '{row['id'][:80]}' is not a chain of this release's split")
            continue
        if row["id"] in out:
            errors.append(f"{where}, field 'id': '{row['id'][:80]}' is repeated")
            continue
        n = len(chain.ratings)
        scores = row.get("step_scores")
        if scores is not None and (not isinstance(scores, list) or len(scores) != n or not all(
                isinstance(s, int | float) and not isinstance(s, bool) and 0 <= s <= 1 for s in scores)):
            errors.append(f"{where}, field 'step_scores': expected {n} numbers from 0 to 1 (the probability "
                          f"each step is correct); got {str(scores)[:80]}")
            continue
        label = row.get("label")
        if label is None and scores is not None:
            label = next((i for i, s in enumerate(scores) if s < THRESHOLD), -1)
        if not isinstance(label, int) or isinstance(label, bool) or not -1 <= label < n:
            errors.append(f"{where}, field 'label': expected the first wrong step, 0 to {n - 1}, or -1 for none; "
                          f"got {str(label)[:40]}")
            continue
        out[row["id"]] = Prediction(label=label, step_scores=[float(s) for s in scores] if scores else None)
    if errors:
        raise PredictionsError(errors)
    return out


def _step_verdicts(prediction: Prediction, n: int) -> list[bool | None]:
    """Per step: True = judged wrong, False = judged correct, None = not judged."""
    if prediction.step_scores is not None:
        return [s < THRESHOLD for s in prediction.step_scores]
    if prediction.label == -1:
        return [False] * n
    return [i == prediction.label for i in range(prediction.label + 1)] + [None] * (n - prediction.label - 1)


# Per-chain statistics, one row per chain, resampled together.
def _pb_stats(golds: list[int], preds: list[int], subsets: list[int], n_subsets: int) -> np.ndarray:
    stats = np.zeros((len(golds), 4 * n_subsets))
    for row, (g, p, s) in enumerate(zip(golds, preds, subsets, strict=True)):
        if g == -1:
            stats[row, 4 * s + 2] = 1
            stats[row, 4 * s + 3] = p == -1
        else:
            stats[row, 4 * s] = 1
            stats[row, 4 * s + 1] = p == g
    return stats


def _f1_of(totals: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        err = totals[..., 1] / totals[..., 0]
        ok = totals[..., 3] / totals[..., 2]
        f1 = 2 * err * ok / (err + ok)
        return np.where((err + ok) == 0, 0.0, f1)


def _subset_f1(s: int):
    return lambda totals: _f1_of(totals[..., 4 * s:4 * s + 4]) * 100


def _average_f1(n_subsets: int):
    def statistic(totals):
        return np.mean(np.stack([_f1_of(totals[..., 4 * s:4 * s + 4]) for s in range(n_subsets)]), axis=0) * 100
    return statistic


def _ratio(num: int, den: Sequence[int]):
    def statistic(totals):
        with np.errstate(invalid="ignore", divide="ignore"):
            return totals[..., num] / totals[..., list(den)].sum(axis=-1)
    return statistic


def _step_stats(gold: list[list[int | None]], verdicts: list[list[bool | None]]) -> np.ndarray:
    stats = np.zeros((len(gold), 4))  # tp, fp, fn, tn (positive = wrong step)
    for row, (ratings, judged) in enumerate(zip(gold, verdicts, strict=True)):
        for rating, wrong in zip(ratings, judged, strict=False):
            if rating is None or wrong is None:
                continue
            truth = rating < 0
            stats[row, (0 if truth else 1) if wrong else (2 if truth else 3)] += 1
    return stats


def _measures(prefix: str, golds, preds, subsets, names, step_gold, step_verdicts) -> list[Measure]:
    stats = _pb_stats(golds, preds, subsets, len(names))
    out = [Measure(f"{prefix}f1:{name}", stats, _subset_f1(s), len(golds), int(stats[:, 4 * s] .sum()
                                                                                  + stats[:, 4 * s + 2].sum()))
           for s, name in enumerate(names)]
    out.append(Measure(f"{prefix}f1:average", stats, _average_f1(len(names)), len(golds), len(golds)))
    steps = _step_stats(step_gold, step_verdicts)
    n_steps = int(steps.sum())
    out.append(Measure(f"{prefix}step_precision", steps, _ratio(0, (0, 1)), n_steps, n_steps))
    out.append(Measure(f"{prefix}step_recall", steps, _ratio(0, (0, 2)), n_steps, n_steps))
    out.append(Measure(f"{prefix}step_accuracy", steps, lambda t: (t[..., 0] + t[..., 3]) / t.sum(axis=-1),
                       n_steps, n_steps))
    return out


def calibration(gold: list[list[int | None]], scores: list[list[float] | None], bins: int = BINS) -> dict | None:
    """Expected calibration error of the verdicts' confidences, and the reliability diagram's bins."""
    conf, correct = [], []
    for ratings, chain_scores in zip(gold, scores, strict=True):
        if chain_scores is None:
            continue
        for rating, p in zip(ratings, chain_scores, strict=False):
            if rating is None:
                continue
            said_wrong = p < THRESHOLD
            conf.append(max(p, 1 - p))
            correct.append(said_wrong == (rating < 0))
    if not conf:
        return None
    c, y = np.asarray(conf), np.asarray(correct, dtype=float)
    index = np.minimum((c * bins).astype(int), bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        chosen = index == b
        n = int(chosen.sum())
        if n:
            gap = abs(float(y[chosen].mean()) - float(c[chosen].mean()))
            ece += n / len(c) * gap
            rows.append({"low": b / bins, "high": (b + 1) / bins, "n": n, "confidence": float(c[chosen].mean()),
                         "accuracy": float(y[chosen].mean())})
    return {"ece": ece, "steps": len(c), "bins": rows}


def evaluate(gold: dict[str, GoldChain], predictions: dict[str, Prediction], *, resamples: int = 1000,
             seed: int = 0) -> dict:
    ids = [i for i in gold if i in predictions]
    names = sorted({gold[i].subset for i in ids})
    position = {name: k for k, name in enumerate(names)}
    golds = [gold[i].label for i in ids]
    preds = [predictions[i].label for i in ids]
    subsets = [position[gold[i].subset] for i in ids]
    step_gold = [gold[i].ratings for i in ids]
    verdicts = [_step_verdicts(predictions[i], len(gold[i].ratings)) for i in ids]
    estimates = bootstrap_many(_measures("", golds, preds, subsets, names, step_gold, verdicts),
                               resamples=resamples, seed=seed) if ids else []
    # Ceiling: on chains with two human label sets, the first against the second and the second against
    # the first (so neither is privileged), with the same measures.
    pairs = [(gold[i], a, b) for i in ids for a, b in ((0, 1), (1, 0)) if len(gold[i].others) >= 2]
    ceiling = []
    if pairs:
        h_golds = [first_error(g.others[b]) for g, a, b in pairs]
        h_preds = [first_error(g.others[a]) for g, a, b in pairs]
        h_names = sorted({g.subset for g, _, _ in pairs})
        h_pos = {name: k for k, name in enumerate(h_names)}
        h_verdicts = [[None if r is None else r < 0 for r in g.others[a]] for g, a, b in pairs]
        ceiling = bootstrap_many(_measures("human:", h_golds, h_preds, [h_pos[g.subset] for g, _, _ in pairs],
                                           h_names, [g.others[b] for g, a, b in pairs], h_verdicts),
                                 resamples=resamples, seed=seed)
    return {
        "chains": len(gold), "predicted": len(ids), "missing": len(gold) - len(ids), "subsets": names,
        "measures": {e.measure: e.to_dict() for e in estimates},
        "ceiling": {e.measure.removeprefix("human:"): e.to_dict() for e in ceiling},
        "ceiling_chains": len({g.id for g, _, _ in pairs}),
        "calibration": calibration(step_gold, [predictions[i].step_scores for i in ids]),
        "threshold": THRESHOLD,
    }
