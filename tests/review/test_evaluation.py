"""Judge evaluation: ProcessBench F1 equals the published definition computed directly; step metrics,
calibration and the human ceiling; bad predictions are refused line by line."""

import json
import random

import orjson
import pytest

from annotation.exceptions import ValidationFailed
from annotation.services import chains_import
from review.evaluation import GoldChain, Prediction, calibration, evaluate
from review.evaluations import evaluation_create
from tests.conftest import DEMO_DATA
from tests.review.test_releases import EXCERPTS, built, label

ITEMS = [i for name in EXCERPTS for i in json.loads((DEMO_DATA / name).read_text())]


def direct_processbench_f1(items, predicted):
    """ProcessBench's evaluation as published: per subset, acc on erroneous items (pred == label) and on
    correct items (pred == -1); F1 = 2·a·b/(a+b); the average is the mean over subsets."""
    out = {}
    for subset in sorted({i["id"].rsplit("-", 1)[0] for i in items}):
        chosen = [i for i in items if i["id"].rsplit("-", 1)[0] == subset]
        err = [predicted[i["id"]] == i["label"] for i in chosen if i["label"] != -1]
        ok = [predicted[i["id"]] == -1 for i in chosen if i["label"] == -1]
        a, b = sum(err) / len(err) * 100, sum(ok) / len(ok) * 100
        out[subset] = 2 * a * b / (a + b) if a + b else 0.0
    out["average"] = sum(out.values()) / len(out)
    return out


def gold_of(items):
    def ratings(item):
        k = item["label"]
        n = len(item["steps"])
        return [1] * n if k == -1 else [1] * k + [-1] + [None] * (n - k - 1)

    return {i["id"]: GoldChain(id=i["id"], subset=i["id"].rsplit("-", 1)[0], ratings=ratings(i)) for i in ITEMS}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_processbench_f1_equals_the_published_definition(seed):
    rng = random.Random(seed)
    predicted = {i["id"]: rng.choice([-1, i["label"], rng.randrange(len(i["steps"]))]) for i in ITEMS}
    result = evaluate(gold_of(ITEMS), {k: Prediction(label=v) for k, v in predicted.items()}, resamples=200)
    direct = direct_processbench_f1(ITEMS, predicted)
    for subset, value in direct.items():
        assert result["measures"][f"f1:{subset}"]["value"] == pytest.approx(value, abs=1e-9)
    low, high = result["measures"]["f1:average"]["low"], result["measures"]["f1:average"]["high"]
    assert low <= direct["average"] <= high


def test_a_perfect_judge_scores_100_and_one_that_always_says_correct_scores_0():
    gold = gold_of(ITEMS)
    perfect = evaluate(gold, {i["id"]: Prediction(label=i["label"]) for i in ITEMS}, resamples=0)
    assert perfect["measures"]["f1:average"]["value"] == pytest.approx(100)
    assert perfect["measures"]["step_precision"]["value"] == 1 and perfect["measures"]["step_recall"]["value"] == 1
    lazy = evaluate(gold, {i["id"]: Prediction(label=-1) for i in ITEMS}, resamples=0)
    assert lazy["measures"]["f1:average"]["value"] == 0
    assert lazy["measures"]["step_recall"]["value"] == 0


def test_step_precision_recall_and_calibration_by_hand():
    gold = {"a-1": GoldChain("a-1", "a", [1, 1, -1]), "a-2": GoldChain("a-2", "a", [1, -1, None])}
    preds = {"a-1": Prediction(label=1, step_scores=[0.9, 0.2, 0.1]), "a-2": Prediction(label=1, step_scores=[0.8, 0.4, 0.3])}
    result = evaluate(gold, preds, resamples=0)
    # wrong-step verdicts: a-1 steps 1, 2 (truth: 2), a-2 step 1 (truth 1); step 2 of a-2 is unrated
    assert result["measures"]["step_precision"]["value"] == pytest.approx(2 / 3)
    assert result["measures"]["step_recall"]["value"] == 1
    cal = calibration([g.ratings for g in gold.values()], [p.step_scores for p in preds.values()])
    conf = [0.9, 0.8, 0.9, 0.8, 0.6]
    right = [1, 0, 1, 1, 1]  # 0.2 on a correct step is a wrong verdict
    assert cal["steps"] == 5
    by_bin = {}
    for c, y in zip(conf, right, strict=True):
        by_bin.setdefault(min(int(c * 10), 9), []).append((c, y))
    ece = sum(len(v) / 5 * abs(sum(y for _, y in v) / len(v) - sum(c for c, _ in v) / len(v)) for v in by_bin.values())
    assert cal["ece"] == pytest.approx(ece)


@pytest.mark.django_db
def test_evaluation_of_a_release_with_a_human_ceiling(project, settings, tmp_path, annotator, annotator2):
    settings.MEDIA_ROOT = tmp_path
    chains_import(project=project, data=(DEMO_DATA / EXCERPTS[0]).read_bytes())
    both = label(project, annotator, [1, -1]).chain.source_id
    assert label(project, annotator2, [1, 1, -1]).chain.source_id == both
    release = built(project, label_source="reference", test_fraction=0, formats=["processbench"])
    items = json.loads((DEMO_DATA / EXCERPTS[0]).read_text())
    chosen = [i for i in items if i["label"] == -1 and i["id"] != both][:5]
    chosen += [i for i in items if i["label"] != -1 and i["id"] != both][:4] + [i for i in items if i["id"] == both]
    data = b"\n".join(orjson.dumps({"id": i["id"], "label": i["label"]}) for i in chosen)
    evaluation = evaluation_create(release=release, user=None, judge="oracle", data=data, split="train",
                                   resamples=100)
    assert evaluation.results["predicted"] == 10 and evaluation.results["missing"] == 10
    assert evaluation.results["measures"]["f1:gsm8k"]["value"] == pytest.approx(100)
    assert evaluation.results["ceiling_chains"] == 1  # the chain both annotators labelled (with the reference)

    with pytest.raises(ValidationFailed, match=r"line 2, field 'label'.*line 3, field 'id': 'nope'"):
        evaluation_create(release=release, user=None, judge="bad", split="train",
                          data=b'{"id": "gsm8k-0", "label": -1}\n{"id": "gsm8k-1", "label": 99}\n{"id": "nope"}')
