"""Agreement measures against published worked examples, hand arithmetic, reference packages, and properties.

Pure: no database. Sources of the published numbers are cited beside each test.
"""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from review.quality import (
    LabelsError,
    StepLabels,
    agreement_report,
    annotator_agreement,
    cohen_kappa_table,
    first_error_agreement,
    first_errors,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    percent_agreement,
    position_agreement,
)

nan = math.nan
PROPERTY_SMALL = settings(max_examples=60, deadline=None)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", p. 8: 4 coders × 12 units, values
# 1–5, missing values. Published: nominal α = 0.743, ordinal 0.815, interval 0.849. The same matrix and
# the nominal and ordinal values are in the docstring of `krippendorff.alpha` (PyPI krippendorff 0.9.0,
# "extracted from ... page 8"); interval 0.849 we checked with that package (0.8491).
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]
FIVE = (1, 2, 3, 4, 5)


def test_krippendorff_2011_worked_example():
    labels = StepLabels.from_matrix(KRIPPENDORFF_2011, categories=FIVE)
    alpha = {level: krippendorff_alpha(labels, level=level, resamples=0) for level in ("nominal", "ordinal",
                                                                                        "interval")}
    assert round(alpha["nominal"].value, 3) == 0.743
    assert round(alpha["ordinal"].value, 3) == 0.815
    assert round(alpha["interval"].value, 3) == 0.849
    # 11 units have ≥ 2 values (unit 12 has one), holding 40 of the 41 values: Krippendorff's n.. = 40.
    assert (alpha["ordinal"].n_units, alpha["ordinal"].n_labels) == (11, 40)


def test_krippendorff_package_docstring_example():
    """The first example of `krippendorff.alpha`'s docstring (3 coders × 15 units): 0.691358, 0.810845."""
    data = [[nan, nan, nan, nan, nan, 3, 4, 1, 2, 1, 1, 3, 3, nan, 3],
            [1, nan, 2, 1, 3, 3, 4, 3, nan, nan, nan, nan, nan, nan, nan],
            [nan, nan, 2, 1, 3, 4, 4, nan, 2, 1, 1, 3, 3, nan, 4]]
    labels = StepLabels.from_matrix(data, categories=(1, 2, 3, 4))
    assert round(krippendorff_alpha(labels, level="nominal", resamples=0).value, 6) == 0.691358
    assert round(krippendorff_alpha(labels, level="interval", resamples=0).value, 6) == 0.810845


def random_matrix(rng, coders=4, units=60, missing=0.3, values=(-1, 0, 1), p=(0.1, 0.15, 0.75)):
    data = rng.choice(values, size=(coders, units), p=p).astype(float)
    data[rng.random(data.shape) < missing] = nan
    return data


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_matches_krippendorff_package_on_random_data(seed, level):
    krippendorff = pytest.importorskip("krippendorff")
    data = random_matrix(np.random.default_rng(seed))
    ours = krippendorff_alpha(StepLabels.from_matrix(data, categories=(-1, 0, 1)), level=level, resamples=0)
    theirs = krippendorff.alpha(reliability_data=data, value_domain=[-1, 0, 1], level_of_measurement=level)
    assert ours.value == pytest.approx(theirs, abs=1e-12)


# Gwet's AC1 and Fleiss' κ: the `cac.raw4raters` data of Gwet's irrCAC (R), as shipped by its Python port
# irrCAC 0.4.4 (`irrCAC.datasets.raw_4raters`; from Gwet 2014): 4 raters, 12 units, 5 categories. The
# docstring of `irrCAC.raw` prints AC1 = 0.77544 (pa 0.81818, pe 0.19032) and Fleiss' κ = 0.76117 (pe
# 0.23872). The same data as Krippendorff's example, except that unit 12's lone rating sits with rater 3.
RAW_4RATERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, nan],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 3],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]


