"""Inter-annotator agreement on step ratings, with chain-bootstrap intervals. Pure: no Django.

Units are steps, coders are annotators, values are ratings (−1/0/+1 on the PRM800K scale); a step
need not be rated by every annotator. Each measure is a function of per-chain sums (see
`bootstrap.py`), computed with bincounts over the label arrays of `StepLabels`.

- Krippendorff's α (nominal, ordinal, interval), Krippendorff (2011) "Computing Krippendorff's
  Alpha-Reliability": α = 1 − (n − 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck over the coincidence matrix o.
- Gwet's AC1 for several raters with missing ratings, Gwet (2008) and Handbook of Inter-Rater
  Reliability (4th ed., 2014), as in Gwet's irrCAC `gwet.ac1.raw`: p_a over steps with ≥ 2 ratings,
  π_k the mean share of rating k per step over every rated step, p_e = Σ π_k(1 − π_k) / (q − 1) with
  q the number of ratings *on the scale* (3), not only those that occur.
  α (and κ) read low when nearly every step is +1: chance agreement is then close to 1, so a handful
  of disagreements on rare −1 steps dominate. AC1's chance term shrinks as one rating dominates, so
  it stays near the raw agreement; report both.
- Fleiss' κ, generalised to missing ratings as in irrCAC `fleiss.kappa.raw`: same p_a, p_e = Σ π_k².
- Cohen's κ for every pair of annotators on the steps both rated.
- Exact agreement on the first-error index (first step rated −1, or "none") over chains that ≥ 2
  annotators labelled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from .bootstrap import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    Estimate,
    Measure,
    bootstrap,
    bootstrap_many,
    sum_by,
)
from .labels import StepLabels, plain

Level = Literal["nominal", "ordinal", "interval"]
Seed = int | np.random.Generator | None


# ---- Krippendorff's α -------------------------------------------------------------------------


def coincidences(labels: StepLabels) -> tuple[np.ndarray, np.ndarray]:
    """Per-chain coincidence matrices, flattened: (n_chains, V·V), and the pairable-unit mask.

    A step rated by m ≥ 2 coders adds (n_c n_k − [c = k] n_c) / (m − 1) to cell (c, k): each of its
    m(m − 1) ordered pairs of values, weighted 1/(m − 1) (Krippendorff 2011, p. 3).
    """
    counts = labels.unit_counts().astype(np.float64)
    m = counts.sum(axis=1)
    pairable = m >= 2
    counts, m = counts[pairable], m[pairable]
    v = labels.n_categories
    o = counts[:, :, None] * counts[:, None, :]
    o[:, np.arange(v), np.arange(v)] -= counts
    o /= (m - 1)[:, None, None]
    return sum_by(labels.unit_chain[pairable], o.reshape(-1, v * v), labels.n_chains), pairable


def _alpha_statistic(level: Level, categories: tuple[int, ...]):
    v = len(categories)
    idx = np.arange(v)
    lo, hi = np.minimum.outer(idx, idx), np.maximum.outer(idx, idx)
    fixed = None
    if level == "nominal":
        fixed = (idx[:, None] != idx[None, :]).astype(np.float64)
    elif level == "interval":
        values = np.asarray(categories, dtype=np.float64)
        fixed = (values[:, None] - values[None, :]) ** 2
    elif level != "ordinal":
        raise ValueError(f"level must be 'nominal', 'ordinal' or 'interval'; got {level!r}")

    def statistic(totals: np.ndarray) -> np.ndarray:
        o = totals.reshape(*totals.shape[:-1], v, v)
        n_v = o.sum(axis=-1)
        n = n_v.sum(axis=-1)
        if fixed is not None:
            d = np.broadcast_to(fixed, o.shape)
        else:  # ordinal: δ²_ck = (Σ_{g=c..k} n_g − (n_c + n_k)/2)², from this sample's marginals
            cum = np.cumsum(n_v, axis=-1)
            between = cum[..., hi] - cum[..., lo] + n_v[..., lo]
            d = (between - (n_v[..., lo] + n_v[..., hi]) / 2) ** 2
        observed = (o * d).sum(axis=(-2, -1))
        expected = (n_v[..., :, None] * n_v[..., None, :] * d).sum(axis=(-2, -1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(expected > 0, 1 - (n - 1) * observed / expected, np.nan)

    return statistic


def alpha_measure(labels: StepLabels, level: Level = "ordinal") -> Measure:
    stats, pairable = coincidences(labels)
    counts_used = int(np.bincount(labels.unit, minlength=labels.n_units)[pairable].sum())
    return Measure("krippendorff_alpha" if level == "ordinal" else f"krippendorff_alpha_{level}", stats,
                   _alpha_statistic(level, labels.categories), n_labels=counts_used, n_units=int(pairable.sum()))


def krippendorff_alpha(labels: StepLabels, *, level: Level = "ordinal", resamples: int = DEFAULT_RESAMPLES,
                       confidence: float = DEFAULT_CONFIDENCE, seed: Seed = 0) -> Estimate:
    """Krippendorff's α over steps; undefined (value None) when no step has two ratings or all agree on one value.

    Ordinal α uses only the order of the ratings; interval α their values (−1, 0, +1: 0 is halfway).
    """
    (estimate,) = bootstrap_many([alpha_measure(labels, level)], resamples=resamples, confidence=confidence,
                                 seed=seed)
    return estimate


# ---- AC1, Fleiss' κ, percent agreement ---------------------------------------------------------


def _agreement_stats(labels: StepLabels) -> tuple[np.ndarray, int, int]:
    """Per chain: [Σ p_a over steps with m ≥ 2, their count, Σ n_k/m over rated steps (V), their count]."""
    counts = labels.unit_counts().astype(np.float64)
    m = counts.sum(axis=1)
    pairable = m >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = np.where(pairable, (counts * (counts - 1)).sum(axis=1) / (m * (m - 1)), 0.0)
    columns = np.column_stack([pa, pairable, counts / m[:, None], np.ones_like(m)])
    stats = sum_by(labels.unit_chain, columns, labels.n_chains)
    return stats, int(m[pairable].sum()), int(pairable.sum())


def _chance_corrected(kind: str, q: int):
    def statistic(totals: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            pa = totals[..., 0] / totals[..., 1]
            if kind == "percent":
                return pa
            pi = totals[..., 2:-1] / totals[..., -1:]
            if kind == "ac1":
                pe = (pi * (1 - pi)).sum(axis=-1) / (q - 1)
            else:
                pe = (pi**2).sum(axis=-1)
            return np.where(pe < 1, (pa - pe) / (1 - pe), np.nan)

    return statistic


_AGREEMENT_KINDS = {"gwet_ac1": "ac1", "fleiss_kappa": "fleiss", "percent_agreement": "percent"}


def agreement_measures(labels: StepLabels, names: Sequence[str] = tuple(_AGREEMENT_KINDS)) -> list[Measure]:
    """AC1, Fleiss' κ and percent agreement share their statistics: computed once for all three."""
    stats, n_labels, n_units = _agreement_stats(labels)
    return [Measure(name, stats, _chance_corrected(_AGREEMENT_KINDS[name], labels.n_categories), n_labels, n_units)
            for name in names]


