"""Releases: built from the database into every format, each read by its consumer, reproducible from the
manifest, split by problem, compared with another release."""

import json
import subprocess
import sys

import pytest

from annotation.exceptions import Conflict, ValidationFailed
from annotation.models import Chain
from annotation.services import (
    LabelInput,
    assignment_claim_next,
    assignment_labels_save,
    assignment_submit,
    chains_import,
)
from review.releases import release_build, release_create, release_diff, release_dir, release_remake
from review.releases_build import RELEASE_FORMATS
from review.releases_models import ReleaseStatus
from tests.conftest import DEMO_DATA, FIXTURES, ROOT

EXCERPTS = ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json")


def built(project, user=None, **options):
    options = {"name": "steps", "version": "1.0", "formats": list(RELEASE_FORMATS), "test_fraction": 0.3, **options}
    release = release_create(project=project, user=user, **options)
    release = release_build(release_id=release.pk)
    assert release.status == ReleaseStatus.DONE, release.error
    from annotation.models import AuditEvent

    # The audit log has the release's creation and its publication with the content hash.
    events = {e.action: e for e in AuditEvent.objects.filter(object_type="DatasetRelease", object_id=str(release.pk))}
    assert set(events) == {"release.created", "release.published"}
    assert events["release.published"].detail["content_hash"] == release.content_hash
    return release


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def loaded(project, media):
    for name in EXCERPTS:
        chains_import(project=project, data=(DEMO_DATA / name).read_bytes())
    chains_import(project=project, data=(FIXTURES / "prm800k_sample.jsonl").read_bytes())
    return project


def label(project, user, ratings, reason=None, corrections=None):
    reason = reason or ("found_error" if -1 in ratings else "solution")
    claimed = assignment_claim_next(project=project, user=user)
    corrections = corrections or {}
    saved = assignment_labels_save(assignment=claimed, user=user, version=claimed.version,
                                   labels=[LabelInput(i, r, correction=corrections.get(i, ""))
                                           for i, r in enumerate(ratings)])
    assignment_submit(assignment=claimed, user=user, finish_reason=reason, version=saved.version)
    return claimed


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.django_db
def test_every_format_and_side_file_is_listed_with_its_sha256_rows_and_size(loaded):
    release = built(loaded)
    root = release_dir(release)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest == release.manifest and release.content_hash == manifest["content_hash"]
    assert {f["kind"] for f in manifest["files"]} == set(RELEASE_FORMATS) | {"provenance", "card"}
    import hashlib

    for f in manifest["files"]:
        data = (root / f["path"]).read_bytes()
        assert len(data) == f["bytes"] and hashlib.sha256(data).hexdigest() == f["sha256"]
    assert manifest["counts"]["chains"] == {"train": 24, "test": 11}  # 20 + 10 ProcessBench + 5 PRM800K
    assert manifest["counts"]["rows"]["processbench/test"] == 11
    assert release.files.count() == len(manifest["files"]) + 1  # and the selection


@pytest.mark.django_db
def test_no_problem_is_in_both_splits(project, media):
    # PRM800K has many chains per problem: eight chains of two problems, every one split with its problem.
    rows = [{"id": f"c{i}", "problem": f"problem {i % 2}", "steps": ["a", "b"]} for i in range(8)]
    rows += [{"id": f"d{i}", "problem": f"other {i}", "steps": ["a"]} for i in range(40)]
    pb = [{**r, "generator": "m", "final_answer_correct": True, "label": -1} for r in rows]
    chains_import(project=project, data=json.dumps(pb).encode())
    release = built(project, formats=["processbench"], test_fraction=0.5)
    split_of = {}
    for row in lines(release_dir(release) / "selection.jsonl"):
        assert split_of.setdefault(row["problem"], row["split"]) == row["split"]
    assert set(split_of.values()) == {"train", "test"}
    assert sum(release.manifest["counts"]["chains"].values()) == 48


