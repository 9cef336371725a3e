"""What the kit runs on a phone, and the checks made before anything is pushed.

Three runners share one output format (``benchmark_model`` stdout, and its op-profiling CSV when
the runner can profile):

* ``benchmark_model`` — TensorFlow Lite's official native binary the user provides. Its ELF header
  is read *before* pushing: a binary for the wrong architecture would otherwise fail on the phone
  with a cryptic ``not executable: 64-bit ELF file`` after a long upload.
* ``kit`` — the kit's own runner (:mod:`splitbench_device.litert_benchmark_model`), for the
  emulated phone, where no Android binary can run. A small launcher script is pushed instead of a
  binary; it gets the same flags.
* ``app`` — the official TFLite Android benchmark app, started with ``am start`` and read back
  from ``logcat``.

Everything here is pure (no adb): flag lists, scripts and log parsing, so the exact command a
phone receives can be read and tested on its own.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import signal
import struct
from dataclasses import dataclass, field
from pathlib import Path

from splitbench.errors import DeviceError, SplitbenchError
from splitbench.measure.types import PartMeasurement, RunSettings

#: Where TensorFlow documents its prebuilt Android binaries (tensorflow/lite/tools/benchmark
#: README, "Download the nightly pre-built binaries").
OFFICIAL_BINARY_URLS = {
    "arm64-v8a": "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/"
    "release/lite/tools/nightly/latest/android_aarch64_benchmark_model",
    "armeabi-v7a": "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/"
    "release/lite/tools/nightly/latest/android_arm_benchmark_model",
}

APP_PACKAGE = "org.tensorflow.lite.benchmark"
APP_ACTIVITY = f"{APP_PACKAGE}/.BenchmarkModelActivity"

# ELF constants (System V ABI; e_machine values from <elf.h>).
_ELF_MAGIC = b"\x7fELF"
_EM_NAMES = {3: "x86", 40: "ARM", 62: "x86-64", 183: "AArch64"}

#: Android ABI name -> (e_machine, ELF class bits) of a binary that runs under it.
ABI_ELF: dict[str, tuple[int, int]] = {
    "arm64-v8a": (183, 64),
    "armeabi-v7a": (40, 32),
    "armeabi": (40, 32),
    "x86_64": (62, 64),
    "x86": (3, 32),
}


@dataclass(frozen=True)
class ElfArch:
    """The architecture an ELF file was built for, as read from its header."""

    machine: int  # e_machine
    bits: int  # 32 or 64 (EI_CLASS)

    @property
    def name(self) -> str:
        return f"{_EM_NAMES.get(self.machine, f'e_machine {self.machine}')} {self.bits}-bit"

    def runs_on(self, abi: str) -> bool:
        return ABI_ELF.get(abi) == (self.machine, self.bits)


def read_elf_arch(path: Path) -> ElfArch:
    """Read e_machine and the class of an ELF file; one-line :class:`DeviceError` otherwise."""
    try:
        with path.open("rb") as f:
            header = f.read(20)
    except FileNotFoundError:
        raise DeviceError(f"benchmark binary {path} does not exist") from None
    except IsADirectoryError:
        raise DeviceError(f"benchmark binary {path} is a directory, not a file") from None
    except OSError as exc:
        raise DeviceError(f"cannot read benchmark binary {path}: {exc.strerror}") from None
    if len(header) < 20 or header[:4] != _ELF_MAGIC or header[4] not in (1, 2):
        raise DeviceError(
            f"benchmark binary {path} is not an ELF executable (expected TensorFlow Lite's "
            "benchmark_model built for Android)"
        )
    bits = 32 if header[4] == 1 else 64
    endian = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", header[18:20])
    return ElfArch(machine=machine, bits=bits)


def check_binary_abi(path: Path, abilist: list[str], serial: str) -> ElfArch:
    """Refuse a binary the phone cannot execute.

    A phone runs binaries of any ABI in ``ro.product.cpu.abilist`` (an arm64 phone usually also
    runs armeabi-v7a), so the check accepts any of them, not only the primary ABI.
    """
    arch = read_elf_arch(path)
    known = [abi for abi in abilist if abi]
    if not known:
        raise DeviceError(f"phone {serial} does not report its ABI; cannot check {path.name}")
    if not any(arch.runs_on(abi) for abi in known):
        raise DeviceError(
            f"benchmark binary {path.name} is built for {arch.name} but phone {serial} runs "
            f"{', '.join(known)} — use the matching binary ({official_binary_hint(known[0])})"
        )
    return arch


def official_binary_hint(abi: str | None) -> str:
    """Where to get TensorFlow's prebuilt ``benchmark_model`` for a phone of this ABI."""
    url = OFFICIAL_BINARY_URLS.get(abi or "")
    if url:
        return f"TensorFlow's nightly prebuilt binary for {abi}: {url}"
    urls = ", ".join(OFFICIAL_BINARY_URLS.values())
    return f"TensorFlow's nightly prebuilt binaries (android_aarch64 / android_arm): {urls}"


