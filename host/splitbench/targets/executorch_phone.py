"""ExecuTorch parts on a phone: ``executor_runner`` (the user's, built for Android with XNNPACK
and ETDump) or, on the emulated phone, the kit's stand-in with the same flags and log lines.

Only what differs from TFLite's ``benchmark_model`` lives here: the flags, the launcher, the
runtime string and the parsing of the log. Uploads, ``runner.sh`` batches, evidence, crashes
and hangs are the adb target's, shared by both formats.

``executor_runner`` runs a fixed number of executions (``--num_executions``); the kit asks for
the warm-up runs plus ``--runs`` and reads the per-execution lines, so ``--min-secs`` and
``--warmup-secs`` cannot be honoured on a phone with this runner (the row's run count says what
ran).
"""

from __future__ import annotations

import shlex

from splitbench.measure.types import PartMeasurement, RunSettings

RUNNER_NAME = "executor_runner"


def executor_runner_flags(settings: RunSettings) -> list[str]:
    """Per-run flags (the model and ETDump paths are added per part by ``runner.sh``)."""
    runs = max(1, settings.warmup_runs) + max(1, settings.num_runs)
    return [f"--num_executions={runs}", f"--cpu_threads={settings.threads}"]


def kit_executorch_launcher(python: str) -> str:
    """The launcher pushed to an emulated phone: the kit's stand-in behind the binary's flags."""
    return (
        "#!/bin/sh\n"
        "# splitbench kit runner: executor_runner-compatible flags and output (emulated phone)\n"
        f'exec {shlex.quote(python)} -m splitbench_device.executorch_runner "$@"\n'
    )


def kit_runtime() -> str:
    from splitbench.formats.executorch.runner import runtime_version

    return f"splitbench kit executor_runner ({runtime_version()})"


def binary_runtime(sha: str) -> str:
    return f"{RUNNER_NAME} sha256:{sha[:16]}"


def measurement(stdout: str, rc: int, settings: RunSettings, runtime: str) -> PartMeasurement:
    from splitbench_collect.executor_runner_log import to_measurement

    return to_measurement(stdout, rc, settings, runtime)


def missing_runner_message(serial: str) -> str:
    return (
        f"phone {serial} needs ExecuTorch's executor_runner built for Android with XNNPACK and "
        "ETDump (see docs/formats.md, 'ExecuTorch on a phone'): pass it with "
        "--benchmark-binary PATH"
    )