def _from_agreement_stats(labels: StepLabels, measure: str, resamples: int, confidence: float,
                          seed: Seed) -> Estimate:
    (estimate,) = bootstrap_many(agreement_measures(labels, [measure]), resamples=resamples, confidence=confidence,
                                 seed=seed)
    return estimate


def gwet_ac1(labels: StepLabels, *, resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
             seed: Seed = 0) -> Estimate:
    """Gwet's AC1 over steps, several raters, missing ratings allowed (Gwet 2008; irrCAC `gwet.ac1.raw`)."""
    return _from_agreement_stats(labels, "gwet_ac1", resamples, confidence, seed)


def fleiss_kappa(labels: StepLabels, *, resamples: int = DEFAULT_RESAMPLES,
                 confidence: float = DEFAULT_CONFIDENCE, seed: Seed = 0) -> Estimate:
    """Fleiss' κ (1971); with missing ratings, Gwet's generalisation (irrCAC `fleiss.kappa.raw`)."""
    return _from_agreement_stats(labels, "fleiss_kappa", resamples, confidence, seed)


def percent_agreement(labels: StepLabels, *, resamples: int = DEFAULT_RESAMPLES,
                      confidence: float = DEFAULT_CONFIDENCE, seed: Seed = 0) -> Estimate:
    """Share of agreeing pairs of ratings, averaged over steps with ≥ 2 ratings (Gwet's p_a)."""
    return _from_agreement_stats(labels, "percent_agreement", resamples, confidence, seed)


# ---- first-error index ------------------------------------------------------------------------