def test_gwet_ac1_and_fleiss_on_irrcac_raw4raters():
    labels = StepLabels.from_matrix(RAW_4RATERS, categories=FIVE)
    # By hand. Agreement per unit with ≥ 2 ratings (units 1–11): units 2 and 8 have 3 of 4 alike
    # (6 of 12 ordered pairs agree: 0.5), unit 6 has four different ratings (0), the other 8 agree fully:
    pa = (8 * 1 + 2 * 0.5 + 0) / 11  # = 9/11 = 0.81818
    # π_k: mean over the 12 rated units of the share of rating k:
    # k=1: units 1, 11 (1 each), 6 (1/4), 8 (3/4) → 3/12; k=2: 2 (3/4), 5, 9 (1), 6, 8 (1/4) → 3.25/12;
    # k=3: 3, 4, 12 (1), 2, 6 (1/4) → 3.5/12; k=4: 7 (1), 6 (1/4) → 1.25/12; k=5: 10 → 1/12.
    pi = np.array([3, 3.25, 3.5, 1.25, 1]) / 12
    pe_ac1 = (pi * (1 - pi)).sum() / (5 - 1)  # 109.625/576 = 0.19032
    pe_fleiss = (pi**2).sum()  # 34.375/144 = 0.23872
    assert (round(pa, 5), round(pe_ac1, 5), round(pe_fleiss, 5)) == (0.81818, 0.19032, 0.23872)

    ac1 = gwet_ac1(labels, resamples=0)
    assert ac1.value == pytest.approx((pa - pe_ac1) / (1 - pe_ac1), abs=1e-12)
    assert round(ac1.value, 5) == 0.77544
    kappa = fleiss_kappa(labels, resamples=0)
    assert kappa.value == pytest.approx((pa - pe_fleiss) / (1 - pe_fleiss), abs=1e-12)
    assert round(kappa.value, 5) == 0.76117
    assert percent_agreement(labels, resamples=0).value == pytest.approx(9 / 11)


def test_ac1_uses_the_scale_not_the_observed_ratings():
    """q is the number of ratings on the scale: a rating nobody used still counts in AC1's chance term."""
    data = [[1, 1, 1, 0, 1], [1, 1, 1, 1, 1]]
    on_two = gwet_ac1(StepLabels.from_matrix(data, categories=(0, 1)), resamples=0).value
    on_three = gwet_ac1(StepLabels.from_matrix(data, categories=(-1, 0, 1)), resamples=0).value
    pa, pi1 = 4 / 5, 9 / 10
    assert on_two == pytest.approx((pa - pi1 * (1 - pi1) * 2) / (1 - pi1 * (1 - pi1) * 2))
    pe3 = (pi1 * (1 - pi1) + (1 - pi1) * pi1) / 2
    assert on_three == pytest.approx((pa - pe3) / (1 - pe3))


def labels_from_counts(table, categories) -> StepLabels:
    """Subjects × categories count table (how many raters chose each category) → one label per rating."""
    rows = []
    for subject, counts in enumerate(table):
        rater = 0
        for category, n in zip(categories, counts, strict=True):
            for _ in range(n):
                rows.append((subject, 0, rater, category))
                rater += 1
    return StepLabels.from_rows(rows, categories=categories)


# Wikipedia, "Fleiss' kappa", worked example: 10 subjects, 14 raters, 5 categories, κ = 0.210 (the same
# table is statsmodels' test of `fleiss_kappa`, statsmodels/stats/tests/test_inter_rater.py).
WIKIPEDIA_FLEISS = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]


def test_fleiss_kappa_wikipedia_worked_example():
    labels = labels_from_counts(WIKIPEDIA_FLEISS, FIVE)
    kappa = fleiss_kappa(labels, resamples=0)
    assert round(kappa.value, 3) == 0.210
    # Its intermediate values: P̄ = 0.378, P̄e = 0.213.
    assert round(percent_agreement(labels, resamples=0).value, 3) == 0.378
    assert (kappa.n_units, kappa.n_labels) == (10, 140)