def file_sha256(path: Path) -> str:
    """Content hash of a local file: the name it gets on the phone, so nothing is pushed twice."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _num(value: float) -> str:
    """A flag value as benchmark_model parses it (ints without a trailing .0)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def benchmark_flags(settings: RunSettings, *, profile: bool = True) -> list[str]:
    """The per-run flags of ``benchmark_model`` for these settings (graph and CSV path are added
    per part by the runner script)."""
    flags = [
        f"--num_threads={settings.threads}",
        f"--warmup_runs={settings.warmup_runs}",
        f"--warmup_min_secs={_num(settings.warmup_min_secs)}",
        f"--num_runs={settings.num_runs}",
        f"--min_secs={_num(settings.min_secs)}",
        f"--max_secs={_num(settings.max_secs)}",
    ]
    if profile:
        flags.append("--enable_op_profiling=true")
    return flags


def kit_launcher_script(python: str) -> str:
    """The launcher pushed to an emulated phone: the kit's own runner behind benchmark_model's
    flags. On the emulated phone shell commands run on this host, so the host's Python (the
    kit's virtualenv) is what executes it."""
    return (
        "#!/bin/sh\n"
        "# splitbench kit runner: benchmark_model-compatible flags and output (emulated phone)\n"
        f'exec {shlex.quote(python)} -m splitbench_device.litert_benchmark_model "$@"\n'
    )


# -- the official Android benchmark app ---------------------------------------------------------


def app_start_command(graph: str, settings: RunSettings) -> str:
    """``am start`` for the benchmark app, as one shell command line.

    The app receives all flags in one string extra (``--es args``) and splits it on whitespace,
    so a flag value may not contain whitespace; the whole string is one quoted shell word.
    """
    flags = [f"--graph={graph}", *benchmark_flags(settings)]
    bad = [f for f in flags if re.search(r"\s", f)]
    if bad:
        raise DeviceError(
            f"the benchmark app cannot take a flag with whitespace: {bad[0]!r} (it splits its "
            "arguments on spaces)"
        )
    return shlex.join(["am", "start", "-S", "-n", APP_ACTIVITY, "--es", "args", " ".join(flags)])


# threadtime: "11-22 10:00:00.123  1234  1240 I tflite  : message"
_LOG_THREADTIME = re.compile(
    r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+(\S+?)\s*: ?(.*)$"
)
# brief: "I/tflite  ( 1234): message"
_LOG_BRIEF = re.compile(r"^[VDIWEF]/(\S+?)\s*\(\s*\d+\): ?(.*)$")


def logcat_messages(text: str, tag: str = "tflite") -> list[str]:
    """The messages of ``tag`` in a ``logcat -d`` dump (threadtime or brief format), without the
    log prefixes, in order. Lines of other tags and logcat's own banners are dropped."""
    messages: list[str] = []
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        match = _LOG_THREADTIME.match(line) or _LOG_BRIEF.match(line)
        if match and match.group(1) == tag:
            messages.append(match.group(2))
    return messages


def app_run_text(logcat_text: str) -> str | None:
    """The benchmark output of the *last* app run in a logcat dump, as benchmark_model stdout.

    Earlier runs stay in the log buffer, so only the lines from the last ``STARTING!`` (what the
    tool prints first) on are kept. None while the run has not printed its timings yet.
    """
    messages = logcat_messages(logcat_text)
    starts = [i for i, msg in enumerate(messages) if msg.strip() == "STARTING!"]
    run = messages[starts[-1] :] if starts else messages
    done = any("Inference timings in us" in m or "Benchmarking failed" in m for m in run)
    return "\n".join(run) + "\n" if done else None


# -- what a runner left behind -----------------------------------------------------------------


def parse_meta(text: str) -> dict[str, str]:
    """``key=value`` lines of a runner ``.meta`` file (or of ``runner.sh -m``)."""
    meta: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            meta[key.strip()] = value.strip()
    return meta


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass(frozen=True)
class BatchOutcome:
    """How the one adb call that ran a batch ended."""

    status: int | None  # exit status of the runner call; None when it was cut off
    timed_out_after: float | None = None  # seconds, when the kit had to kill the call

    def describe(self) -> str:
        if self.timed_out_after is not None:
            return f"killed after {self.timed_out_after:g} s"
        return str(self.status)


