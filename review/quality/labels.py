"""Step labels as flat arrays: one row per (chain, step, annotator) rating. Pure: no Django.

Every agreement measure and Dawid–Skene read this one representation. A million labels take about
30 MB (chain, coder and unit as intp, step as int32, the rating as int8), and everything downstream is a bincount or a matrix product over
it, never a Python loop over labels.

Rows are kept sorted by (chain, step, coder), so the labels of a step (a *unit* of the reliability
data) are adjacent and units are numbered in chain order; the labels of a chain are adjacent too.
Chains and coders are renumbered densely (0..n-1); `chain_ids` / `coder_ids` map back to the caller's
ids (database primary keys, usernames).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The PRM800K scale, lowest first: the order ordinal α and "tie → lower rating" rely on.
RATINGS: tuple[int, ...] = (-1, 0, 1)


class LabelsError(ValueError):
    """The label arrays cannot be read: the message names the row and what was expected."""


def plain(value: object) -> object:
    """A numpy scalar as the Python value (JSON-ready); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _preview(values: np.ndarray, index: int) -> str:
    value = values[index]
    return repr(plain(value))


def _first_non_integer(values: np.ndarray) -> int | None:
    """Row of the first value that is not a whole number (NaN and None included), or None."""
    if values.size == 0 or values.dtype.kind in "iu":
        return None
    if values.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(values) | (values != np.round(values))
        return int(np.flatnonzero(bad)[0]) if bad.any() else None
    return next((i for i, v in enumerate(values) if not isinstance(v, int | np.integer) or isinstance(v, bool)), None)