def test_fleiss_kappa_fleiss_1971_diagnoses():
    """Fleiss (1971): 30 patients, 6 psychiatrists, 5 diagnoses; κ = 0.4302445 by R irr's kappam.fleiss
    (quoted in statsmodels' test_inter_rater.py, with the data as `diagnoses`)."""
    diagnoses = np.array([
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5], [2, 2, 2, 4, 4, 4],
        [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4], [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5],
        [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4], [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5],
        [3, 3, 3, 3, 3, 5], [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4], [1, 4, 4, 4, 4, 5],
        [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4], [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5]])
    labels = StepLabels.from_matrix(diagnoses.T, categories=FIVE)
    assert fleiss_kappa(labels, resamples=0).value == pytest.approx(0.4302445, abs=5e-8)


def test_cohen_kappa_textbook_tables():
    # Wikipedia, "Cohen's kappa", first example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15:
    # p_o = 0.7, p_e = 0.5·0.6 + 0.5·0.4 = 0.5, κ = 0.4.
    assert cohen_kappa_table([[20, 5], [10, 15]]) == pytest.approx(0.4)
    # SAS's example as in statsmodels' test_inter_rater.py: κ = 0.4842.
    assert round(cohen_kappa_table([[0, 4, 1], [0, 8, 0], [0, 1, 5]]), 4) == 0.4842
    assert math.isnan(cohen_kappa_table([[7, 0], [0, 0]]))  # one category only: undefined


def labels_from_table(table, categories=(-1, 1)) -> StepLabels:
    """A 2-rater contingency table → labels by coders "a" (rows) and "b" (columns), one step per item."""
    rows, item = [], 0
    for ra, counts in zip(categories, table, strict=True):
        for rb, n in zip(categories, counts, strict=True):
            for _ in range(n):
                rows += [(item, 0, "a", ra), (item, 0, "b", rb)]
                item += 1
    return StepLabels.from_rows(rows, categories=categories)


def test_pairwise_cohen_kappa_counts_shared_items():
    labels = labels_from_table([[20, 5], [10, 15]])
    (pair,) = pairwise_cohen_kappa(labels, resamples=200)
    assert (pair.coder_a, pair.coder_b, pair.n_items, pair.n_chains) == ("a", "b", 50, 50)
    assert pair.kappa.value == pytest.approx(0.4)
    assert pair.observed_agreement == pytest.approx(0.7)
    assert pair.kappa.low < 0.4 < pair.kappa.high
    assert pair.to_dict()["kappa"]["n_units"] == 50


