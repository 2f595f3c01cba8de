"""The trl-stepwise export is accepted row by row by TRL's own PRMTrainer tokenization (trl==1.13.0)."""

import json
import os

import pytest

from annotation.services import chains_import
from review.selectors import export_rows
from tests.conftest import DEMO_DATA

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
PRMTrainer = pytest.importorskip("trl.experimental.prm", reason="requirements-trl.txt not installed").PRMTrainer
tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")


def local_tokenizer(texts):
    """A byte-level BPE tokenizer (the kind Qwen and GPT-2 use) trained on the export itself: no model
    download (no network here), and every string, newlines included, encodes to tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<bos>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>")


@pytest.mark.trl
@pytest.mark.django_db
def test_every_exported_row_tokenizes_with_one_label_per_step(project):
    for name in ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json"):
        chains_import(project=project, data=(DEMO_DATA / name).read_bytes())
    rows = list(export_rows(project=project, fmt="trl-stepwise"))
    assert len(rows) == 30
    tokenizer = local_tokenizer([r["prompt"] for r in rows] + [c for r in rows for c in r["completions"]] + ["\n"])
    assert tokenizer.encode("\n", add_special_tokens=False)  # the step separator is a real token
    for row in rows:
        out = PRMTrainer.tokenize_row(row, tokenizer, step_separator="\n", max_length=None,
                                      max_completion_length=None, train_on_last_step_only=False, is_eval=False)
        assert len(out["input_ids"]) == len(out["labels"])
        step_labels = [label for label in out["labels"] if label != -100]
        assert step_labels == [int(b) for b in row["labels"]], row["id"]
        assert out["input_ids"][0] == tokenizer.bos_token_id
    # and the labels mean what ProcessBench said: False exactly at the first wrong step
    source = {i["id"]: i for name in ("processbench_gsm8k_excerpt.json", "processbench_math_excerpt.json")
              for i in json.loads((DEMO_DATA / name).read_text())}
    for row in rows:
        k = source[row["id"]]["label"]
        expected = [True] * len(source[row["id"]]["steps"]) if k == -1 else [True] * k + [False]
        assert row["labels"] == expected
