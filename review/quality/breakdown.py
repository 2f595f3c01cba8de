"""Agreement per annotator and per step position, with chain-bootstrap intervals. Pure: no Django."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .agreement import (
    agreement_measures,
    alpha_measure,
    chain_tables,
    cohen_statistic,
    first_error_groups,
    label_pairs,
    ratio_statistic,
)
from .bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Estimate, Measure, bootstrap, bootstrap_many
from .labels import StepLabels, plain

Seed = int | np.random.Generator | None


@dataclass(frozen=True)
class AnnotatorAgreement:
    """How one annotator agrees with the others who rated the same steps and chains.

    `agreement`: share of (this annotator's rating, another's rating) pairs on one step that are equal.
    `kappa`: Cohen's κ of the pooled table of those pairs (this annotator against everyone else).
    `first_error_agreement`: share of the other annotators of a chain with the same first-error index.
    Each interval resamples this annotator's own chains.
    """

    coder: object
    n_labels: int
    n_chains: int
    rating_shares: dict[int, float]
    agreement: Estimate
    kappa: Estimate
    first_error_agreement: Estimate

    def to_dict(self) -> dict:
        return {"coder": self.coder, "n_labels": self.n_labels, "n_chains": self.n_chains,
                "rating_shares": {str(k): v for k, v in self.rating_shares.items()},
                "agreement": self.agreement.to_dict(), "kappa": self.kappa.to_dict(),
                "first_error_agreement": self.first_error_agreement.to_dict()}


def _empty(measure: str, confidence: float) -> Estimate:
    return Estimate(measure=measure, value=None, low=None, high=None, n_labels=0, n_units=0, n_chains=0,
                    confidence=confidence, resamples=0)


def annotator_agreement(labels: StepLabels, *, resamples: int = DEFAULT_RESAMPLES,
                        confidence: float = DEFAULT_CONFIDENCE, seed: Seed = 0) -> list[AnnotatorAgreement]:
    """One entry per annotator, in `labels.coder_ids` order."""
    v = labels.n_categories
    i, j = label_pairs(labels)
    # Both directions: each pair of labels is one observation for each of its two annotators.
    me = np.concatenate([labels.coder[i], labels.coder[j]])
    chain = np.concatenate([labels.chain[i], labels.chain[j]])
    cell = np.concatenate([labels.value[i].astype(np.int64) * v + labels.value[j],
                           labels.value[j].astype(np.int64) * v + labels.value[i]])
    kappa_stat = cohen_statistic(v)
    diagonal = np.arange(v) * (v + 1)
    kw = {"resamples": resamples, "confidence": confidence, "seed": seed}

    pairs: dict[int, tuple[Estimate, Estimate]] = {}
    for coder, tables in chain_tables(me, chain, cell, v * v):
        n = int(tables.sum())
        agree = np.column_stack([tables[:, diagonal].sum(axis=1), tables.sum(axis=1)])
        pairs[coder] = (
            bootstrap(agree, ratio_statistic(0, 1), measure="agreement_with_others", n_labels=n, n_units=n, **kw),
            bootstrap(tables, kappa_stat, measure="kappa_vs_others", n_labels=n, n_units=n, **kw),
        )

    fe_chain, fe_coder, same, m = first_error_groups(labels)
    usable = m[fe_chain] >= 2  # chains with someone to agree with
    fe_coder = fe_coder[usable]
    share = (same[usable] - 1) / (m[fe_chain[usable]] - 1)  # the chain's other annotators with the same index
    first: dict[int, Estimate] = {}
    order = np.argsort(fe_coder, kind="stable")
    fe_coder, share = fe_coder[order], share[order]
    bounds = np.flatnonzero(np.r_[True, fe_coder[1:] != fe_coder[:-1], True]) if fe_coder.size else []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=False):
        # one row per chain of this annotator: [share of others agreeing, 1]
        stats = np.column_stack([share[start:stop], np.ones(stop - start)])
        first[int(fe_coder[start])] = bootstrap(stats, ratio_statistic(0, 1), measure="first_error_agreement",
                                                n_labels=stop - start, n_units=stop - start, **kw)

    ratings = np.bincount(labels.coder.astype(np.int64) * v + labels.value,
                          minlength=labels.n_coders * v).reshape(labels.n_coders, v)
    labels_per_coder = ratings.sum(axis=1)
    chains_per_coder = np.bincount(np.unique(labels.chain.astype(np.int64) * labels.n_coders + labels.coder)
                                   % max(labels.n_coders, 1), minlength=labels.n_coders)
    out = []
    for c in range(labels.n_coders):
        agreement, kappa = pairs.get(c, (_empty("agreement_with_others", confidence),
                                         _empty("kappa_vs_others", confidence)))
        out.append(AnnotatorAgreement(
            coder=plain(labels.coder_ids[c]), n_labels=int(labels_per_coder[c]),
            n_chains=int(chains_per_coder[c]), rating_shares={r: float(n / max(labels_per_coder[c], 1))
                                                       for r, n in zip(labels.categories, ratings[c], strict=True)},
            agreement=agreement, kappa=kappa,
            first_error_agreement=first.get(c, _empty("first_error_agreement", confidence))))
    return out


# Steps 0–9 one by one (where first errors cluster), then widening buckets up to long thinking traces.
DEFAULT_POSITION_EDGES: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 30, 50, 100, 200, 500, 1000)

_POSITION_MEASURES = ("krippendorff_alpha", "krippendorff_alpha_nominal", "gwet_ac1", "fleiss_kappa",
                      "percent_agreement")


def _position_measures(labels: StepLabels, names: Sequence[str]) -> list[Measure]:
    out = []
    for name in names:
        if name == "krippendorff_alpha":
            out.append(alpha_measure(labels, "ordinal"))
        elif name == "krippendorff_alpha_nominal":
            out.append(alpha_measure(labels, "nominal"))
        else:
            out += agreement_measures(labels, [name])
    return out


@dataclass(frozen=True)
class PositionAgreement:
    """Agreement on the steps at 0-based positions start ≤ position < stop (stop None: no upper bound)."""

    start: int
    stop: int | None
    n_steps: int
    estimates: dict[str, Estimate]

    def to_dict(self) -> dict:
        return {"start": self.start, "stop": self.stop, "n_steps": self.n_steps,
                **{name: e.to_dict() for name, e in self.estimates.items()}}


def position_agreement(labels: StepLabels, *, edges: Sequence[int] = DEFAULT_POSITION_EDGES,
                       measures: Sequence[str] = ("krippendorff_alpha", "gwet_ac1"),
                       resamples: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                       seed: Seed = 0) -> list[PositionAgreement]:
    """Step-level measures by step position bucket `[edges[i], edges[i+1])`, the last one open.

    Buckets without any step are left out. Each bucket's interval resamples the chains that reach it.
    """
    unknown = [m for m in measures if m not in _POSITION_MEASURES]
    if unknown:
        raise ValueError(f"unknown measure(s) {unknown}; choose from {', '.join(_POSITION_MEASURES)}")
    edges = sorted({int(e) for e in edges})
    if not edges or edges[0] != 0:
        raise ValueError(f"position edges must start at 0 (the first step); got {list(edges)}")
    bucket = np.searchsorted(np.asarray(edges), labels.step, side="right") - 1
    out = []
    for b in np.unique(bucket):
        subset = labels.select(bucket == b)
        found = bootstrap_many(_position_measures(subset, measures), resamples=resamples, confidence=confidence,
                               seed=seed)
        estimates = dict(zip(measures, found, strict=True))
        stop = edges[b + 1] if b + 1 < len(edges) else None
        out.append(PositionAgreement(start=edges[b], stop=stop, n_steps=subset.n_units, estimates=estimates))
    return out


__all__ = ["DEFAULT_POSITION_EDGES", "AnnotatorAgreement", "PositionAgreement", "annotator_agreement",
           "position_agreement"]
