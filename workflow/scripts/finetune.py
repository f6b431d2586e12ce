"""Snakemake: fine-tune one model on one nested training size with one seed; predict and score the test split."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import yaml  # noqa: E402

from llmcoder.errors import InputError, rule_errors  # noqa: E402
from llmcoder.finetune.config import FinetuneConfig  # noqa: E402
from llmcoder.jobs import train_and_predict  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)


def job() -> dict:
    """The job: the config's own file named in its messages, the study's codebook in place of its own."""
    try:
        data = yaml.safe_load(Path(sm.input.config).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise InputError(sm.input.config, f"not valid YAML: {e}", fix="check indentation and quoting") from e
    if not isinstance(data, dict):
        raise InputError(sm.input.config, "a fine-tuning config must be a mapping", fix="see workflow/finetune/")
    config = FinetuneConfig.from_dict(data | {"codebook": sm.input.codebook}, source=sm.input.config)
    return train_and_predict(config, sm.input.corpus, sm.input.splits, sm.input.verified or None,
                             size=float(sm.wildcards.size), seed=int(sm.wildcards.seed),
                             out_dir=sm.output.metrics.removesuffix("/metrics.json"))


with rule_errors():
    record = job()
print(record["metrics"], file=sys.stderr)
