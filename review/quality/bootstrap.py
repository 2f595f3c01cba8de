"""Estimates with bootstrap intervals, resampling chains. Pure: no Django.

Why chains and not steps: the steps of one chain are rated by the same annotators in one sitting, and
an annotator who misreads a chain's problem misrates many of its steps; steps within a chain are
correlated. Resampling steps would treat 33 correlated steps as 33 independent draws and give
intervals that are too narrow. So the resampled unit is the chain (a cluster bootstrap), for every
measure, including those whose units are steps.

Every measure here is a ratio of sums over chains: it is computed from a (n_chains, k) matrix of
per-chain sufficient statistics. A bootstrap resample is then a vector of multiplicities (how often
each chain was drawn), and its statistics are one matrix product: `counts @ stats`. The cost of B
resamples is O(B × n_chains × k) arithmetic, independent of the number of labels; for 10,000 chains
and 1,000 resamples it is a few tens of milliseconds. At a million chains it is about a second per
100 resamples, so callers with huge inputs may ask for fewer resamples (the interval's Monte Carlo
error shrinks as 1/√B; 200 resamples suffice for a 95 % percentile interval to about ±0.01 on the
coefficient scale at that size).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
# Resample counts are drawn in blocks of at most this many cells (B_block × n_chains), ~32 MB.
_BLOCK_CELLS = 1 << 22

Statistic = Callable[[np.ndarray], np.ndarray]  # (..., k) totals → (...) values, NaN where undefined


@dataclass(frozen=True)
class Estimate:
    """A measure's point estimate with its percentile bootstrap interval.

    `value` is None when the measure is undefined on the data (no two labels on one unit, or no
    variation at all: chance agreement 1). `low`/`high` are None when no interval was asked for
    (`resamples=0`) or fewer than 2 resamples gave a defined value. `n_labels` counts the labels (or
    first-error judgements) the estimate used, `n_units` the units (steps, or chains for first-error
    agreement) that entered it, `n_chains` the chains resampled.
    """

    measure: str
    value: float | None
    low: float | None
    high: float | None
    n_labels: int
    n_units: int
    n_chains: int
    confidence: float
    resamples: int  # resamples with a defined value

    def to_dict(self) -> dict[str, float | int | str | None]:
        """Plain JSON types; never NaN (JSON has none)."""
        return asdict(self)


def _clean(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def resample_counts(n_chains: int, resamples: int, seed: int | np.random.Generator | None):
    """Yield blocks of (b, n_chains) float64 multiplicities, `resamples` rows in all, reproducible by seed."""
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, _BLOCK_CELLS // max(n_chains, 1)))
    done = 0
    while done < resamples:
        b = min(block, resamples - done)
        drawn = rng.integers(0, n_chains, size=(b, n_chains))
        drawn += (np.arange(b) * n_chains)[:, None]
        yield np.bincount(drawn.ravel(), minlength=b * n_chains).reshape(b, n_chains).astype(np.float64)
        done += b


def bootstrap(
    stats: np.ndarray,
    statistic: Statistic,
    *,
    measure: str,
    n_labels: int,
    n_units: int,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int | np.random.Generator | None = 0,
) -> Estimate:
    """Point estimate of `statistic(stats.sum(0))` and its percentile interval over chain resamples.

    `stats` is (n_chains, k): row c holds chain c's additive sufficient statistics.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95); got {confidence!r}")
    if resamples < 0:
        raise ValueError(f"resamples must be 0 (no interval) or more; got {resamples!r}")
    stats = np.asarray(stats, dtype=np.float64)
    n_chains = stats.shape[0]
    value = _clean(float(statistic(stats.sum(axis=0)[None, :])[0])) if n_chains else None
    low = high = None
    defined = 0
    if value is not None and resamples and n_chains:
        draws = np.concatenate([statistic(counts @ stats) for counts in resample_counts(n_chains, resamples, seed)])
        draws = draws[np.isfinite(draws)]
        defined = int(draws.size)
        if defined >= 2:
            tail = (1 - confidence) / 2
            low, high = (float(q) for q in np.quantile(draws, [tail, 1 - tail]))
    return Estimate(measure=measure, value=value, low=low, high=high, n_labels=int(n_labels),
                    n_units=int(n_units), n_chains=int(n_chains), confidence=float(confidence),
                    resamples=defined)


def sum_by(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups, k) sums of the rows of `values` (n, k) by `group` (n,): one bincount per column."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    out = np.empty((n_groups, values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(group, weights=values[:, j], minlength=n_groups)
    return out
