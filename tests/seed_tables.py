"""The seeds' result table for the model-compression evaluation (clause 2.1.2): its columns, in
order, written out here from the seed and not taken from the code under test."""

from __future__ import annotations

SEED_COLUMNS = [
    "anc_size",
    "rec_size",
    "compress_ratio",
    "metric_name",
    "anc_perf",
    "rec_perf",
    "anc_eval_time",
    "rec_eval_time",
    "enc_time",
    "dec_time",
]