@pytest.mark.django_db
def test_remade_from_the_manifest_it_gives_identical_sha256s_whatever_was_labelled_since(loaded, annotator, tmp_path):
    release = built(loaded)
    label(loaded, annotator, [1, -1])  # new labels and an edit after the release do not reach its re-make
    chain = Chain.objects.get(project=loaded, source_id="gsm8k-0")
    from annotation.services.revisions import chain_step_reword

    chain_step_reword(chain=chain, user=None, revision=chain.revision, index=0, text="changed")
    check = release_remake(release=release, out=tmp_path / "again")
    assert check["identical"], [f for f in check["files"] if f["expected"] != f["got"]]
    assert check["content_hash"] == release.content_hash
    # and through a new release made from it (the API's "re-make")
    again = built(loaded, version="1.0-remake", remade_from=release)
    assert again.content_hash == release.content_hash
    # the same filters on the data as it is now give another release, and the diff says why
    other = built(loaded, version="1.1", label_source="consensus")
    diff = release_diff(old=release, new=other)
    assert diff["counts"]["removed"] == 34 and not diff["same_content"]
    assert diff["filters"] == {"label_source": ["reference", "consensus"]}


@pytest.mark.django_db
def test_a_version_is_never_rebuilt_and_bad_filters_say_how_to_fix_them(loaded):
    built(loaded, formats=["processbench"])
    with pytest.raises(Conflict, match="another version"):
        release_create(project=loaded, user=None, name="steps", version="1.0", formats=["processbench"])
    with pytest.raises(ValidationFailed, match="choose one or more of prm800k"):
        release_create(project=loaded, user=None, name="steps", version="2", formats=["csv"])
    with pytest.raises(ValidationFailed, match="test_fraction must be at least 0 and below 1"):
        release_create(project=loaded, user=None, name="steps", version="2", formats=["parquet"], test_fraction=1)
    with pytest.raises(ValidationFailed, match="must be a slug"):
        release_create(project=loaded, user=None, name="Steps 1", version="2", formats=["parquet"])


@pytest.mark.django_db
def test_processbench_files_give_back_the_expert_labels(loaded):
    root = release_dir(built(loaded))
    source = {i["id"]: i for name in EXCERPTS for i in json.loads((DEMO_DATA / name).read_text())}
    rows = [r for split in ("train", "test") for r in json.loads((root / f"processbench/{split}.json").read_text())]
    pb = [r for r in rows if r["id"] in source]
    assert len(pb) == 30
    for row in pb:
        assert row["label"] == source[row["id"]]["label"] and row["steps"] == source[row["id"]]["steps"]
        assert row["provenance"]["label_sets"][0]["labeler"] == "processbench"


@pytest.mark.django_db
def test_every_file_loads_with_datasets_and_pyarrow_and_the_card_configures_the_splits(loaded):
    import datasets
    import pyarrow.parquet as pq

    root = release_dir(built(loaded))
    for f in json.loads((root / "manifest.json").read_text())["files"]:
        if f["kind"] in ("card", "parquet") or f["rows"] == 0:
            continue
        loaded_rows = datasets.load_dataset("json", data_files=str(root / f["path"]), split="train")
        assert loaded_rows.num_rows == f["rows"], f["path"]
    table = pq.read_table(root / "data" / "train.parquet")
    assert table.num_rows == 24 and table.schema.field("ratings").type.value_type.bit_width == 8
    hub = datasets.load_dataset(str(root))  # reads README.md's YAML: configs → data/<split>.parquet
    assert set(hub) == {"train", "test"} and hub["test"].num_rows == 11
    assert hub["train"].features["labels"].feature.dtype == "bool"


@pytest.mark.django_db
def test_math_shepherd_rows_read_as_openrlhf_reads_them(loaded):
    """OpenRLHF's ProcessRewardDataset: tokenize `input`, the positions of the placeholder token take the
    `value` labels in order (one per step), the reward tokens are '+' and '-'."""
    import torch
    from tokenizers import AddedToken

    sys.path.insert(0, str(ROOT / "scripts"))
    from check_trl_export import local_tokenizer

    root = release_dir(built(loaded))
    rows = lines(root / "math-shepherd" / "train.jsonl") + lines(root / "math-shepherd" / "test.jsonl")
    trl = {r["id"]: r for s in ("train", "test") for r in lines(root / "trl-stepwise" / f"{s}.jsonl")}
    tokenizer = local_tokenizer([r["input"] for r in rows])
    tokenizer.add_tokens([AddedToken("ки", single_word=False, normalized=False)])
    tag = tokenizer.encode("ки", add_special_tokens=False)
    assert len(tag) == 1
    for row in rows:
        ids = torch.tensor(tokenizer(row["input"], add_special_tokens=False)["input_ids"])
        mask = ids == tag[0]
        assert int(mask.sum()) == len(row["value"]) == len(trl[row["id"]]["labels"])
        assert row["value"] == ["+" if b else "-" for b in trl[row["id"]]["labels"]]
        pieces = row["input"].split(" ки")
        assert row["label"] == "".join(p + (f" {v}" if i < len(row["value"]) else "")
                                       for i, (p, v) in enumerate(zip(pieces, [*row["value"], ""], strict=True)))
        assert all(len(tokenizer.encode(t, add_special_tokens=False)) == 1 for t in set(row["value"]))