def test_pairwise_cohen_kappa_on_three_annotators_with_gaps():
    # Chain 0: steps 0–2 by a, b, c; chain 1: steps 0–1 by a and c only.
    rows = [(0, 0, "a", 1), (0, 0, "b", 1), (0, 0, "c", 1), (0, 1, "a", -1), (0, 1, "b", 1), (0, 1, "c", -1),
            (0, 2, "a", 0), (0, 2, "b", 0), (0, 2, "c", 1), (1, 0, "a", 1), (1, 0, "c", 1), (1, 1, "a", -1),
            (1, 1, "c", 0)]
    pairs = {(p.coder_a, p.coder_b): p for p in pairwise_cohen_kappa(StepLabels.from_rows(rows), resamples=0)}
    assert {k: (p.n_items, p.n_chains) for k, p in pairs.items()} == {("a", "b"): (3, 1), ("a", "c"): (5, 2),
                                                                    ("b", "c"): (3, 1)}
    # a vs c: (1,1) (−1,−1) (0,1) (1,1) (−1,0): p_o = 3/5; a's marginals −1: 2, 0: 1, +1: 2; c's: 1, 1, 3.
    pe = (2 * 1 + 1 * 1 + 2 * 3) / 25
    assert pairs[("a", "c")].kappa.value == pytest.approx((3 / 5 - pe) / (1 - pe))


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_cohen_kappa_matches_scikit_learn(seed):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(seed)
    n = 200
    a = rng.choice([-1, 0, 1], size=n, p=[0.2, 0.2, 0.6])
    b = np.where(rng.random(n) < 0.7, a, rng.choice([-1, 0, 1], size=n))
    items = np.arange(n)
    labels = StepLabels.from_arrays(chain=np.r_[items // 10, items // 10], step=np.r_[items % 10, items % 10],
                                    coder=["a"] * n + ["b"] * n, rating=np.r_[a, b])
    (pair,) = pairwise_cohen_kappa(labels, resamples=0)
    assert pair.kappa.value == pytest.approx(sklearn_metrics.cohen_kappa_score(a, b), abs=1e-12)
    assert pair.n_chains == 20


# Chain 0: a's first −1 at step 2, b's at 2, c's at 1. Chain 1: nobody rates −1 (b skipped step 1).
# Chain 2: a at 0, b none. Chain 3: only a.
FIRST_ERROR_ROWS = [
    (0, 0, "a", 1), (0, 1, "a", 0), (0, 2, "a", -1), (0, 3, "a", -1),
    (0, 0, "b", 1), (0, 1, "b", 1), (0, 2, "b", -1), (0, 3, "b", 1),
    (0, 0, "c", 1), (0, 1, "c", -1), (0, 2, "c", -1), (0, 3, "c", -1),
    (1, 0, "a", 1), (1, 1, "a", 1), (1, 0, "b", 1), (1, 0, "c", 0), (1, 1, "c", 1),
    (2, 0, "a", -1), (2, 1, "a", 1), (2, 0, "b", 1), (2, 1, "b", 1),
    (3, 0, "a", -1),
]


def test_first_error_agreement_by_hand():
    # Chain 0: pairs agreeing: (a, b) of 3 → 1/3.
    # Chain 1: "none" for all → 1, unanimous.
    # Chain 2: a at 0, b none → 0. Chain 3: only a → not counted.
    labels = StepLabels.from_rows(FIRST_ERROR_ROWS)
    chain, coder, first = first_errors(labels)
    got = {(str(labels.chain_ids[c]), str(labels.coder_ids[k])): int(f) for c, k, f in zip(chain, coder, first,
                                                                                               strict=True)}
    assert got == {("0", "a"): 2, ("0", "b"): 2, ("0", "c"): 1, ("1", "a"): -1, ("1", "b"): -1, ("1", "c"): -1,
                   ("2", "a"): 0, ("2", "b"): -1, ("3", "a"): 0}
    estimate = first_error_agreement(labels, resamples=0)
    assert estimate.value == pytest.approx((1 / 3 + 1 + 0) / 3)
    assert (estimate.n_units, estimate.n_labels) == (3, 8)
    assert first_error_agreement(labels, unanimous=True, resamples=0).value == pytest.approx(1 / 3)


def test_labels_refuse_bad_input_with_row_and_expectation():
    with pytest.raises(LabelsError, match=r"rating at row 1 is 2; expected one of -1, 0, 1"):
        StepLabels.from_arrays(chain=[1, 1], step=[0, 1], coder=["u", "u"], rating=[1, 2])
    with pytest.raises(LabelsError, match=r"rows 0 and 2 both rate step 0 of chain 7 by coder 'u'"):
        StepLabels.from_arrays(chain=[7, 7, 7], step=[0, 1, 0], coder=["u", "u", "u"], rating=[1, 1, -1])
    with pytest.raises(LabelsError, match=r"0-based index; row 0 has -1"):
        StepLabels.from_arrays(chain=[1], step=[-1], coder=[1], rating=[1])
    with pytest.raises(LabelsError, match=r"rating must hold integers; row 1 has nan"):
        StepLabels.from_arrays(chain=[1, 1], step=[0, 1], coder=[1, 1], rating=[1, nan])
    with pytest.raises(LabelsError, match=r"1-D arrays of one length"):
        StepLabels.from_arrays(chain=[1, 2], step=[0], coder=[1, 1], rating=[1, 1])


def test_undefined_measures_are_none_not_nan():
    one_value = StepLabels.from_matrix([[1, 1, 1], [1, 1, 1]], categories=(-1, 0, 1))
    assert krippendorff_alpha(one_value).value is None  # no variation: α undefined
    assert fleiss_kappa(one_value).value is None
    assert gwet_ac1(one_value).value == 1.0  # AC1's chance term stays below 1
    single = StepLabels.from_rows([(0, 0, "a", 1), (0, 1, "b", -1)])
    assert krippendorff_alpha(single).value is None  # no step has two ratings
    empty = StepLabels.from_rows([])
    assert agreement_report(empty).krippendorff_alpha.value is None


def test_report_is_json_with_the_fields_the_api_returns():
    labels = StepLabels.from_matrix(random_matrix(np.random.default_rng(3), coders=3, units=80, missing=0.1),
                                    categories=(-1, 0, 1))
    report = agreement_report(labels, resamples=100, seed=1).to_dict()
    text = json.dumps(report, allow_nan=False)
    for name in ("krippendorff_alpha", "gwet_ac1", "first_error_agreement"):
        field = report[name]
        assert set(field) >= {"value", "low", "high", "n_labels", "n_units", "confidence"}
        assert field["low"] <= field["value"] <= field["high"]
    assert json.loads(text)["rating_shares"].keys() == {"-1", "0", "1"}
    assert agreement_report(labels, resamples=100, seed=1).to_dict() == report  # seeded


def test_report_draws_once_and_gives_what_each_measure_gives_alone():
    labels = StepLabels.from_matrix(random_matrix(np.random.default_rng(4), coders=3, units=50, missing=0.2),
                                    categories=(-1, 0, 1))
    report = agreement_report(labels, resamples=150, seed=9)
    kw = {"resamples": 150, "seed": 9}
    assert report.krippendorff_alpha == krippendorff_alpha(labels, **kw)
    assert report.krippendorff_alpha_nominal == krippendorff_alpha(labels, level="nominal", **kw)
    assert report.gwet_ac1 == gwet_ac1(labels, **kw)
    assert report.fleiss_kappa == fleiss_kappa(labels, **kw)
    assert report.first_error_unanimous == first_error_agreement(labels, unanimous=True, **kw)


def test_alpha_paradox_ac1_stays_near_raw_agreement_when_nearly_all_plus_one():
    """98 % of steps +1 with rare one-sided −1s: α is low although the raters almost always agree."""
    rng = np.random.default_rng(0)
    data = np.ones((3, 500))
    for u in rng.choice(500, size=12, replace=False):
        data[rng.integers(3), u] = -1
    labels = StepLabels.from_matrix(data, categories=(-1, 0, 1))
    pa = percent_agreement(labels, resamples=0).value
    assert pa > 0.98
    assert krippendorff_alpha(labels, resamples=0).value < 0.05
    assert gwet_ac1(labels, resamples=0).value > 0.97


def test_position_agreement_equals_measures_on_the_subset():
    rng = np.random.default_rng(5)
    n_chains, steps = 40, 12
    chain = np.repeat(np.arange(n_chains), steps * 3)
    step = np.tile(np.repeat(np.arange(steps), 3), n_chains)
    coder = np.tile([0, 1, 2], n_chains * steps)
    rating = rng.choice([-1, 0, 1], size=chain.size, p=[0.15, 0.15, 0.7])
    labels = StepLabels.from_arrays(chain=chain, step=step, coder=coder, rating=rating)
    buckets = position_agreement(labels, edges=(0, 1, 5, 10), resamples=50)
    assert [(b.start, b.stop, b.n_steps) for b in buckets] == [(0, 1, 40), (1, 5, 160), (5, 10, 200),
                                                                (10, None, 80)]
    subset = labels.select((labels.step >= 1) & (labels.step < 5))
    assert buckets[1].estimates["krippendorff_alpha"] == krippendorff_alpha(subset, resamples=50)
    assert buckets[1].estimates["gwet_ac1"].n_chains == 40
    with pytest.raises(ValueError, match="start at 0"):
        position_agreement(labels, edges=(1, 5))


def test_annotator_agreement_by_hand():
    by_coder = {a.coder: a for a in annotator_agreement(StepLabels.from_rows(FIRST_ERROR_ROWS), resamples=0)}
    # First error, share of the chain's other annotators with the same index (chain 3 has nobody else):
    # a: chain 0 ½ (b), chain 1 1, chain 2 0 → ½ over 3 chains; c: chain 0 0, chain 1 1 → ½ over 2.
    assert {k: (v.first_error_agreement.value, v.first_error_agreement.n_units) for k, v in by_coder.items()} == {
        "a": (0.5, 3), "b": (0.5, 3), "c": (0.5, 2)}
    # c's ratings against the others' on the same step (chain, step): (0,0) c +1, a +1, b +1 → 2 of 2;
    # (0,1) c −1, a 0, b +1 → 0 of 2; (0,2) c −1, a −1, b −1 → 2 of 2; (0,3) c −1, a −1, b +1 → 1 of 2;
    # (1,0) c 0, a +1, b +1 → 0 of 2; (1,1) c +1, a +1 → 1 of 1. 6 of 11.
    assert (by_coder["c"].agreement.value, by_coder["c"].agreement.n_units) == (pytest.approx(6 / 11), 11)
    assert by_coder["a"].n_chains == 4 and by_coder["c"].n_chains == 2


@PROPERTY_SMALL
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 3), st.sampled_from([-1, 0, 1])),
                min_size=1, max_size=40, unique_by=lambda r: r[:3]))
