"""A stand-in for ExecuTorch's ``executor_runner``: same flags, same log lines, on the
``executorch`` wheel's runtime. The emulated phone runs it behind the binary's command line, so
push → run → pull → parse is exercised as with a real phone::

    python -m splitbench_device.executorch_runner --model_path=part.pte --num_executions=20 \\
        --cpu_threads=1 [--etdump_path=part.etdump]

Lines go to stderr as ``ET_LOG`` prints them (``I 00:00:00.000123 executorch:...] message``):
``Model file ... is loaded.``, ``Model loaded in X ms.``, ``Iteration I of N: X ms`` per
execution, ``Model executed successfully N time(s) in X ms.``, and with ``--etdump_path`` the
ETDump is written there (``ETDump written to file '...'``). Inputs are all ones, as the binary
sets them without ``--inputs``. Deliberate differences: unknown flags are refused (exit 2); the
binary's output printing is not reproduced (``--print_output`` is accepted, nothing printed).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_FLAGS = {
    "model_path": "model.pte",
    "num_executions": "1",
    "cpu_threads": "-1",
    "etdump_path": "",
    "print_output": "summary",
    "method_name": "",
}
_START = time.monotonic()


def log(level: str, text: str) -> None:
    t = time.monotonic() - _START
    h, rem = divmod(t, 3600)
    mnt, sec = divmod(rem, 60)
    sys.stderr.write(
        f"{level} {int(h):02d}:{int(mnt):02d}:{sec:09.6f}"
        f" executorch:executor_runner.cpp:0] {text}\n"
    )


def parse(argv: list[str]) -> dict[str, str]:
    flags = dict(_FLAGS)
    for arg in argv:
        name, sep, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or not sep or name not in flags:
            raise ValueError(f"unknown or malformed flag {arg!r}")
        flags[name] = value
    return flags


def main(argv: list[str]) -> int:
    try:
        flags = parse(argv)
        runs = int(flags["num_executions"])
        threads = int(flags["cpu_threads"])
    except ValueError as exc:
        log("E", f"Usage: {exc}")
        return EXIT_USAGE
    import torch
    from splitbench.formats.executorch.runner import PteFailure, input_specs, load, set_threads

    set_threads(1 if threads < 1 else threads)
    log("I", f"Resetting threadpool with num threads = {max(1, threads)}")
    path = Path(flags["model_path"])
    started = time.perf_counter_ns()
    try:
        program, method = load(path, etdump=bool(flags["etdump_path"]))
    except PteFailure as failure:
        if failure.phase == "load":
            log("E", f"Failed to parse model file {path}: {failure.detail}")
        else:
            log("E", f"Loading of method forward failed with status 0x1: {failure.detail}")
        return EXIT_FAILED
    loaded = (time.perf_counter_ns() - started) / 1e6
    log("I", f"Model file {path} is loaded.")
    log("I", "Using method forward")
    log("I", f"Model loaded in {loaded:f} ms.")
    inputs = [
        torch.ones(s.shape, dtype=getattr(torch, s.dtype))
        for s in input_specs(method.method_meta())
    ]
    method.set_inputs(inputs)
    total = 0
    for i in range(runs):
        begin = time.perf_counter_ns()
        try:
            method.execute()
        except (RuntimeError, ValueError):
            log("E", "Execution of method forward failed with status 0x1")
            return EXIT_FAILED
        took = time.perf_counter_ns() - begin
        total += took
        log("I", f"Iteration {i + 1} of {runs}: {took / 1e6:f} ms")
    log("I", f"Model executed successfully {runs} time(s) in {total / 1e6:f} ms.")
    log("I", f"{method.method_meta().num_outputs()} outputs: ")
    if flags["etdump_path"]:
        out = flags["etdump_path"]
        program.write_etdump_result_to_file(out, out + ".debug")
        Path(out + ".debug").unlink(missing_ok=True)
        log("I", f"ETDump written to file '{out}'.")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
