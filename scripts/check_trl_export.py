#!/usr/bin/env python
"""Check a trl-stepwise export row by row with TRL's own PRMTrainer tokenization (trl==1.13.0).

    python scripts/check_trl_export.py EXPORT.jsonl

No model is downloaded: a byte-level BPE tokenizer (the kind Qwen and GPT-2 use) is trained on the
file itself, so every string, newlines included, becomes tokens. Each row must tokenize with exactly
one label per step, equal to the row's labels. Needs requirements-trl.txt. Exit 1 on the first bad row.
"""

import json
import os
import sys

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def local_tokenizer(texts):
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=["<bos>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>")  # noqa: S106 (a token, not a password)


def check(path: str, separator: str = "\n") -> int:
    from trl.experimental.prm import PRMTrainer

    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    tokenizer = local_tokenizer([r["prompt"] for r in rows] + [c for r in rows for c in r["completions"]] + [separator])
    if not tokenizer.encode(separator, add_special_tokens=False):
        raise SystemExit("the step separator encodes to no token")
    for number, row in enumerate(rows, start=1):
        out = PRMTrainer.tokenize_row(row, tokenizer, step_separator=separator, max_length=None,
                                      max_completion_length=None, train_on_last_step_only=False, is_eval=False)
        step_labels = [label for label in out["labels"] if label != -100]
        ok = (len(out["input_ids"]) == len(out["labels"]) and out["input_ids"][0] == tokenizer.bos_token_id
              and step_labels == [int(b) for b in row["labels"]] and len(row["completions"]) == len(row["labels"]))
        if not ok:
            raise SystemExit(f"{path}:{number}: row {row.get('id')!r} does not tokenize to one label per step")
    return len(rows)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    count = check(sys.argv[1])
    print(f"{sys.argv[1]}: {count} rows tokenized by PRMTrainer.tokenize_row, one label per step")
