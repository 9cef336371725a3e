"""The host target: what it records about this machine, and its measurements."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import ai_edge_litert
import pytest
from splitbench import __version__
from splitbench.measure.types import RunSettings
from splitbench.targets.base import Target, TargetInfo
from splitbench.targets.host import HostTarget, cpu_model
from tflite_edits import with_custom_op

QUICK = RunSettings(threads=1, warmup_runs=1, warmup_min_secs=0.0, num_runs=5, min_secs=0.0)


def test_describe_records_this_machine() -> None:
    target: Target = HostTarget()
    info = target.describe()
    assert isinstance(info, TargetInfo)
    assert (info.name, info.kind) == ("host", "host")
    assert info.cores == os.cpu_count()
    assert info.runtime == f"ai-edge-litert {ai_edge_litert.__version__}"
    assert info.extra["kernel"] == platform.release()
    assert info.extra["python"] == platform.python_version()
    assert info.extra["splitbench"] == __version__
    assert info.extra["measured_in"] == "in-process"
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model_names = [
        line.split(":", 1)[1].strip()
        for line in cpuinfo.splitlines()
        if line.startswith("model name")
    ]
    if model_names:
        assert info.cpu_model == model_names[0] == cpu_model()
    assert info.cpu_model
    governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if governor.exists():
        assert info.extra["governor"] == governor.read_text().strip()
    else:
        assert "governor" not in info.extra
    assert HostTarget(name="host:2").describe().name == "host:2"
    target.close()


def test_measure_in_process(chain_tflite: Path) -> None:
    m = HostTarget().measure(chain_tflite, QUICK)
    assert m.ok and len(m.steady_ms) == 5
    assert m.init_ms is not None and m.init_ms > 0
    assert all(v > 0 for v in m.steady_ms)
    for when in ("before", "after"):  # the load on this shared machine, recorded with the run
        assert float(m.meta[f"loadavg_1m_{when}"]) >= 0


def test_measure_in_a_fresh_process_gives_the_same_record(chain_tflite: Path) -> None:
    target = HostTarget(isolate=True)
    assert target.describe().extra["measured_in"] == "subprocess per part"
    m = target.measure(chain_tflite, QUICK)
    assert m.ok, m.error
    assert m.settings == QUICK
    assert len(m.steady_ms) == 5 and all(isinstance(v, float) and v > 0 for v in m.steady_ms)
    assert m.first_ms is not None and m.first_ms > 0
    assert m.mem_init_mb is not None and m.mem_peak_mb is not None


@pytest.mark.parametrize("isolate", [False, True])
def test_custom_operator_part_is_an_error_row(
    chain_tflite: Path, tmp_path: Path, isolate: bool
) -> None:
    custom = with_custom_op(chain_tflite, tmp_path / "c.tflite", 3, "Convolution2DTransposeBias")
    m = HostTarget(isolate=isolate).measure(custom, QUICK)
    assert not m.ok and "Convolution2DTransposeBias" in (m.error or "")
    assert m.init_ms is None and m.mem_init_mb is None and m.steady_ms == []


def test_each_profiled_measurement_keeps_its_own_evidence(tmp_path: Path) -> None:
    """Two bouts of the whole model: each profile is kept where its database row points, so a
    later bout never overwrites an earlier one (predictions are taken over bouts)."""
    from onnx_models import side_input_model

    model = side_input_model(tmp_path / "side.onnx")
    target = HostTarget(run_dir=tmp_path / "run")
    first = target.measure(model, QUICK, profile=True)
    second = target.measure(model, QUICK, profile=True)
    assert first.ok and second.ok and first.evidence and second.evidence
    assert set(first.evidence).isdisjoint(second.evidence)
    kept = [Path(p) for p in (*first.evidence, *second.evidence)]
    assert all(p.is_file() for p in kept)
    assert {p.parent.parent for p in kept} == {tmp_path / "run" / "evidence" / "host"}
