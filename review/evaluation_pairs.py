"""Position swap: does a judge that sees two items pick the better one, or the one in a given place? Pure: no
Django; numpy.

A pairwise judge (an LLM asked "which continuation is better, A or B?") is shown each preference pair of a
release twice, once with the chosen item first and once with the rejected item first. Its judgements come as
JSON Lines `{"id": <the preference row's id>, "shown_first": "chosen"|"rejected", "picked": "first"|"second"}`.
Reported, over the pairs judged in both orders (a pair judged in one order only is counted, not scored):

- `consistency`: the share of pairs where the judge picked the same item in both orders (a judge that always
  picks the first place scores 0, one that ignores the order 1);
- `first_position_rate`: the share of all its picks that went to the first place (0.5 = no position bias);
- `accuracy`: the share of its picks that went to the chosen item (both orders pooled), and that share in
  each order (`accuracy_chosen_first`, `accuracy_chosen_second`): a gap between them is the bias's cost;
- `accuracy_both_orders`: the share of pairs where it picked the chosen item both times.

Intervals: 95 % bootstrap over pairs (review/quality/bootstrap.py), every measure from the same resamples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .evaluation import json_lines_with_ids
from .quality.bootstrap import Measure, bootstrap_many

ORDERS = ("chosen", "rejected")  # which item was shown first
PICKS = ("first", "second")

# Per-pair statistics (columns), summed over resampled pairs.
_BOTH, _CONSISTENT, _FIRST_PICKS, _CORRECT, _CHOSEN_FIRST_OK, _CHOSEN_SECOND_OK, _BOTH_OK = range(7)


class PairJudgementsError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:5]))
        self.errors = errors


def parse_pair_judgements(lines: Sequence[bytes], pairs: set[str], *,
                          limit_errors: int = 50) -> dict[str, dict[str, str]]:
    """pair id -> {shown_first: picked}. Every bad line is named; nothing is taken if one is bad."""
    errors: list[str] = []
    out: dict[str, dict[str, str]] = {}
    for where, row in json_lines_with_ids(lines, errors, id_is="the preference pair's id", limit_errors=limit_errors):
        if row["id"] not in pairs:
            errors.append(f"{where}, field 'id': '{row['id'][:80]}' is not a preference pair of this release's split")
        elif row.get("shown_first") not in ORDERS:
            errors.append(f"{where}, field 'shown_first': expected 'chosen' or 'rejected' (which item the judge saw "
                          f"first); got {str(row.get('shown_first'))[:40]}")
        elif row.get("picked") not in PICKS:
            errors.append(f"{where}, field 'picked': expected 'first' or 'second' (the place of the item the judge "
                          f"preferred); got {str(row.get('picked'))[:40]}")
        elif row["shown_first"] in out.get(row["id"], {}):
            errors.append(f"{where}, field 'shown_first': pair '{row['id'][:80]}' was already judged with the "
                          f"{row['shown_first']} item first")
        else:
            out.setdefault(row["id"], {})[row["shown_first"]] = row["picked"]
    if errors:
        raise PairJudgementsError(errors)
    return out


def _picked_chosen(shown_first: str, picked: str) -> bool:
    return (shown_first == "chosen") == (picked == "first")


def _pair_stats(judged: dict[str, dict[str, str]]) -> np.ndarray:
    both = [orders for orders in judged.values() if len(orders) == 2]
    stats = np.zeros((len(both), 7))
    for row, orders in enumerate(both):
        chosen_first = _picked_chosen("chosen", orders["chosen"])
        chosen_second = _picked_chosen("rejected", orders["rejected"])
        stats[row] = (1, chosen_first == chosen_second, (orders["chosen"] == "first") + (orders["rejected"] == "first"),
                      chosen_first + chosen_second, chosen_first, chosen_second, chosen_first and chosen_second)
    return stats


def _share(num: int, den: int, per: float = 1.0):
    def statistic(totals):
        with np.errstate(invalid="ignore", divide="ignore"):
            return totals[..., num] / (per * totals[..., den])
    return statistic


def position_swap(judged: dict[str, dict[str, str]], *, pairs: int, resamples: int = 1000, seed: int = 0) -> dict:
    stats = _pair_stats(judged)
    n = len(stats)
    measures = [
        Measure("consistency", stats, _share(_CONSISTENT, _BOTH), n, n),
        Measure("first_position_rate", stats, _share(_FIRST_PICKS, _BOTH, 2.0), 2 * n, n),
        Measure("accuracy", stats, _share(_CORRECT, _BOTH, 2.0), 2 * n, n),
        Measure("accuracy_chosen_first", stats, _share(_CHOSEN_FIRST_OK, _BOTH), n, n),
        Measure("accuracy_chosen_second", stats, _share(_CHOSEN_SECOND_OK, _BOTH), n, n),
        Measure("accuracy_both_orders", stats, _share(_BOTH_OK, _BOTH), n, n),
    ]
    estimates = bootstrap_many(measures, resamples=resamples, seed=seed) if n else []
    one_order = sum(1 for orders in judged.values() if len(orders) == 1)
    return {"kind": "position_swap", "pairs": pairs, "judged_both_orders": n, "judged_one_order": one_order,
            "missing": pairs - n - one_order, "measures": {e.measure: e.to_dict() for e in estimates}}
