"""Estimates with bootstrap intervals, resampling chains. Pure: no Django.

Why chains and not steps: the steps of one chain are rated by the same annotators in one sitting, and
an annotator who misreads a chain's problem misrates many of its steps; steps within a chain are
correlated. Resampling steps would treat 33 correlated steps as 33 independent draws and give
intervals that are too narrow. So the resampled unit is the chain (a cluster bootstrap), for every
measure, including those whose units are steps.

Every measure here is a ratio of sums over chains: it is computed from a (n_chains, k) matrix of
per-chain sufficient statistics (k ≤ 9 for three ratings). A bootstrap resample is then a vector of
multiplicities (how often each chain was drawn), and its statistics are one matrix product:
`counts @ stats`. The cost of B resamples is O(B × n_chains), independent of the number of labels:
about 40 ns per chain and resample on the 2-core bench machine, so 200 resamples of 10,000 chains
take ~0.07 s, 1,000 resamples ~0.4 s, and 1,000 resamples of 330,000 chains ~14 s. For inputs that
large ask for fewer resamples: the Monte Carlo error of a percentile bound shrinks as 1/√B, and
200 resamples already pin a 95 % bound to a few thousandths when the interval itself is that narrow.

The interval is the percentile interval of the resampled values, leaving out resamples where the
measure is undefined (e.g. every drawn chain rated +1 throughout). It is seeded: the same seed gives
the same interval, and every measure of one report resamples the same chains.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
# Resample counts are drawn in blocks of at most this many cells (B_block × n_chains), ~32 MB.
_BLOCK_CELLS = 1 << 22

Statistic = Callable[[np.ndarray], np.ndarray]  # (..., k) totals → (...) values, NaN where undefined
Seed = int | np.random.Generator | None


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


def resample_counts(n_chains: int, resamples: int, seed: Seed):
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


@dataclass(frozen=True, eq=False)
class Measure:
    """A measure ready to bootstrap: per-chain sufficient statistics and the function of their totals."""

    measure: str
    stats: np.ndarray  # (n_chains, k): row c holds chain c's additive statistics
    statistic: Statistic
    n_labels: int
    n_units: int


def bootstrap_many(measures: Sequence[Measure], *, resamples: int = DEFAULT_RESAMPLES,
                   confidence: float = DEFAULT_CONFIDENCE, seed: Seed = 0) -> list[Estimate]:
    """Point estimates and percentile intervals (widened to hold the estimate) of several measures over the same
    chain resamples.

    The measures must have one row per chain of the same chains. The resample counts are drawn once
    and multiplied with all the measures' statistics side by side (drawing them is most of the cost).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95); got {confidence!r}")
    if resamples < 0:
        raise ValueError(f"resamples must be 0 (no interval) or more; got {resamples!r}")
    if not measures:
        return []
    stats = [np.asarray(m.stats, dtype=np.float64) for m in measures]
    n_chains = stats[0].shape[0]
    if any(s.shape[0] != n_chains for s in stats):
        raise ValueError(f"measures resampled together need one row per chain each; got {[s.shape for s in stats]}")
    values = [_clean(float(m.statistic(s.sum(axis=0)[None, :])[0])) if n_chains else None
              for m, s in zip(measures, stats, strict=True)]
    wanted = [i for i, v in enumerate(values) if v is not None]
    draws: dict[int, list[np.ndarray]] = {i: [] for i in wanted}
    if wanted and resamples and n_chains:
        side_by_side = np.hstack([stats[i] for i in wanted])
        edges = np.cumsum([0] + [stats[i].shape[1] for i in wanted])
        for counts in resample_counts(n_chains, resamples, seed):
            totals = counts @ side_by_side
            for i, lo, hi in zip(wanted, edges[:-1], edges[1:], strict=True):
                draws[i].append(measures[i].statistic(totals[:, lo:hi]))
    out = []
    tail = (1 - confidence) / 2
    for i, (m, value) in enumerate(zip(measures, values, strict=True)):
        low = high = None
        finite = np.concatenate(draws[i]) if draws.get(i) else np.zeros(0)
        finite = finite[np.isfinite(finite)]
        if finite.size >= 2:
            low, high = (float(q) for q in np.quantile(finite, [tail, 1 - tail]))
            if value is not None:
                # At a measure's bound (AC1's -0.5: every resample lands above it) the percentile interval can miss
                # its own estimate; it is widened to hold it, so no report reads "-0.50 [-0.499, -0.43]".
                low, high = min(low, value), max(high, value)
        out.append(Estimate(measure=m.measure, value=value, low=low, high=high, n_labels=int(m.n_labels),
                            n_units=int(m.n_units), n_chains=int(n_chains), confidence=float(confidence),
                            resamples=int(finite.size)))
    return out


def bootstrap(stats: np.ndarray, statistic: Statistic, *, measure: str, n_labels: int, n_units: int,
              resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
              seed: Seed = 0) -> Estimate:
    """Point estimate of `statistic(stats.sum(0))` and its percentile interval over chain resamples.

    `stats` is (n_chains, k): row c holds chain c's additive sufficient statistics.
    """
    (estimate,) = bootstrap_many([Measure(measure, stats, statistic, n_labels, n_units)], resamples=resamples,
                                 confidence=confidence, seed=seed)
    return estimate


def sum_by(group: np.ndarray, values: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups, k) sums of the rows of `values` (n, k) by `group` (n,): one bincount per column."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    out = np.empty((n_groups, values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(group, weights=values[:, j], minlength=n_groups)
    return out