def test_breakdowns_never_fail_on_ragged_labels_and_stay_in_range(rows):
    labels = StepLabels.from_rows(rows)
    for entry in annotator_agreement(labels, resamples=20):
        for e in (entry.agreement, entry.first_error_agreement):
            assert e.value is None or 0 <= e.value <= 1
        assert entry.kappa.value is None or -1 - 1e-12 <= entry.kappa.value <= 1 + 1e-12
        assert sum(entry.rating_shares.values()) == pytest.approx(1)
        json.dumps(entry.to_dict(), allow_nan=False)
    buckets = position_agreement(labels, edges=(0, 2), measures=("krippendorff_alpha", "percent_agreement"),
                                 resamples=20)
    assert sum(b.n_steps for b in buckets) == labels.n_units
    json.dumps([b.to_dict() for b in buckets] + [agreement_report(labels, resamples=20).to_dict()], allow_nan=False)


def test_annotator_agreement_flags_the_always_plus_one_annotator():
    rng = np.random.default_rng(2)
    n = 300
    truth = rng.choice([-1, 0, 1], size=n, p=[0.15, 0.15, 0.7])
    good = [np.where(rng.random(n) < 0.9, truth, rng.choice([-1, 0, 1], size=n)) for _ in range(2)]
    lazy = np.ones(n, dtype=int)
    items = np.arange(n)
    labels = StepLabels.from_arrays(chain=np.tile(items // 6, 3), step=np.tile(items % 6, 3),
                                    coder=np.repeat(["g1", "g2", "lazy"], n), rating=np.concatenate([*good, lazy]))
    by_coder = {a.coder: a for a in annotator_agreement(labels, resamples=100)}
    assert by_coder["lazy"].rating_shares == {-1: 0.0, 0: 0.0, 1: 1.0}
    assert by_coder["lazy"].kappa.value == pytest.approx(0.0, abs=1e-12)  # a constant rater: κ exactly 0
    assert by_coder["g1"].kappa.value > 0.4
    assert by_coder["g1"].agreement.n_units == 2 * n  # each step pairs g1 with g2 and with lazy
    assert by_coder["g1"].n_chains == 50
    json.dumps([a.to_dict() for a in by_coder.values()], allow_nan=False)


# ---- properties -------------------------------------------------------------------------------

RATING = st.sampled_from([-1, 0, 1])


@st.composite
def label_sets(draw, min_chains=1, max_chains=8):
    """Chains of 1–5 steps, 2–4 coders each rating a step or not."""
    rows = []
    for c in range(draw(st.integers(min_chains, max_chains))):
        coders = draw(st.integers(2, 4))
        for s in range(draw(st.integers(1, 5))):
            for k in range(coders):
                if draw(st.booleans()) or k < 2:
                    rows.append((c, s, k, draw(RATING)))
    return rows


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.lists(st.lists(RATING, min_size=1, max_size=5), min_size=2, max_size=10), st.integers(2, 4))
def test_alpha_is_one_for_identical_labels_with_variation(chains, coders):
    rows = [(c, s, k, r) for c, steps in enumerate(chains) for s, r in enumerate(steps) for k in range(coders)]
    if len({r for *_, r in rows}) < 2:
        return
    labels = StepLabels.from_rows(rows)
    for level in ("nominal", "ordinal", "interval"):
        assert krippendorff_alpha(labels, level=level, resamples=0).value == pytest.approx(1.0)
    assert gwet_ac1(labels, resamples=0).value == pytest.approx(1.0)
    assert fleiss_kappa(labels, resamples=0).value == pytest.approx(1.0)


