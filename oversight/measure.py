"""Measures of assistance and of critics, with 95% intervals. Pure: no Django.

Proportions get Wilson score intervals (right near 0 and 1, where critics and careful annotators live);
means a normal interval from the sample standard deviation.
"""

import math
from collections.abc import Iterable

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> dict:
    """{"value", "low", "high", "k", "n"}; value None when n is 0."""
    if n == 0:
        return {"value": None, "low": None, "high": None, "k": 0, "n": 0}
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return {"value": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half), "k": k, "n": n}


def mean_interval(values: Iterable[float], z: float = Z95) -> dict:
    xs = list(values)
    n = len(xs)
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    mean = sum(xs) / n
    if n == 1:
        return {"value": mean, "low": None, "high": None, "n": 1}
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = z * sd / math.sqrt(n)
    return {"value": mean, "low": mean - half, "high": mean + half, "n": n}


def critic_scores(pairs: Iterable[tuple[bool, bool]]) -> dict:
    """`pairs` of (critic said incorrect, the final label says wrong): precision, recall and the counts."""
    tp = fp = fn = tn = 0
    for flagged, wrong in pairs:
        if flagged and wrong:
            tp += 1
        elif flagged:
            fp += 1
        elif wrong:
            fn += 1
        else:
            tn += 1
    return {"precision": wilson(tp, tp + fp), "recall": wilson(tp, tp + fn),
            "false_alarm_rate": wilson(fp, fp + tn), "counts": {"tp": tp, "fp": fp, "fn": fn, "tn": tn}}
