"""A results database filled with real PartMeasurement records of known sample values.

The samples are inputs to the table logic (chosen so means, percentiles and end-to-end sums can
be worked out by hand in the tests); nothing here stands in for a measured output.

Model: 3 operators, so splits 0..3. Client "adb:phone" runs heads, server "host" runs tails.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from splitbench.measure.types import PartMeasurement, RunSettings, StatsSummary
from splitbench.network import NetworkConfig
from splitbench.results import ResultsDB
from splitbench.targets.base import TargetInfo

SHA = hashlib.sha256(b"three-op model").hexdigest()
N = 3
OUTPUT_BYTES = 100
MODEL_BYTES = 400_000
SETTINGS = RunSettings(threads=1, num_runs=4, min_secs=0.0)
CLIENT = TargetInfo("adb:phone", "adb", "Cortex-A53", 8, "benchmark_model 2.16")
SERVER = TargetInfo("host", "host", "Intel Xeon", 2, "ai-edge-litert 2.3.0")
UNRESOLVED = "Encountered unresolved custom op: Convolution2DTransposeBias"

# up 1 Mbit/s, RTT 50 ms: the network dominates, all-on-phone wins.
SLOW = NetworkConfig("slow", uplink_mbps=1.0, downlink_mbps=2.0, rtt_ms=50.0, source="test")
# up 1000 Mbit/s, RTT 1 ms: the fast server wins.
FAST = NetworkConfig("fast-lan", uplink_mbps=1000.0, downlink_mbps=1000.0, rtt_ms=1.0)
NETWORKS = [SLOW, FAST]

# Per split: cut tensors, intermediate bytes (split 0: the input), head bytes, tail bytes.
SPLITS = {
    0: (["image"], 1000, 0, 400_000),
    1: (["conv1", "skip"], 4000, 100_000, 300_000),
    2: (["conv2"], 500, 200_000, 200_000),
    3: (["out"], 100, 300_000, 0),
}


def part(steady: list[float], **kw: object) -> PartMeasurement:
    defaults: dict[str, object] = {
        "init_ms": 5.0,
        "first_ms": 20.0,
        "warmup_ms": [15.0, 13.0],
        "mem_init_mb": 2.0,
        "mem_overall_mb": 6.0,
    }
    defaults.update(kw)
    settings = defaults.pop("settings", SETTINGS)
    return PartMeasurement(
        "litert-interpreter",
        "2.3.0",
        settings,  # type: ignore[arg-type]
        steady_ms=steady,
        **defaults,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class Filled:
    db: ResultsDB
    path: Path


def fill(path: Path, head_1: tuple[float, ...] = (10.0, 12.0, 14.0, 16.0)) -> Filled:
    """Heads: split 1 samples ``head_1`` ([10, 12, 14, 16]); split 2 fails (unresolved op);
    split 3 has only a benchmark_model summary (avg 30). Tails: split 0 [20, 20, 20];
    1 [8, 9, 10]; 2 [4, 4]."""
    db = ResultsDB(path)
    db.record_model(
        sha256=SHA,
        name="three-op",
        path="three.tflite",
        file_bytes=MODEL_BYTES,
        num_operators=N,
        output_bytes=OUTPUT_BYTES,
    )
    for k, (names, inter, head, tail) in SPLITS.items():
        db.record_split(
            model_sha=SHA,
            split=k,
            cut_tensors=names,
            intermediate_bytes=inter,
            head_bytes=head,
            tail_bytes=tail,
            max_abs_diff=0.0 if k != 2 else 2e-4,
            bit_exact=k != 2,
            verify_passed=True,
        )
    db.record_measurement(SHA, 1, "head", CLIENT, part(list(head_1)))
    db.record_measurement(SHA, 2, "head", CLIENT, part([], error=UNRESOLVED, init_ms=None))
    summary = StatsSummary(count=50, min_ms=27.0, max_ms=33.0, avg_ms=30.0, std_ms=1.5)
    db.record_measurement(
        SHA, 3, "head", CLIENT, part([], warmup_ms=[], steady_summary=summary, mem_peak_mb=7.5)
    )
    db.record_measurement(SHA, 0, "tail", SERVER, part([20.0, 20.0, 20.0]))
    db.record_measurement(SHA, 1, "tail", SERVER, part([8.0, 9.0, 10.0]))
    db.record_measurement(SHA, 2, "tail", SERVER, part([4.0, 4.0]))
    return Filled(db, path)