def values(labels: StepLabels) -> list:
    return [e.value for e in (krippendorff_alpha(labels, resamples=0),
                              krippendorff_alpha(labels, level="nominal", resamples=0),
                              gwet_ac1(labels, resamples=0), fleiss_kappa(labels, resamples=0),
                              first_error_agreement(labels, resamples=0))]


def same(a: list, b: list) -> bool:
    return all((x is None and y is None) or (x is not None and y is not None and math.isclose(x, y, abs_tol=1e-12))
               for x, y in zip(a, b, strict=True))


@PROPERTY
@given(label_sets(), st.randoms(use_true_random=False))
def test_invariant_to_coder_names_chain_names_and_row_order(rows, random):
    base = values(StepLabels.from_rows(rows))
    coder_names = list(range(5))
    random.shuffle(coder_names)
    chain_names = list(range(20))
    random.shuffle(chain_names)
    renamed = [(f"chain-{chain_names[c]}", s, f"coder-{coder_names[k]}", r) for c, s, k, r in rows]
    random.shuffle(renamed)
    assert same(values(StepLabels.from_rows(renamed)), base)


@PROPERTY
@given(label_sets())
def test_measures_in_their_ranges(rows):
    labels = StepLabels.from_rows(rows)
    alpha, alpha_nominal, ac1, kappa, first = values(labels)
    assert alpha is None or alpha <= 1 + 1e-12
    assert alpha_nominal is None or alpha_nominal <= 1 + 1e-12
    assert ac1 is None or -1 <= ac1 <= 1 + 1e-12
    assert kappa is None or -1 <= kappa <= 1 + 1e-12
    assert first is None or 0 <= first <= 1
    for pair in pairwise_cohen_kappa(labels, resamples=0):
        assert pair.kappa.value is None or -1 - 1e-12 <= pair.kappa.value <= 1 + 1e-12
        assert 0 <= pair.observed_agreement <= 1


