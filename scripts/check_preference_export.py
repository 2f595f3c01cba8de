#!/usr/bin/env python
"""Check a preference export with TRL's own preference data preparation (trl==1.13.0).

    python scripts/check_preference_export.py EXPORT.jsonl

Loads the file with `datasets.load_dataset("json")` and runs DPOTrainer's `_prepare_dataset` on it (the
prompt extraction, EOS and tokenization every DPO run does), with a byte-level BPE tokenizer trained on
the file (no model is downloaded). Each row must be TRL's standard preference type and tokenize to a
non-empty prompt, chosen and rejected whose ids follow the prompt's. Exit 1 on the first bad row.
"""

import os
import sys

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def main(path: str) -> int:
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer
    from trl.data_utils import is_conversational

    sys.path.insert(0, os.path.dirname(__file__))
    from check_trl_export import local_tokenizer

    dataset = load_dataset("json", data_files=path, split="train")
    missing = {"prompt", "chosen", "rejected"} - set(dataset.column_names)
    if missing:
        raise SystemExit(f"{path}: columns {sorted(missing)} missing (TRL's preference type needs prompt/chosen/rejected)")
    tokenizer = local_tokenizer([r["prompt"] for r in dataset] + [r["chosen"] for r in dataset]
                                + [r["rejected"] for r in dataset])
    tokenizer.eos_token = tokenizer.bos_token

    class Stub:  # DPOTrainer._prepare_dataset reads only these attributes of the trainer
        _tokenizer = tokenizer

    import tempfile

    args = DPOConfig(output_dir=tempfile.mkdtemp(prefix="stepwise-dpo-check-"), dataset_num_proc=None, max_length=None,
                     report_to=[], use_cpu=True, bf16=False)
    prepared = DPOTrainer._prepare_dataset(Stub(), dataset, tokenizer, args, "train")
    for number, (row, out) in enumerate(zip(dataset, prepared, strict=True), start=1):
        if is_conversational(row) or not (out["prompt_ids"] and out["chosen_ids"] and out["rejected_ids"]):
            raise SystemExit(f"{path}:{number}: row {row.get('id')!r} is not a standard preference row")
        if row["chosen"] == row["rejected"]:
            raise SystemExit(f"{path}:{number}: chosen and rejected are the same text")
    return len(prepared)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    count = main(sys.argv[1])
    print(f"{sys.argv[1]}: {count} pairs prepared by DPOTrainer._prepare_dataset")
