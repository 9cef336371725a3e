"""The main evaluation process of the seeds' framework (clause 2.1.2.1), one coder at a time.

anchor → size and performance; for each coder configuration: encode → bitstream, decode →
reconstructed model (kept, runnable), its performance; one row of ``results.csv`` per
configuration with exactly the seeds' columns (:data:`SEED_COLUMNS`), then the configuration
columns the seeds forward to the CSV (:data:`CONFIG_COLUMNS`) and the coder's parameters.

Nothing is lost on failure: each row is appended to ``results.csv`` the moment it is measured,
and a rerun into the same directory keeps the rows whose bitstream and decoded model are still
there (``fresh`` starts over). ``compress.json`` records which anchor and scenario the rows
belong to, so rows of another model are never mixed in.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from splitbench.compress.coders import Coder
from splitbench.compress.params import ModelIO
from splitbench.compress.scenarios.base import Scenario
from splitbench.errors import SplitbenchError

SEED_COLUMNS = (
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
)
CONFIG_COLUMNS = ("coder_name", "scenario_name", "data_set_name", "model_name", "unique_tag")
CODER_COLUMNS = (
    "qp",
    "nonweight_qp",
    "use_dq",
    "param_opt",
    "opt_qp",
    "cabac_unary_length_minus1",
    "codebook_mode",
    "level",
    "granularity",
)
COLUMNS = SEED_COLUMNS + CONFIG_COLUMNS + CODER_COLUMNS
RESULTS_CSV = "results.csv"
STATE_JSON = "compress.json"


@dataclass(frozen=True)
class Anchor:
    path: Path
    name: str
    size: int  # parameter bytes
    perf: float
    eval_time: float


def _load_previous(out: Path, state: dict, suffix: str) -> dict[str, dict]:
    """Rows of an earlier run of the same anchor and scenario whose files are still there."""
    csv_path = out / RESULTS_CSV
    state_path = out / STATE_JSON
    if not csv_path.exists():
        return {}
    if not state_path.exists():
        raise SplitbenchError(f"{csv_path} was not written by splitbench compress: use --fresh")
    old = json.loads(state_path.read_text())
    if {k: old.get(k) for k in state} != state:
        raise SplitbenchError(
            f"{out} holds results of {old.get('model_name')} / {old.get('scenario_name')}: "
            "use another --out, or --fresh to replace them"
        )
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    kept = {}
    for row in rows:
        tag = row.get("unique_tag", "")
        if (
            any((out / "bitstreams").glob(f"{tag}.*"))
            and (out / "decoded" / f"{tag}{suffix}").exists()
        ):
            kept[tag] = row
    return kept


def _write_rows(out: Path, rows: Sequence[dict]) -> None:
    tmp = out / (RESULTS_CSV + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in COLUMNS})
    tmp.replace(out / RESULTS_CSV)


def evaluate(
    scenario: Scenario,
    coders: Sequence[Coder],
    out: Path,
    io: ModelIO,
    *,
    model_name: str,
    fresh: bool = False,
    progress: Callable[[str], None] = lambda line: None,
) -> tuple[Anchor, list[dict]]:
    """Run the seeds' evaluation for every coder configuration; returns the anchor and rows.

    ``io`` is the anchor's format (a ``.tflite`` file or a PyTorch state dict): what its
    parameters are, how decoded ones are written back (``decoded/<tag><io.suffix>``)."""
    anchor_path = scenario.get_model()
    params = io.load_params(anchor_path)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bitstreams").mkdir(exist_ok=True)
    (out / "decoded").mkdir(exist_ok=True)
    state = {
        "model_sha256": io.digest(anchor_path),
        "model_name": model_name,
        "scenario_name": scenario.name,
    }
    previous = {} if fresh else _load_previous(out, state, io.suffix)
    (out / STATE_JSON).write_text(json.dumps(state, indent=2) + "\n")

    progress(
        f"anchor {model_name}: {params.anc_size:,} parameter bytes; evaluating {scenario.name}"
    )
    anc_perf, anc_time = scenario.get_perf(anchor_path, "test")
    anchor = Anchor(anchor_path, model_name, params.anc_size, anc_perf, anc_time)
    progress(f"anchor {scenario.metric_name} = {anc_perf:.6g} ({anc_time:.2f} s)")

    rows: list[dict] = []
    for i, coder in enumerate(coders, 1):
        tag = coder.tag()
        if tag in previous:
            rows.append(previous[tag])
            progress(f"[{i}/{len(coders)}] {tag}: kept from the earlier run")
            continue
        bitstream = out / "bitstreams" / f"{tag}{coder.suffix}"
        start = time.perf_counter()
        coder.encode(params, bitstream)
        enc_time = time.perf_counter() - start
        start = time.perf_counter()
        decoded = coder.decode(bitstream, params)
        dec_time = time.perf_counter() - start
        rec_path = coder.write_model(params, decoded, out / "decoded" / f"{tag}{io.suffix}")
        rec_perf, rec_time = scenario.get_perf(rec_path, "test")
        rec_size = bitstream.stat().st_size
        row: dict = {
            "anc_size": params.anc_size,
            "rec_size": rec_size,
            "compress_ratio": rec_size / params.anc_size,
            "metric_name": scenario.metric_name,
            "anc_perf": anc_perf,
            "rec_perf": rec_perf,
            "anc_eval_time": anc_time,
            "rec_eval_time": rec_time,
            "enc_time": enc_time,
            "dec_time": dec_time,
            "coder_name": coder.name,
            "scenario_name": scenario.name,
            "data_set_name": scenario.data_set_name,
            "model_name": model_name,
            "unique_tag": tag,
            **coder.config(),
        }
        rows.append(row)
        _write_rows(out, rows)
        progress(
            f"[{i}/{len(coders)}] {tag}: {rec_size:,} B ({100 * rec_size / params.anc_size:.1f} %),"
            f" {scenario.metric_name} {rec_perf:.4f}, encode {enc_time:.2f} s,"
            f" decode {dec_time:.2f} s"
        )
    _write_rows(out, rows)
    return anchor, rows
