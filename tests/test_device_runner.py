"""The benchmark_model-compatible runner, run as a real process with the binary's flags."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from splitbench_collect.benchmark_stdout import parse_benchmark_stdout
from splitbench_device.litert_benchmark_model import NO_OP_PROFILE_NOTE, RAW_PREFIX, stat_line
from tflite_edits import with_custom_op

NUM = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
STAT = re.compile(
    rf"^INFO: count=(\d+)(?: first=(\d+) curr=(\d+) min=(\d+) max=(\d+) avg=({NUM}) std=(\d+)"
    rf"| curr=(\d+)(?:\(all same\))?)$"
)
LINES = {
    "init": re.compile(rf"^INFO: Initialized session in ({NUM})ms\.$"),
    "timings": re.compile(
        rf"^INFO: Inference timings in us: Init: (\d+), First inference: (\d+), "
        rf"Warmup \(avg\): ({NUM}), Inference \(avg\): ({NUM})$"
    ),
    "memory": re.compile(
        rf"^INFO: Memory footprint delta from the start of the tool \(MB\): "
        rf"init=({NUM}) overall=({NUM})$"
    ),
    "peak": re.compile(
        rf"^INFO: Overall peak memory footprint \(MB\) via periodic monitoring: ({NUM})$"
    ),
    "size": re.compile(rf"^INFO: The input model file size \(MB\): ({NUM})$"),
    "running": re.compile(
        rf"^INFO: Running benchmark for at least (\d+) iterations and at least ({NUM}) seconds "
        rf"but terminate if exceeding ({NUM}) seconds\.$"
    ),
}


def run_runner(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "splitbench_device.litert_benchmark_model", *flags],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _only(pattern: re.Pattern[str], stdout: str) -> re.Match[str]:
    matches = [m for line in stdout.splitlines() if (m := pattern.match(line))]
    assert len(matches) == 1, (pattern.pattern, stdout)
    return matches[0]


def _raw(stdout: str, what: str) -> list[float]:
    line = _only(re.compile(rf"^INFO: {RAW_PREFIX} {what} us: (.*)$"), stdout).group(1)
    return [float(v) for v in line.split(",") if v]


def test_stdout_has_benchmark_model_lines_and_raw_samples(chain_tflite: Path) -> None:
    done = run_runner(
        f"--graph={chain_tflite}",
        "--num_threads=1",
        "--warmup_runs=3",
        "--warmup_min_secs=0",
        "--num_runs=9",
        "--min_secs=0",
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("INFO: STARTING!\n")
    assert f"INFO: Graph: [{chain_tflite}]" in out.splitlines()
    assert "INFO: Num threads: [1]" in out.splitlines()
    assert "INFO: Min num runs: [9]" in out.splitlines()

    init_ms = float(_only(LINES["init"], out).group(1))
    timings = _only(LINES["timings"], out)
    init_us, first_us = int(timings.group(1)), int(timings.group(2))
    assert init_ms > 0 and init_us == pytest.approx(init_ms * 1000, abs=1)
    assert first_us >= 0
    assert float(_only(LINES["size"], out).group(1)) == pytest.approx(
        chain_tflite.stat().st_size / 1e6, rel=1e-5
    )
    mem = _only(LINES["memory"], out)
    peak = float(_only(LINES["peak"], out).group(1))
    assert peak > 0 and peak >= float(mem.group(2))
    running = [LINES["running"].match(ln) for ln in out.splitlines()]
    assert [int(m.group(1)) for m in running if m] == [3, 9]

    stats = [m for line in out.splitlines() if (m := STAT.match(line))]
    assert [int(m.group(1)) for m in stats] == [3, 9]  # warm-up runs, then regular runs
    warmup, steady = _raw(out, "warmup"), _raw(out, "steady")
    assert len(warmup) == 3 and len(steady) == 9
    assert all(v > 0 for v in warmup + steady)
    # the first warm-up run is the first inference (±1: raw lines carry 3 decimals)
    assert first_us == pytest.approx(warmup[0], abs=1)
    regular = stats[1]
    if regular.group(2) is not None:  # not all the same integer microsecond
        assert int(regular.group(4)) == pytest.approx(min(steady), abs=1)
        assert int(regular.group(5)) == pytest.approx(max(steady), abs=1)
        assert int(regular.group(2)) == pytest.approx(steady[0], abs=1)
    assert _raw(out, "init")[0] == pytest.approx(init_ms * 1000, abs=1)

    parsed = parse_benchmark_stdout(out)  # the kit's own parser of benchmark_model output
    assert parsed.error is None and parsed.regular is not None and parsed.regular.count == 9
    assert parsed.init_ms == pytest.approx(init_ms)
    assert parsed.num_threads == 1
    assert parsed.peak_mem_mb == pytest.approx(peak)


def test_op_profiling_is_declined_plainly(chain_tflite: Path, tmp_path: Path) -> None:
    csv = tmp_path / "profile.csv"
    done = run_runner(
        f"--graph={chain_tflite}",
        "--warmup_min_secs=0",
        "--num_runs=2",
        "--min_secs=0",
        "--enable_op_profiling=true",
        f"--profiling_output_csv_file={csv}",
    )
    assert done.returncode == 0, done.stderr
    assert f"WARN: {NO_OP_PROFILE_NOTE}" in done.stdout.splitlines()
    assert "cannot profile per operator" in done.stdout
    for table_word in ("Run Order", "Profiling Info", "Top by Computation Time", "[node type]"):
        assert table_word not in done.stdout
    assert csv.read_text() == NO_OP_PROFILE_NOTE + "\n"  # the statement, and no table

    plain = run_runner(f"--graph={chain_tflite}", "--num_runs=2", "--min_secs=0")
    assert NO_OP_PROFILE_NOTE not in plain.stdout


def test_corrupt_missing_and_absent_graph_fail_like_the_binary(
    chain_tflite: Path, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(chain_tflite.read_bytes()[:900])
    for graph in (corrupt, tmp_path / "missing.tflite"):
        done = run_runner(f"--graph={graph}")
        assert done.returncode == 1
        errors = done.stderr.splitlines()
        assert f"ERROR: Failed to mmap model {graph}" in errors
        assert errors[-1] == "ERROR: Benchmarking failed."
        assert "Inference timings" not in done.stdout
    done = run_runner("--num_runs=3")
    assert done.returncode == 1
    assert "ERROR: Please specify the name of your TF Lite input file with --graph" in done.stderr


def test_unresolved_custom_operator(chain_tflite: Path, tmp_path: Path) -> None:
    custom = with_custom_op(chain_tflite, tmp_path / "seg.tflite", 2, "Convolution2DTransposeBias")
    done = run_runner(f"--graph={custom}", "--num_runs=2")
    assert done.returncode == 1
    assert "ERROR: Encountered unresolved custom op: Convolution2DTransposeBias." in (
        done.stderr.splitlines()
    )
    assert "ERROR: Failed to allocate tensors!" in done.stderr.splitlines()
    assert f"INFO: Loaded model {custom}" in done.stdout.splitlines()
    parsed = parse_benchmark_stdout(done.stdout + done.stderr)
    assert parsed.error is not None and "Convolution2DTransposeBias" in parsed.error


def test_unknown_flags_and_bad_values_are_rejected(chain_tflite: Path) -> None:
    done = run_runner(f"--graph={chain_tflite}", "--use_gpu=true")
    assert done.returncode == 2
    assert "unknown flag --use_gpu" in done.stderr
    assert "Inference timings" not in done.stdout
    bad = run_runner(f"--graph={chain_tflite}", "--num_runs=many")
    assert bad.returncode == 2 and "invalid value 'many' for --num_runs" in bad.stderr
    helped = run_runner("--help")
    assert helped.returncode == 0 and "--graph" in helped.stdout


def test_use_xnnpack_false_is_echoed_and_runs(chain_tflite: Path) -> None:
    done = run_runner(
        f"--graph={chain_tflite}", "--use_xnnpack=false", "--num_runs=2", "--min_secs=0"
    )
    assert done.returncode == 0, done.stderr
    assert "INFO: Use xnnpack: [0]" in done.stdout.splitlines()
    assert len(_raw(done.stdout, "steady")) == 2


def test_stat_line_matches_tsl_stat_format() -> None:
    assert stat_line([]) == "count=0"
    assert stat_line([42]) == "count=1 curr=42"
    assert stat_line([7, 7, 7]) == "count=3 curr=7(all same)"
    # avg = 2.5, population variance = 1.25 -> int64 1 -> std = int(sqrt(1)) = 1
    assert stat_line([1, 2, 3, 4]) == "count=4 first=1 curr=4 min=1 max=4 avg=2.5 std=1"
    assert stat_line([1041765, 971535]).endswith("avg=1.00665e+06 std=35115")
