"""Aggregation: majority consensus (unchanged) and Dawid–Skene. Pure: no database."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from review.aggregation import consensus, dawid_skene, first_error
from review.quality import StepLabels


def test_consensus_majority_tie_goes_to_the_lower_rating():
    assert consensus([[1, 1, -1], [1, 0, 1], [0, 0, None]], 4) == [1, 0, -1, None]


def test_first_error_is_the_first_minus_one_or_minus_one():
    assert first_error([1, 0, -1, -1]) == 2
    assert first_error([1, None, 0]) == -1


# ---- Dawid–Skene ------------------------------------------------------------------------------

RATINGS = np.array([-1, 0, 1])


def planted(n_steps=3000, seed=0):
    """Steps rated by five annotators with planted competences.

    good (95 % right, else uniform over all three), two fair ones (85 %, 75 %), random (uniform), and
    adversarial (always wrong: a sound step is called an error, an error sound, a neutral step sound).
    The fair annotators are there because Dawid–Skene's likelihood is symmetric under relabelling the
    true classes: with only one good and one adversarial annotator, "good" and "adversarial" are
    interchangeable and EM can settle on either. A competent majority breaks the tie.
    """
    rng = np.random.default_rng(seed)
    truth = rng.choice(3, size=n_steps, p=[0.15, 0.15, 0.7])  # index into RATINGS
    skill = {"good": 0.95, "fair1": 0.85, "fair2": 0.75}
    columns = {}
    for name, p in skill.items():
        columns[name] = np.where(rng.random(n_steps) < p, truth, rng.integers(0, 3, size=n_steps))
    columns["random"] = rng.integers(0, 3, size=n_steps)
    columns["adversarial"] = np.array([2, 2, 0])[truth]
    expected_accuracy = {name: p + (1 - p) / 3 for name, p in skill.items()} | {"random": 1 / 3, "adversarial": 0.0}
    names = list(columns)
    step = np.arange(n_steps)
    labels = StepLabels.from_arrays(chain=np.tile(step // 30, len(names)), step=np.tile(step % 30, len(names)),
                                    coder=np.repeat(names, n_steps),
                                    rating=RATINGS[np.concatenate([columns[n] for n in names])])
    # labels are sorted by (chain, step): unit u is step u here
    return labels, truth, expected_accuracy


def test_dawid_skene_recovers_planted_competences():
    labels, truth, expected = planted()
    result = dawid_skene(labels)
    assert result.converged and result.iterations < 100
    accuracy = result.annotator_accuracy()
    for name, value in expected.items():
        assert accuracy[name] == pytest.approx(value, abs=0.03), name
    confusion = dict(zip(result.coder_ids, result.confusion, strict=True))
    # adversarial: true −1 → +1, true 0 → +1, true +1 → −1; random: flat rows
    assert np.allclose(confusion["adversarial"], [[0, 0, 1], [0, 0, 1], [1, 0, 0]], atol=0.03)
    assert np.allclose(confusion["random"], 1 / 3, atol=0.06)
    assert result.priors == pytest.approx([0.15, 0.15, 0.7], abs=0.03)
    ds_right = (result.labels == truth).mean()
    majority = np.array(consensus([list(RATINGS[labels.value[labels.coder == k]]) for k in range(5)],
                                  labels.n_units), dtype=float)
    majority_right = (majority == RATINGS[truth]).mean()
    assert ds_right > 0.97 > majority_right + 0.05  # DS discounts the random and adversarial votes


def test_dawid_skene_result_is_consistent_and_serializable():
    labels, _, _ = planted(n_steps=600, seed=1)
    result = dawid_skene(labels)
    assert result.posterior.shape == (labels.n_units, 3)
    assert np.allclose(result.posterior.sum(axis=1), 1)
    assert (result.labels == result.posterior.argmax(axis=1)).all()
    assert np.allclose(result.confusion.sum(axis=2), 1)
    steps = result.step_labels()
    assert len(steps) == labels.n_units and set(steps.values()) <= {-1, 0, 1}
    annotators = result.annotators()
    assert {a["coder"] for a in annotators} == {"good", "fair1", "fair2", "random", "adversarial"}
    json.dumps(annotators, allow_nan=False)


def test_dawid_skene_tie_goes_to_the_lower_rating():
    # Two annotators who contradict each other symmetrically: every posterior is an exact tie.
    labels = StepLabels.from_rows([(0, 0, "a", -1), (0, 0, "b", 1), (0, 1, "a", 1), (0, 1, "b", -1)])
    result = dawid_skene(labels)
    assert result.posterior[:, 0] == pytest.approx(result.posterior[:, 2])
    assert list(result.step_labels().values()) == [-1, -1]


def test_dawid_skene_refuses_empty_labels():
    with pytest.raises(ValueError, match="at least one label"):
        dawid_skene(StepLabels.from_rows([]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3), st.integers(0, 3), st.sampled_from([-1, 0, 1])),
                min_size=1, max_size=60, unique_by=lambda r: r[:3]),
       st.permutations(["p", "q", "r", "s"]))
def test_dawid_skene_invariant_to_annotator_names(rows, names):
    plain = dawid_skene(StepLabels.from_rows(rows))
    renamed = dawid_skene(StepLabels.from_rows([(c, s, names[k], r) for c, s, k, r in rows]))
    assert np.allclose(plain.posterior, renamed.posterior, atol=1e-9)
    by_name = dict(zip(renamed.coder_ids, renamed.accuracy, strict=True))
    for k, accuracy in zip(plain.coder_ids, plain.accuracy, strict=True):
        assert by_name[names[k]] == pytest.approx(accuracy, abs=1e-9)


@pytest.mark.filterwarnings("ignore::Warning:crowdkit.*")  # its pandas 3 deprecations, not ours
def test_dawid_skene_matches_crowd_kit():
    """Same model, same start (vote shares), same 1e-10 floor: after the same 40 EM iterations (no early
    stop on either side), the same posteriors, confusion matrices and priors."""
    pd = pytest.importorskip("pandas")
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    rng = np.random.default_rng(7)
    n = 2000
    truth = rng.choice(3, size=n, p=[0.1, 0.15, 0.75])
    task = np.repeat(np.arange(n), 3)
    worker = np.concatenate([rng.choice(6, 3, replace=False) for _ in range(n)])
    skill = np.array([0.95, 0.9, 0.8, 0.7, 0.5, 0.3])
    value = np.where(rng.random(task.size) < skill[worker], truth[task], rng.integers(0, 3, size=task.size))
    labels = StepLabels.from_arrays(chain=task, step=np.zeros_like(task), coder=worker, rating=RATINGS[value])
    ours = dawid_skene(labels, tol=-np.inf, max_iter=40)
    theirs = crowdkit.DawidSkene(n_iter=40, tol=-np.inf).fit(pd.DataFrame({"task": task, "worker": worker,
                                                                          "label": value}))
    assert np.allclose(theirs.probas_.sort_index()[[0, 1, 2]].to_numpy(), ours.posterior, atol=1e-9)
    assert (theirs.labels_.sort_index().to_numpy() == ours.labels).all()
    errors = theirs.errors_  # rows (worker, observed label), columns true label
    confusion = np.array([[[errors.loc[(w, seen), true] for seen in range(3)] for true in range(3)]
                          for w in range(6)])
    assert np.allclose(confusion, ours.confusion, atol=1e-9)
    assert np.allclose(theirs.priors_.sort_index().to_numpy(), ours.priors, atol=1e-9)