@dataclass
class RunnerOutput:
    """The files ``runner.sh`` wrote for one part, as pulled from the phone."""

    stdout: str = ""
    rc: int | None = None  # None: the runner never finished this part
    csv: bytes | None = None
    timed_out: bool = False  # the runner's watchdog killed it
    meta: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_files(cls, name: str, files: dict[str, bytes]) -> RunnerOutput:
        rc_text = files.get(f"{name}.rc", b"").decode("ascii", errors="replace").strip()
        run = cls(
            stdout=files.get(f"{name}.stdout", b"").decode("utf-8", errors="replace"),
            rc=int(rc_text) if rc_text.isdigit() else None,
            csv=files.get(f"{name}.csv"),
            timed_out=f"{name}.timeout" in files,
            meta=parse_meta(files.get(f"{name}.meta", b"").decode("utf-8", errors="replace")),
        )
        if run.csv is not None:
            run.meta["op_profile"] = op_profile_note(run.csv)
        return run


def op_profile_note(csv: bytes) -> str:
    """How many Run Order rows a profiling CSV holds, or why it holds none (the kit runner
    writes only a statement that it cannot profile per operator)."""
    from splitbench_collect.op_profile import parse_run_order

    text = csv.decode("utf-8", errors="replace")
    try:
        return f"{len(parse_run_order(text))} Run Order rows"
    except SplitbenchError:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "empty file")
        return f"not available: {first[:200]}"


def part_measurement(
    run: RunnerOutput,
    settings: RunSettings,
    label: str,
    runtime: str,
    outcome: BatchOutcome,
    timeout_s: int,
) -> PartMeasurement:
    """The record of one part: a crash, a hang or a missing result is this part's ``error``
    (the sweep goes on); otherwise what the ``benchmark_model`` parser read."""
    error: str | None = None
    if run.timed_out:
        error = f"timed out after {timeout_s} s"
    elif run.rc is None:
        if outcome.timed_out_after is not None:
            error = (
                f"timed out after {outcome.timed_out_after:g} s (the phone stopped "
                "answering; the run was killed)"
            )
        elif outcome.status is not None and outcome.status >= 128:
            number = outcome.status - 128
            error = (
                f"{label} runner was killed by signal {number} ({signal_name(number)}) "
                "before this part finished"
            )
        else:
            error = f"{label} did not run this part (runner exit status {outcome.status})"
    elif run.rc >= 128:
        number = run.rc - 128
        error = f"{label} crashed with signal {number} ({signal_name(number)})"
    if error is not None:
        return PartMeasurement(
            method="benchmark_model", runtime=runtime, settings=settings, error=error, meta=run.meta
        )
    measured = measurement_from_stdout(run.stdout, run.rc or 0, settings, label, runtime)
    measured.meta = run.meta
    return measured


def measurement_from_stdout(
    stdout: str, rc: int, settings: RunSettings, label: str, runtime: str
) -> PartMeasurement:
    """What the ``benchmark_model`` stdout parser reads, the peak memory line, and the kit
    runner's raw samples when it printed them. ``settings`` are the ones the kit asked for."""
    from splitbench_collect.benchmark_stdout import parse_benchmark_stdout

    try:
        read = parse_benchmark_stdout(stdout)
    except SplitbenchError as exc:
        tail = stdout.strip().splitlines()[-1:] or ["no output"]
        reason = f"exited with status {rc}: {tail[0][:200]}" if rc else f"output unreadable: {exc}"
        return PartMeasurement(
            method="benchmark_model", runtime=runtime, settings=settings, error=f"{label} {reason}"
        )
    measured = read.to_measurement(runtime=runtime)
    measured.settings = settings
    if measured.ok:
        if measured.mem_peak_mb is None:
            measured.mem_peak_mb = read.peak_mem_mb
        add_raw_samples(measured, stdout)
        if rc != 0:
            measured.error = f"{label} exited with status {rc} after printing timings"
    return measured


_RAW = re.compile(r"splitbench raw (init|warmup|steady) us: ([0-9.,eE+-]*)\s*$")


def add_raw_samples(m: PartMeasurement, stdout: str) -> None:
    """Fill raw samples from the kit runner's ``splitbench raw ... us:`` lines (see
    :mod:`splitbench_device.litert_benchmark_model`). The official binary prints none; then the
    record keeps the parser's count/min/max/avg/std summary."""
    raw: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        if match := _RAW.search(line):
            raw[match.group(1)] = [float(v) / 1000 for v in match.group(2).split(",") if v]
    if raw.get("steady"):
        m.steady_ms = raw["steady"]
        m.steady_summary = None
    if raw.get("warmup"):
        m.first_ms = raw["warmup"][0]
        m.warmup_ms = raw["warmup"][1:]
    if raw.get("init"):
        m.init_ms = raw["init"][0]