@pytest.mark.trl
@pytest.mark.django_db
def test_stepwise_and_preference_files_pass_trls_own_preparation(loaded, annotator):
    label(loaded, annotator, [1, -1], corrections={1: "The better step."})
    release = built(loaded, label_source="single", test_fraction=0)
    root = release_dir(release)
    pairs = lines(root / "preference" / "train.jsonl")
    assert any(p["origin"] == "correction" and p["chosen"] == "The better step." for p in pairs)
    for script, path in (("check_trl_export.py", "trl-stepwise/train.jsonl"),
                         ("check_preference_export.py", "preference/train.jsonl")):
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / script), str(root / path)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.trl
@pytest.mark.django_db
def test_reference_preference_pairs_pass_trls_preparation(loaded):
    root = release_dir(built(loaded, test_fraction=0))
    assert len(lines(root / "preference" / "train.jsonl")) == 28  # PRM800K's −1 vs +1 alternatives
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_preference_export.py"),
                           str(root / "preference" / "train.jsonl")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "28 pairs" in done.stdout, done.stderr[-2000:]


@pytest.mark.django_db
def test_openai_preference_lines_have_exactly_openais_fields(loaded):
    root = release_dir(built(loaded, test_fraction=0))
    rows = lines(root / "openai-preference" / "train.jsonl")
    assert len(rows) == 28
    for row in rows:
        assert set(row) == {"input", "preferred_output", "non_preferred_output"}
        assert set(row["input"]) == {"messages", "tools", "parallel_tool_calls"}
        assert row["input"]["messages"][0]["role"] == "user"
        for side in ("preferred_output", "non_preferred_output"):
            [message] = row[side]
            assert message["role"] == "assistant" and message["content"].strip()


@pytest.mark.django_db
def test_consensus_agreement_and_pseudonyms(project, media, annotator, annotator2):
    chains_import(project=project, data=b'{"id": "q1", "problem": "p1", "steps": ["a", "b"]}\n'
                                        b'{"id": "q2", "problem": "p2", "steps": ["c", "d"]}')
    from oversight.models import AssignmentArm

    for user, first, second in ((annotator, [1, -1], [1, 1]), (annotator2, [1, -1], [-1, 1])):
        claimed = label(project, user, first)
        label(project, user, second)
        AssignmentArm.objects.create(assignment=claimed, arm="assisted" if user == annotator else "unassisted",
                                     share=0.5)
    release = built(project, label_source="consensus", min_agreement=1.0, min_label_sets=2, test_fraction=0,
                    formats=["trl-stepwise", "processbench"])
    [row] = lines(release_dir(release) / "trl-stepwise" / "train.jsonl")
    assert row["id"] == "q1" and row["labels"] == [True, False]
    assert release.manifest["counts"]["left_out"] == {"agreement below 1.0": 1}
    labelers = [s["labeler"] for s in row["provenance"]["label_sets"]]
    assert len(set(labelers)) == 2 and all(name.startswith("a-") and "ann" not in name for name in labelers)
    assert sorted((s["arm"], s["assistance_shown"]) for s in row["provenance"]["label_sets"]) == [
        ("assisted", True), ("unassisted", False)]
    provenance = lines(release_dir(release) / "provenance" / "train.jsonl")
    assert provenance[0]["label_sets"][0]["active_seconds"] is not None


@pytest.mark.django_db
def test_gold_screening_and_planted_chains_are_left_out_unless_asked(loaded):
    Chain.objects.filter(project=loaded, source_id__in=["gsm8k-0", "gsm8k-1"]).update(is_gold=True)
    Chain.objects.filter(project=loaded, source_id="gsm8k-2").update(planted={"rule": "x"})
    without = built(loaded, formats=["processbench"])
    with_gold = built(loaded, formats=["processbench"], version="2", include_gold=True, include_planted=True)
    assert sum(without.manifest["counts"]["chains"].values()) == 32
    assert sum(with_gold.manifest["counts"]["chains"].values()) == 35