@PROPERTY
@given(label_sets(min_chains=2))
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the package's 0/0 when undefined
def test_alpha_matches_krippendorff_package(rows):
    krippendorff = pytest.importorskip("krippendorff")
    labels = StepLabels.from_rows(rows)
    matrix = np.full((labels.n_coders, labels.n_units), nan)
    matrix[labels.coder, labels.unit] = labels.ratings()
    ours = krippendorff_alpha(labels, level="ordinal", resamples=0).value
    try:
        theirs = krippendorff.alpha(reliability_data=matrix, value_domain=[-1, 0, 1], level_of_measurement="ordinal")
    except ValueError:  # the package refuses data with one value or no pairable unit: ours is undefined there
        assert ours is None
        return
    if ours is None:
        assert not np.isfinite(theirs)
    else:
        assert ours == pytest.approx(theirs, abs=1e-9)


@PROPERTY
@given(label_sets(min_chains=3, max_chains=12), st.integers(0, 2**32 - 1))
def test_bootstrap_interval_contains_the_estimate(rows, seed):
    labels = StepLabels.from_rows(rows)
    for estimate in (krippendorff_alpha(labels, resamples=200, seed=seed), gwet_ac1(labels, resamples=200, seed=seed),
                     first_error_agreement(labels, resamples=200, seed=seed)):
        if estimate.value is None or estimate.low is None:
            continue
        assert estimate.low - 1e-9 <= estimate.value <= estimate.high + 1e-9, estimate
