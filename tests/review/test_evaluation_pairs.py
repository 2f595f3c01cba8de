"""Position swap for judges that see two items: hand-worked cases of each measure, bad lines refused line by
line, and a pairwise judge scored on a real release's preference pairs through the service, the API, the
command and the page."""

import json

import orjson
import pytest
from django.core.management import call_command
from django.urls import reverse

from annotation.exceptions import ValidationFailed
from review.evaluation_pairs import PairJudgementsError, parse_pair_judgements, position_swap
from review.evaluations import evaluation_create
from review.releases import release_dir
from tests.review.test_releases import built, lines, loaded, media  # noqa: F401  (fixtures)


def judgements(*rows):
    return [orjson.dumps({"id": i, "shown_first": first, "picked": picked}) for i, first, picked in rows]


def values(results):
    return {name: m["value"] for name, m in results["measures"].items()}


def test_each_measure_on_pairs_worked_by_hand():
    data = judgements(
        ("right", "chosen", "first"), ("right", "rejected", "second"),      # the chosen item both times
        ("first", "chosen", "first"), ("first", "rejected", "first"),       # always the first place
        ("second", "chosen", "second"), ("second", "rejected", "second"),   # always the second place
        ("wrong", "chosen", "second"), ("wrong", "rejected", "first"),      # the rejected item both times
        ("once", "chosen", "first"))                                        # one order only: counted, not scored
    judged = parse_pair_judgements(data, {"right", "first", "second", "wrong", "once", "never"})
    results = position_swap(judged, pairs=6, resamples=0)
    assert (results["judged_both_orders"], results["judged_one_order"], results["missing"]) == (4, 1, 1)
    assert values(results) == {"consistency": 0.5, "first_position_rate": 0.5, "accuracy": 0.5,
                               "accuracy_chosen_first": 0.5, "accuracy_chosen_second": 0.5,
                               "accuracy_both_orders": 0.25}


def test_a_judge_that_always_picks_the_first_place_is_caught():
    pairs = [f"p{i}" for i in range(40)]
    data = [row for p in pairs for row in judgements((p, "chosen", "first"), (p, "rejected", "first"))]
    results = position_swap(parse_pair_judgements(data, set(pairs)), pairs=40, resamples=200)
    got = values(results)
    assert got["consistency"] == 0 and got["first_position_rate"] == 1 and got["accuracy"] == 0.5
    assert got["accuracy_chosen_first"] == 1 and got["accuracy_chosen_second"] == 0
    assert results["measures"]["consistency"]["n_chains"] == 40


def test_bad_lines_are_named_and_nothing_is_taken():
    data = [b"{", orjson.dumps({"id": "x", "shown_first": "chosen", "picked": "first"}),
            orjson.dumps({"id": "a", "shown_first": "left", "picked": "first"}),
            orjson.dumps({"id": "a", "shown_first": "chosen", "picked": "A"}),
            orjson.dumps({"id": "a", "shown_first": "chosen", "picked": "first"}),
            orjson.dumps({"id": "a", "shown_first": "chosen", "picked": "second"})]
    with pytest.raises(PairJudgementsError) as caught:
        parse_pair_judgements(data, {"a"})
    errors = caught.value.errors
    assert errors[0].startswith("line 1: not JSON")
    assert errors[1].startswith("line 2, field 'id': 'x' is not a preference pair")
    assert errors[2].startswith("line 3, field 'shown_first'") and errors[3].startswith("line 4, field 'picked'")
    assert errors[4].startswith("line 6, field 'shown_first': pair 'a' was already judged") and len(errors) == 5


@pytest.mark.django_db
def test_a_pairwise_judge_on_a_releases_preference_pairs(loaded, researcher, api_client, client, tmp_path):  # noqa: F811
    release = built(loaded, test_fraction=0)
    pairs = [row["id"] for row in lines(release_dir(release) / "preference" / "train.jsonl")]
    assert len(pairs) == 28
    # A judge that prefers the first place except on the first 7 pairs, where it finds the chosen item.
    data = b"\n".join(row for n, p in enumerate(pairs) for row in judgements(
        (p, "chosen", "first"), (p, "rejected", "second" if n < 7 else "first")))
    evaluation = evaluation_create(release=release, user=None, judge="pairwise", data=data, split="train",
                                   resamples=100, pairs=True)
    got = values(evaluation.results)
    assert evaluation.results["judged_both_orders"] == 28 and evaluation.predictions == 56
    assert got["consistency"] == pytest.approx(7 / 28) and got["first_position_rate"] == pytest.approx(49 / 56)

    with pytest.raises(ValidationFailed, match="line 1, field 'id'"):
        evaluation_create(release=release, user=None, judge="x", data=b'{"id": "nope", "shown_first": "chosen", '
                          b'"picked": "first"}', split="train", pairs=True)
    without = built(loaded, version="2", formats=["processbench"], test_fraction=0)
    with pytest.raises(ValidationFailed, match="make a release with the 'preference' format"):
        evaluation_create(release=without, user=None, judge="x", data=data, split="train", pairs=True)

    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api_client(researcher).post(reverse("api-evaluation-list", args=[release.pk]), {
        "judge": "pairwise <b>", "split": "train", "resamples": 0, "pairs": True,
        "file": SimpleUploadedFile("pairs.jsonl", data)}, format="multipart")
    assert response.status_code == 201, response.json()
    assert response.json()["results"]["kind"] == "position_swap"
    client.force_login(researcher)
    page = client.get(reverse("evaluation", args=[response.json()["id"]]))
    assert page.status_code == 200 and b"position swap" in page.content and b"consistency" in page.content
    assert b"pairwise <b>" not in page.content and b"pairwise &lt;b&gt;" in page.content

    path = tmp_path / "pairs.jsonl"
    path.write_bytes(data)
    out = tmp_path / "out.json"
    with out.open("w") as handle:
        call_command("evaluate_judge", release=release.pk, predictions=str(path), judge="cli", split="train",
                     resamples=0, pairs=True, stdout=handle)
    assert json.loads(out.read_text())["measures"]["consistency"]["value"] == pytest.approx(7 / 28)
