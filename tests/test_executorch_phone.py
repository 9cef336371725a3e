"""ExecuTorch parts on the emulated phone: the kit's executor_runner stand-in behind the binary's
flags and log lines, ETDump pulled as evidence, the user's runner checked for its ABI, and the
log parser on the binary's own line formats."""

from __future__ import annotations

from pathlib import Path

import pytest
from executorch_models import write_models
from splitbench.emulator import AdbEmulator, EmulatedDeviceSpec, host_abi
from splitbench.errors import DeviceError
from splitbench.measure.types import RunSettings
from splitbench.targets.adb import AdbTarget
from splitbench_collect.executor_runner_log import parse_runner_log, to_measurement

SERIAL = "emu-et"
FAST = RunSettings(threads=1, warmup_runs=2, warmup_min_secs=0.0, num_runs=5, min_secs=0.0)


@pytest.fixture(scope="module")
def whole_pte(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from splitbench.intake.convert_torch import convert_export
    from splitbench.intake.pytorch import intake

    folder = tmp_path_factory.mktemp("etphone")
    write_models(folder)
    return convert_export(intake(f"{folder / 'et_models.py'}:forked", workdir=folder), "executorch")


def test_pte_parts_run_on_the_emulated_phone_with_etdump(whole_pte: Path, tmp_path: Path) -> None:
    with AdbEmulator(port=0, devices=[EmulatedDeviceSpec(SERIAL)], root=tmp_path / "emu") as emu:
        t = AdbTarget(
            SERIAL,
            adb_port=emu.port,
            run_dir=tmp_path / "run",
            model_format="executorch",
            timeout_s=600,
        )
        info = t.describe()
        assert info.extra["runner"] == "kit" and "executor_runner" in info.runtime
        m = t.measure(whole_pte, FAST)
        assert m.ok, m.error
        assert m.method == "executor_runner" and m.runtime == info.runtime
        assert m.init_ms and m.first_ms and len(m.warmup_ms) == 1 and len(m.steady_ms) == 5
        kinds = {Path(p).suffix for p in m.evidence}
        assert {".stdout", ".etdump", ".meta"} <= kinds
        stdout = next(Path(p) for p in m.evidence if p.endswith(".stdout")).read_text()
        assert "Model executed successfully 7 time(s)" in stdout
        etdump = next(Path(p) for p in m.evidence if p.endswith(".etdump"))
        assert etdump.stat().st_size > 0
        parts = t.phone.check_shell("ls /data/local/tmp/splitbench/parts", "ls").split()
        assert any(name.endswith(".pte") for name in parts)


def test_user_runner_of_another_abi_is_refused(whole_pte: Path, tmp_path: Path) -> None:
    other = "x86_64" if host_abi() == "arm64-v8a" else "arm64-v8a"
    fake = tmp_path / "executor_runner"
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    machine = 62 if other == "x86_64" else 183
    fake.write_bytes(ident + (2).to_bytes(2, "little") + machine.to_bytes(2, "little") + bytes(44))
    with AdbEmulator(port=0, devices=[EmulatedDeviceSpec(SERIAL)], root=tmp_path / "emu") as emu:
        t = AdbTarget(
            SERIAL,
            adb_port=emu.port,
            run_dir=tmp_path / "run",
            model_format="executorch",
            benchmark_binary=fake,
        )
        with pytest.raises(DeviceError) as err:
            t.measure(whole_pte, FAST)
        assert "\n" not in str(err.value) and f"runs {host_abi()}" in str(err.value)
        assert t.bytes_pushed == 0


BINARY_LOG = """\
I 00:00:00.000351 executorch:executor_runner.cpp:212] Resetting threadpool with num threads = 4
I 00:00:00.010227 executorch:executor_runner.cpp:298] Model file head.pte is loaded.
I 00:00:00.010240 executorch:executor_runner.cpp:308] Using method forward
I 00:00:00.010255 executorch:executor_runner.cpp:359] Setting up planned buffer 0, size 802816.
I 00:00:00.031104 executorch:executor_runner.cpp:391] Model loaded in 20.850000 ms.
I 00:00:00.052211 executorch:executor_runner.cpp:512] Iteration 1 of 3: 21.100000 ms
I 00:00:00.070422 executorch:executor_runner.cpp:512] Iteration 2 of 3: 18.200000 ms
I 00:00:00.088611 executorch:executor_runner.cpp:512] Iteration 3 of 3: 18.100000 ms
I 00:00:00.088640 executorch:runner.cpp:520] Model executed successfully 3 time(s) in 57.400000 ms.
I 00:00:00.088650 executorch:executor_runner.cpp:527] 1 outputs:
"""


def test_log_parser_reads_the_binary_lines() -> None:
    log = parse_runner_log(BINARY_LOG)
    assert log.init_ms == 20.85 and log.iterations == [21.1, 18.2, 18.1]
    m = to_measurement(BINARY_LOG, 0, RunSettings(warmup_runs=1, num_runs=2), "executor_runner x")
    assert m.first_ms == 21.1 and m.steady_ms == [18.2, 18.1] and m.warmup_ms == []
    old = "\n".join(line for line in BINARY_LOG.splitlines() if "Iteration" not in line)
    m = to_measurement(old, 0, RunSettings(), "executor_runner x")
    assert m.steady_ms == [] and m.steady_summary and m.steady_summary.count == 3
    assert m.steady_summary.avg_ms == pytest.approx(57.4 / 3)
    bad = "E 00:00:00.001 executorch:executor_runner.cpp:280] Failed to parse model file x.pte\n"
    assert to_measurement(bad, 1, RunSettings(), "r").error == (
        "executor_runner: Failed to parse model file x.pte"
    )