@pytest.mark.django_db
def test_a_build_whose_worker_died_is_queued_again_then_failed_with_the_reason(loaded):
    from datetime import timedelta

    from django.utils import timezone

    from review.releases import release_maintain
    from review.releases_models import DatasetRelease

    release = release_create(project=loaded, user=None, name="steps", version="1", formats=["processbench"])
    long_ago = timezone.now() - timedelta(minutes=10)
    for attempt in (2, 3):
        DatasetRelease.objects.filter(pk=release.pk).update(status="building", started_at=long_ago)
        release = release_maintain(release=DatasetRelease.objects.get(pk=release.pk))
        assert release.status == "queued" and release.progress["attempts"] == attempt
    DatasetRelease.objects.filter(pk=release.pk).update(status="building", started_at=long_ago)
    release = release_maintain(release=DatasetRelease.objects.get(pk=release.pk))
    assert release.status == "failed" and "stopped 3 times" in release.error
    # a live build (fresh heartbeat) is left alone
    other = release_create(project=loaded, user=None, name="steps", version="2", formats=["processbench"])
    DatasetRelease.objects.filter(pk=other.pk).update(status="building", started_at=timezone.now())
    assert release_maintain(release=DatasetRelease.objects.get(pk=other.pk)).status == "building"


@pytest.mark.django_db
def test_adjudicated_releases_take_the_reviewers_final_labels_over_the_majority(make_user, settings, tmp_path):
    from review.adjudication import FinalLabelInput, chain_adjudicate, review_queue_refresh
    from tests.review.quality_helpers import annotate, chain, make_project

    settings.MEDIA_ROOT = tmp_path
    project, users = make_project(make_user)  # ann3 calls step 2 of c1 wrong where the others call it right
    for name, ratings in (("ann1", [1, 1, 1]), ("ann2", [1, 1, 1]), ("ann3", [1, -1, 1])):
        annotate(project, users[name], ratings, chain="c1")
    review_queue_refresh(project=project)
    chain_adjudicate(chain=chain(project, "c1"), reviewer=users["rev"], note="step 2 is wrong", request_key="k",
                     labels=[FinalLabelInput(step=1, rating=-1, reason="ann3 is right")])
    release = built(project, label_source="adjudicated", test_fraction=0, formats=["processbench", "prm800k"])
    [row] = json.loads((release_dir(release) / "processbench" / "train.json").read_text())
    assert row["id"] == "c1" and row["label"] == 1
    kinds = [s["kind"] for s in row["provenance"]["label_sets"]]
    assert kinds[0] == "adjudicated" and kinds.count("annotator") == 3
    assert release.manifest["counts"]["left_out"] == {"no adjudicated labels": 1}
    prm = lines(release_dir(release) / "prm800k" / "train.jsonl")
    assert prm[0]["labeler"] == "adjudication"


@pytest.mark.django_db
def test_oversight_results_of_the_released_chains_go_out_and_a_remake_leaves_later_runs_out(loaded, tmp_path):
    from oversight.models import Critique, ModelBackend, OversightRun

    backend = ModelBackend.objects.create(name="critic", base_url="http://127.0.0.1:9/v1", model="m")

    def critique(chain, n):
        run = OversightRun.objects.create(chain=chain, revision=chain.revision, kind="critique", backend=backend,
                                          status="done", cache_key=f"key-{chain.pk}-{n}")
        Critique.objects.create(run=run, step_key=0, verdict="incorrect", confidence=0.7, explanation="x")

    chains = list(Chain.objects.filter(project=loaded).order_by("id"))
    for chain in chains[:6]:
        critique(chain, 0)
    release = built(loaded, formats=["processbench", "oversight"])
    out = [r for s in ("train", "test") for r in lines(release_dir(release) / "oversight" / f"{s}.jsonl")]
    assert len(out) == 6 and {r["verdict"] for r in out} == {"incorrect"} and out[0]["model"] == "m"
    critique(chains[7], 1)  # a later run: not part of the release, nor of its re-make
    check = release_remake(release=release, out=tmp_path / "again")
    assert check["identical"], check["files"]