def first_errors(labels: StepLabels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(chain, coder, first error) for every annotator of every chain: 0-based index of the first step
    rated −1, or −1 when the annotator rated none −1 (as `aggregation.first_error`). Sorted by chain."""
    if -1 not in labels.categories:
        raise ValueError(f"first-error agreement needs the rating -1 on the scale; categories are {labels.categories}")
    n_coders = max(labels.n_coders, 1)
    key = labels.chain.astype(np.int64) * n_coders + labels.coder
    keys = np.unique(key)
    first = np.full(keys.size, -1, dtype=np.int64)
    negative = labels.value == labels.categories.index(-1)
    # Rows are sorted by (chain, step, coder): a key's first −1 row has its smallest step.
    neg_keys, at = np.unique(key[negative], return_index=True)
    first[np.searchsorted(keys, neg_keys)] = labels.step[negative][at]
    return (keys // n_coders).astype(np.intp), (keys % n_coders).astype(np.intp), first


def first_error_groups(labels: StepLabels):
    """Per (chain, coder): chain, coder, how many annotators of the chain share its first error, chain's m."""
    chain, coder, first = first_errors(labels)
    m = np.bincount(chain, minlength=labels.n_chains)
    span = int(first.max()) + 2 if first.size else 1
    value_key = chain.astype(np.int64) * span + (first + 1)
    _, inverse, same = np.unique(value_key, return_inverse=True, return_counts=True)
    return chain, coder, same[inverse], m


def _first_error_stats(labels: StepLabels) -> tuple[np.ndarray, int, int]:
    """Per chain with ≥ 2 annotators: [share of agreeing annotator pairs, 1, unanimous, m]."""
    chain, _, same, m = first_error_groups(labels)
    m_row = m[chain]
    usable = m_row >= 2
    agreeing_pairs = np.bincount(chain[usable], weights=(same[usable] - 1), minlength=labels.n_chains)
    mc = m.astype(np.float64)
    multi = mc >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        pa = np.where(multi, agreeing_pairs / (mc * (mc - 1)), 0.0)
    unanimous = multi & np.isclose(pa, 1.0)
    stats = np.column_stack([pa, multi, unanimous, np.where(multi, mc, 0)])
    return stats, int(m[multi].sum()), int(multi.sum())


def ratio_statistic(numerator: int, denominator: int):
    def statistic(totals: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return totals[..., numerator] / totals[..., denominator]

    return statistic


def first_error_agreement(labels: StepLabels, *, unanimous: bool = False, resamples: int = DEFAULT_RESAMPLES,
                          confidence: float = DEFAULT_CONFIDENCE, seed: Seed = 0) -> Estimate:
    """Exact agreement on the first-error index over chains with ≥ 2 annotators.

    Per chain, the share of annotator pairs whose first-error index (or "none") is the same, averaged
    over chains; with `unanimous=True`, the share of chains where all annotators agree. `n_labels`
    counts (chain, annotator) judgements, `n_units` chains. Not chance-corrected: when most chains
    have no error, agreeing on "none" is easy; read it beside the step-level α and AC1.
    """
    (estimate,) = bootstrap_many(first_error_measures(labels)[1:] if unanimous else first_error_measures(labels)[:1],
                                 resamples=resamples, confidence=confidence, seed=seed)
    return estimate


def first_error_measures(labels: StepLabels) -> list[Measure]:
    """[first_error_agreement, first_error_unanimous], sharing their per-chain statistics."""
    stats, n_labels, n_units = _first_error_stats(labels)
    return [Measure("first_error_agreement", stats, ratio_statistic(0, 1), n_labels, n_units),
            Measure("first_error_unanimous", stats, ratio_statistic(2, 1), n_labels, n_units)]


# ---- pairwise Cohen's κ -----------------------------------------------------------------------


def label_pairs(labels: StepLabels) -> tuple[np.ndarray, np.ndarray]:
    """Row indexes (i, j), i < j, of every two labels on one step; coder[i] < coder[j]."""
    firsts, seconds = [], []
    unit = labels.unit
    d = 1
    while d < unit.size:
        same = np.flatnonzero(unit[:-d] == unit[d:])
        if not same.size:
            break
        firsts.append(same)
        seconds.append(same + d)
        d += 1
    if not firsts:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    return np.concatenate(firsts), np.concatenate(seconds)


def cohen_statistic(v: int):
    def statistic(totals: np.ndarray) -> np.ndarray:
        t = totals.reshape(*totals.shape[:-1], v, v)
        n = t.sum(axis=(-2, -1))
        with np.errstate(divide="ignore", invalid="ignore"):
            po = np.trace(t, axis1=-2, axis2=-1) / n
            pe = (t.sum(axis=-1) * t.sum(axis=-2)).sum(axis=-1) / n**2
            return np.where(pe < 1, (po - pe) / (1 - pe), np.nan)

    return statistic


def cohen_kappa_table(table: np.ndarray | list[list[int]]) -> float:
    """Cohen's κ of a square contingency table (rows: one rater, columns: the other); NaN if undefined."""
    t = np.asarray(table, dtype=np.float64)
    return float(cohen_statistic(t.shape[0])(t.reshape(-1)[None, :])[0])


def chain_tables(group: np.ndarray, chain: np.ndarray, cell: np.ndarray, n_cells: int):
    """For each group g (e.g. a pair of annotators), its (n_chains_g, n_cells) table of cell counts per chain.

    Yields (g, tables) in group order; only the chains where g has rows appear, so a bootstrap over
    the tables resamples the group's own chains.
    """
    order = np.lexsort((chain, group))
    group, chain, cell = group[order], chain[order], cell[order]
    if not group.size:
        return
    bounds = np.flatnonzero(np.r_[True, group[1:] != group[:-1], True])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        c = chain[start:stop]
        local = np.cumsum(np.r_[True, c[1:] != c[:-1]]) - 1
        n_local = int(local[-1]) + 1
        tables = np.bincount(local * n_cells + cell[start:stop], minlength=n_local * n_cells)
        yield int(group[start]), tables.reshape(n_local, n_cells)


@dataclass(frozen=True)
class PairAgreement:
    """Cohen's κ of two annotators on the steps both rated (`kappa.n_units` of them)."""

    coder_a: object
    coder_b: object
    n_items: int
    n_chains: int
    observed_agreement: float
    kappa: Estimate

    def to_dict(self) -> dict:
        return {"coder_a": self.coder_a, "coder_b": self.coder_b, "n_items": self.n_items,
                "n_chains": self.n_chains, "observed_agreement": self.observed_agreement,
                "kappa": self.kappa.to_dict()}


def pairwise_cohen_kappa(labels: StepLabels, *, resamples: int = DEFAULT_RESAMPLES,
                         confidence: float = DEFAULT_CONFIDENCE, seed: Seed = 0) -> list[PairAgreement]:
    """Cohen's κ for every pair of annotators that rated a step in common, with the number of shared steps.

    The interval resamples the chains the pair shares.
    """
    i, j = label_pairs(labels)
    v = labels.n_categories
    pair = labels.coder[i].astype(np.int64) * labels.n_coders + labels.coder[j]
    cell = labels.value[i].astype(np.int64) * v + labels.value[j]
    out = []
    statistic = cohen_statistic(v)
    for key, tables in chain_tables(pair, labels.chain[i], cell, v * v):
        a, b = divmod(key, labels.n_coders)
        totals = tables.sum(axis=0)
        n = int(totals.sum())
        kappa = bootstrap(tables, statistic, measure="cohen_kappa", n_labels=2 * n, n_units=n,
                          resamples=resamples, confidence=confidence, seed=seed)
        out.append(PairAgreement(coder_a=plain(labels.coder_ids[a]), coder_b=plain(labels.coder_ids[b]),
                                 n_items=n, n_chains=kappa.n_chains,
                                 observed_agreement=float(np.trace(totals.reshape(v, v)) / n), kappa=kappa))
    return out


# ---- the project report -----------------------------------------------------------------------


@dataclass(frozen=True)
class AgreementReport:
    """Project-level agreement: every estimate with its interval and the labels it used."""

    krippendorff_alpha: Estimate  # ordinal
    krippendorff_alpha_nominal: Estimate
    gwet_ac1: Estimate
    fleiss_kappa: Estimate
    percent_agreement: Estimate
    first_error_agreement: Estimate
    first_error_unanimous: Estimate
    n_labels: int
    n_steps: int
    n_chains: int
    n_annotators: int
    rating_shares: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out: dict = {}
        for name, value in self.__dict__.items():
            out[name] = value.to_dict() if isinstance(value, Estimate) else value
        out["rating_shares"] = {str(k): v for k, v in self.rating_shares.items()}
        return out


def rating_shares(labels: StepLabels) -> dict[int, float]:
    counts = np.bincount(labels.value, minlength=labels.n_categories)
    total = max(int(counts.sum()), 1)
    return {c: float(n / total) for c, n in zip(labels.categories, counts, strict=True)}


def agreement_report(labels: StepLabels, *, resamples: int = DEFAULT_RESAMPLES,
                     confidence: float = DEFAULT_CONFIDENCE, seed: Seed = 0) -> AgreementReport:
    """Every project-level measure, all over the same resampled chains (drawn once)."""
    measures = [alpha_measure(labels, "ordinal"), alpha_measure(labels, "nominal"), *agreement_measures(labels),
                *first_error_measures(labels)]
    estimates = {e.measure: e for e in bootstrap_many(measures, resamples=resamples, confidence=confidence,
                                                      seed=seed)}
    return AgreementReport(
        **estimates, n_labels=labels.n_labels, n_steps=labels.n_units, n_chains=labels.n_chains,
        n_annotators=labels.n_coders, rating_shares=rating_shares(labels),
    )