@dataclass(frozen=True, eq=False)
class StepLabels:
    """Step ratings of several annotators, one row per label, sorted by (chain, step, coder).

    `value` holds the index of the rating in `categories` (0 for -1, 1 for 0, 2 for +1 on the PRM800K
    scale), so it indexes count matrices directly. Build it with `from_arrays`, `from_rows` or
    `from_matrix`; they validate and sort.
    """

    chain: np.ndarray  # intp, dense chain number of each label
    step: np.ndarray  # int32, 0-based position of the step in its chain
    coder: np.ndarray  # intp, dense coder number
    value: np.ndarray  # int8, index into `categories`
    unit: np.ndarray  # intp, dense (chain, step) number: nondecreasing
    categories: tuple[int, ...]
    chain_ids: np.ndarray  # chain_ids[chain[i]] is the caller's id
    coder_ids: np.ndarray
    unit_chain: np.ndarray = field(repr=False)  # chain of each unit
    unit_step: np.ndarray = field(repr=False)  # step position of each unit

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def from_arrays(
        cls,
        *,
        chain: Sequence[Any] | np.ndarray,
        step: Sequence[int] | np.ndarray,
        coder: Sequence[Any] | np.ndarray,
        rating: Sequence[int] | np.ndarray,
        categories: Sequence[int] = RATINGS,
    ) -> StepLabels:
        """Labels from four equal-length arrays: chain id, 0-based step index, coder id, rating.

        Ids may be ints or strings. Refuses ratings outside `categories`, negative or non-integer step
        indexes, and two labels by one coder on one step (one label per annotator and step).
        """
        categories = tuple(int(c) for c in categories)
        if len(categories) < 2 or list(categories) != sorted(set(categories)):
            raise LabelsError(f"categories must be at least two distinct ratings, lowest first; got {categories!r}")
        arrays = {"chain": np.asarray(chain), "step": np.asarray(step), "coder": np.asarray(coder),
                  "rating": np.asarray(rating)}
        lengths = {name: a.shape for name, a in arrays.items()}
        if any(a.ndim != 1 for a in arrays.values()) or len({a.shape[0] for a in arrays.values()}) != 1:
            raise LabelsError(f"chain, step, coder and rating must be 1-D arrays of one length; got shapes {lengths}")
        step_a, rating_a = arrays["step"], arrays["rating"]
        for name, a in (("step", step_a), ("rating", rating_a)):
            bad = _first_non_integer(a)
            if bad is not None:
                raise LabelsError(f"{name} must hold integers; row {bad} has {_preview(a, bad)} ({a.dtype})")
        step_a = step_a.astype(np.int64, copy=False)
        if step_a.size and step_a.min() < 0:
            bad = int(np.argmin(step_a))
            raise LabelsError(f"step is a 0-based index; row {bad} has {int(step_a[bad])}")
        domain = np.asarray(categories, dtype=np.int64)
        rating_i = rating_a.astype(np.int64, copy=False)
        value = np.searchsorted(domain, rating_i)
        outside = (value >= len(domain)) | (domain[np.minimum(value, len(domain) - 1)] != rating_i)
        if outside.any():
            bad = int(np.flatnonzero(outside)[0])
            raise LabelsError(f"rating at row {bad} is {int(rating_i[bad])}; expected one of "
                              f"{', '.join(str(c) for c in categories)}")
        chain_ids, chain_n = np.unique(arrays["chain"], return_inverse=True)
        coder_ids, coder_n = np.unique(arrays["coder"], return_inverse=True)
        return cls._sorted(chain_n.astype(np.intp), step_a, coder_n.astype(np.intp), value.astype(np.int8),
                           categories, chain_ids, coder_ids)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[Any, int, Any, int]], categories: Sequence[int] = RATINGS) -> StepLabels:
        """Labels from (chain id, step index, coder id, rating) tuples, e.g. a `values_list` queryset."""
        listed = list(rows)
        if not listed:
            return cls.from_arrays(chain=[], step=[], coder=[], rating=[], categories=categories)
        chain, step, coder, rating = zip(*listed, strict=True)
        return cls.from_arrays(chain=chain, step=step, coder=coder, rating=rating, categories=categories)

    @classmethod
    def from_matrix(cls, matrix: Sequence[Sequence[float]] | np.ndarray,
                    categories: Sequence[int] | None = None) -> StepLabels:
        """Reliability data as published: coders × units, NaN (or None) where a coder gave no value.

        Each unit becomes its own one-step chain, so the bootstrap resamples units. `categories`
        defaults to the values that occur.
        """
        data = np.array(matrix, dtype=float)
        if data.ndim != 2:
            raise LabelsError(f"a reliability matrix is coders × units; got {data.ndim} dimension(s)")
        coder, unit = np.nonzero(~np.isnan(data))
        values = data[coder, unit]
        if categories is None:
            categories = tuple(int(v) for v in np.unique(values))
        return cls.from_arrays(chain=unit, step=np.zeros_like(unit), coder=coder, rating=values,
                               categories=categories)

    @classmethod
    def _sorted(cls, chain, step, coder, value, categories, chain_ids, coder_ids) -> StepLabels:
        n_coders = max(len(coder_ids), 1)
        span = int(step.max()) + 1 if step.size else 1
        if len(chain_ids) * span * n_coders < 2**62:
            key = (chain.astype(np.int64) * span + step) * n_coders + coder
            order = np.argsort(key, kind="stable")
            key = key[order]
            duplicate = key[1:] == key[:-1]
            unit_key = key // n_coders
        else:  # ids too sparse for one int64 key
            order = np.lexsort((coder, step, chain))
            c, s, k = chain[order], step[order], coder[order]
            duplicate = (c[1:] == c[:-1]) & (s[1:] == s[:-1]) & (k[1:] == k[:-1])
            unit_key = None
        chain, step, coder, value = chain[order], step[order].astype(np.int32), coder[order], value[order]
        if duplicate.any():
            at = int(np.flatnonzero(duplicate)[0])
            rows = (int(order[at]), int(order[at + 1]))
            raise LabelsError(
                f"rows {rows[0]} and {rows[1]} both rate step {int(step[at])} of chain "
                f"{plain(chain_ids[chain[at]])!r} by coder {plain(coder_ids[coder[at]])!r}: one label per annotator and step")
        if unit_key is None:
            new_unit = np.r_[True, (chain[1:] != chain[:-1]) | (step[1:] != step[:-1])] if chain.size else \
                np.zeros(0, bool)
        else:
            new_unit = np.r_[True, unit_key[1:] != unit_key[:-1]] if chain.size else np.zeros(0, bool)
        return cls._build(chain, step, coder, value, new_unit, categories, chain_ids, coder_ids)

    @classmethod
    def _build(cls, chain, step, coder, value, new_unit, categories, chain_ids, coder_ids) -> StepLabels:
        unit = np.cumsum(new_unit, dtype=np.intp) - 1
        starts = np.flatnonzero(new_unit)
        return cls(chain=chain, step=step, coder=coder, value=value, unit=unit, categories=categories,
                   chain_ids=chain_ids, coder_ids=coder_ids, unit_chain=chain[starts], unit_step=step[starts])

    # ---- views --------------------------------------------------------------------------------

    def select(self, mask: np.ndarray) -> StepLabels:
        """The labels where `mask` is true, with chains, units and coders renumbered densely.

        Chains left without a label drop out, so a bootstrap over the subset resamples only chains
        that have data in it.
        """
        mask = np.asarray(mask, dtype=bool)
        chain, step, coder, value, unit = (a[mask] for a in (self.chain, self.step, self.coder, self.value,
                                                             self.unit))
        kept_chains, chain = np.unique(chain, return_inverse=True)
        kept_coders, coder = np.unique(coder, return_inverse=True)
        new_unit = np.r_[True, unit[1:] != unit[:-1]] if unit.size else np.zeros(0, bool)
        return self._build(chain.astype(np.intp), step, coder.astype(np.intp), value, new_unit, self.categories,
                           self.chain_ids[kept_chains], self.coder_ids[kept_coders])

    @property
    def n_labels(self) -> int:
        return int(self.value.size)

    @property
    def n_units(self) -> int:
        return int(self.unit_chain.size)

    @property
    def n_chains(self) -> int:
        return len(self.chain_ids)

    @property
    def n_coders(self) -> int:
        return len(self.coder_ids)

    @property
    def n_categories(self) -> int:
        return len(self.categories)

    def unit_counts(self) -> np.ndarray:
        """(n_units, n_categories) int64: how many coders gave each rating to each step."""
        v = self.n_categories
        return np.bincount(self.unit * v + self.value, minlength=self.n_units * v).reshape(self.n_units, v)

    def ratings(self) -> np.ndarray:
        """The ratings themselves (e.g. -1/0/+1), one per row."""
        return np.asarray(self.categories, dtype=np.int64)[self.value]
