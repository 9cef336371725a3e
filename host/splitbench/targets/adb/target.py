"""A phone (or the emulated phone) as the :class:`~splitbench.targets.base.Target` a sweep uses.

Uploads by content hash (:mod:`.cache`), the phone-side ``runner.sh`` over a batch of parts in
one adb call, evidence files pulled into the run directory, the ``benchmark_model`` parsers, and
per-part failures (crash, hang) as ``PartMeasurement.error`` while failures of the phone itself
raise.
"""

from __future__ import annotations

import contextlib
import math
import posixpath
import re
import shlex
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from splitbench.errors import DeviceError, SplitbenchError
from splitbench.measure.types import PartMeasurement, RunSettings
from splitbench.targets.adb.cache import DEFAULT_CACHE_MB, MB, UploadCache
from splitbench.targets.adb.devicedir import DEFAULT_DEVICE_DIR, DeviceDir
from splitbench.targets.adb.phone import Phone, read_facts
from splitbench.targets.adb.pool import PhoneRef, resolve_phones
from splitbench.targets.adb.server import (
    LOCAL_HOST,
    SERVER_TIMEOUT,
    SHORT,
    AdbServer,
    adb_server_port,
)
from splitbench.targets.adb.wire import RemoteTimeout
from splitbench.targets.base import TargetInfo, evidence_dir
from splitbench.targets.binaries import (
    APP_PACKAGE,
    BatchOutcome,
    RunnerOutput,
    app_run_text,
    app_start_command,
    benchmark_flags,
    check_binary_abi,
    file_sha256,
    kit_launcher_script,
    measurement_from_stdout,
    official_binary_hint,
    parse_meta,
    part_measurement,
    read_elf_arch,
)
from splitbench.targets.device_info import DeviceFacts

if TYPE_CHECKING:
    from splitbench.formats.base import Format

RunnerChoice = Literal["auto", "benchmark_model", "kit", "app"]


@dataclass(frozen=True)
class _Runner:
    """What runs a part on the phone, once prepared."""

    kind: str  # "benchmark_model", "kit" or "app"
    command: tuple[str, ...]  # remote argv before the per-part flags (empty for the app)
    label: str  # how errors name it
    runtime: str  # PartMeasurement.runtime / TargetInfo.runtime
    profile_csv: bool  # the runner writes --profiling_output_csv_file


@dataclass
class BatchStats:
    """Where a target's time went: whole batches (push, run, pull, parse) and the runner's
    own adb call among them; the difference is the host side's cost."""

    batches: int = 0
    parts: int = 0
    total_s: float = 0.0
    runner_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of this process's thread over the batches (host-side work)
    # the first batch's host side (runner call excluded), with the phone's one-off set-up
    first_s: float = 0.0


@dataclass(frozen=True)
class _Part:
    local: Path
    sha: str
    remote: str
    name: str  # file stem on the phone and in the evidence directory


def _runner_script() -> bytes:
    return resources.files("splitbench_device").joinpath("runner.sh").read_bytes()


class AdbTarget:
    """A phone (or the emulated phone) as a measurement target.

    The runner is chosen once per target: ``benchmark_model`` when a binary is given, the kit's
    own runner on the emulated phone, the official benchmark app on a phone that has it, else a
    :class:`DeviceError` saying where to get TensorFlow's prebuilt binary.

    After a run, ``bytes_pushed`` counts every byte uploaded by this target and ``warnings``
    lists conditions that make timings unstable (charging, battery saver, screen on).
    """

    kind = "adb"

    def __init__(
        self,
        serial: str | None,
        *,
        adb_port: int | None = None,
        host: str = LOCAL_HOST,
        server: AdbServer | None = None,
        qualified: bool = False,
        device_dir: str = DEFAULT_DEVICE_DIR,
        benchmark_binary: Path | None = None,
        runner: RunnerChoice = "auto",
        run_dir: Path,
        timeout_s: float = 600.0,
        cooldown_temp_c: float | None = None,
        cooldown_max_wait_s: float = 120.0,
        affinity_mask: str | None = None,
        device_cache_mb: float | None = DEFAULT_CACHE_MB,
        model_format: str = "tflite",
        server_timeout_s: float = SERVER_TIMEOUT,
    ) -> None:
        if runner not in ("auto", "benchmark_model", "kit", "app"):
            raise SplitbenchError(f"unknown runner {runner!r}: auto, benchmark_model, kit, app")
        if affinity_mask is not None and not re.fullmatch(r"(0x)?[0-9a-fA-F]+", affinity_mask):
            raise SplitbenchError(f"CPU affinity mask {affinity_mask!r} is not a hex mask")
        if benchmark_binary is not None:
            read_elf_arch(Path(benchmark_binary))  # missing or not ELF: fail before any adb
        if server is None:
            server = AdbServer(host, adb_server_port(adb_port), local=host == LOCAL_HOST)
        if serial is None:
            ref = resolve_phones(["adb"], [server])[0]
            serial, server = ref.serial, ref.server
        self.serial = serial
        self.server = server
        self.name = PhoneRef(server, serial, qualified).name
        self.dirs = DeviceDir(device_dir)
        self.binary = Path(benchmark_binary) if benchmark_binary is not None else None
        self.runner_choice: RunnerChoice = runner
        self.run_dir = Path(run_dir).absolute()  # evidence paths stay valid from any cwd
        self.timeout_s = float(timeout_s)
        self.cooldown_temp_c = cooldown_temp_c
        self.cooldown_max_wait_s = cooldown_max_wait_s
        self.affinity_mask = affinity_mask
        self.phone = Phone(
            serial, server=server, qualified=qualified, server_timeout=server_timeout_s
        )
        clean = f"splitbench clean {self.name}"
        if not server.local and not qualified:
            clean += f" --adb-server {server.label}"
        limit = None if device_cache_mb is None else int(device_cache_mb * MB)
        self.uploads = UploadCache(self.phone, self.dirs, limit, clean_hint=clean)
        # host-side cost accounting (benchmarks/bench_pool.py): wall time of every batch and
        # of the runner's own adb call inside it
        self.stats = BatchStats()
        self.warnings: list[str] = []
        self._facts: DeviceFacts | None = None
        self._runner: _Runner | None = None
        self._runner_path: str | None = None
        self._ready_dirs = False
        self.model_format = model_format  # "executorch": parts run with executor_runner
        self._et_runner: _Runner | None = None
        self._done_batch: str | None = None

    # Target protocol --------------------------------------------------------------------------

    def facts(self) -> DeviceFacts:
        if self._facts is None:
            self._facts = read_facts(self.phone, self.dirs.root)
            self.warnings = list(dict.fromkeys([*self.warnings, *self._facts.warnings()]))
        return self._facts

    def describe(self) -> TargetInfo:
        facts = self.facts()
        extra = facts.as_extra()
        extra["runner"] = self._runner.kind if self._runner else self._planned_runner(facts)
        extra["adb_server"] = self.server.label
        if self.warnings:
            extra["warnings"] = " | ".join(self.warnings)
        if self.affinity_mask:
            extra["affinity_mask"] = self.affinity_mask
        runtime = self._runner.runtime if self._runner else self._planned_runtime(extra["runner"])
        return TargetInfo(
            name=self.name,
            kind=self.kind,
            cpu_model=facts.soc or "unknown",
            cores=len(facts.cores),
            runtime=runtime,
            extra=extra,
        )

    def cannot_run(self, fmt: Format) -> str | None:
        """Phones run the parts of formats that have a benchmark runner for Android."""
        if fmt.phone_runner is not None:
            return None
        return (
            f"{self.name} cannot run {fmt.name.upper()} parts (no {fmt.name.upper()} runtime binary"
            " for Android can be had here): use --format tflite for phones, or host targets"
        )

    def measure(
        self, part: Path, settings: RunSettings, *, profile: bool = False
    ) -> PartMeasurement:
        """``profile`` changes nothing: the phone's runner profiles per operator whenever it
        can (benchmark_model's op profiling, executor_runner's ETDump)."""
        return self.measure_batch([part], settings)[0]

    def runs_on_this_host(self) -> bool:
        """The emulated phone behind a local adb server runs its commands on this host."""
        return self.facts().emulated and self.server.on_this_host

    def close(self) -> None:
        """Nothing stays open between commands; uploaded parts stay on the phone for reuse.
        The last batch's scratch folder is removed here (each batch removes the one before)."""
        if self._done_batch is not None:
            with contextlib.suppress(DeviceError, RemoteTimeout):
                self.phone.shell(self.dirs.remove_command(self._done_batch))
            self._done_batch = None

    def abort(self) -> None:
        """The sweep was interrupted: end this phone's adb requests in flight at once."""
        self.phone.client.abort()

    # batch ------------------------------------------------------------------------------------

    def measure_batch(self, parts: Sequence[Path], settings: RunSettings) -> list[PartMeasurement]:
        """Measure several parts with one runner call (one adb round trip for the runs)."""
        started, cpu_started = time.perf_counter(), time.thread_time()
        executorch = bool(parts) and all(Path(p).suffix == ".pte" for p in parts)
        runner = self._prepare_executorch() if executorch else self._prepare()
        if runner.kind == "app":
            return [self._measure_app(self._upload(p, settings), settings) for p in parts]
        staged: list[_Part] = []
        for p in parts:
            staged.append(self._upload(p, settings, keep={s.remote for s in staged}))
        batch = self.dirs.path("runs", uuid.uuid4().hex[:12])
        out_dir = posixpath.join(batch, "out")
        listing = "".join(f"{p.name} {p.remote}\n" for p in staged).encode()
        self.uploads.push(listing, posixpath.join(batch, "parts.list"))
        # the previous batch's scratch folder goes in the same adb call (one round trip less)
        previous = f"{self.dirs.remove_command(self._done_batch)}; " if self._done_batch else ""
        self._done_batch = None
        command = (
            previous
            + self.uploads.touch_command([p.remote for p in staged])
            + self._runner_command(runner, out_dir, posixpath.join(batch, "parts.list"), settings)
        )
        per_part = self.timeout_s + (
            self.cooldown_max_wait_s if self.cooldown_temp_c is not None else 0.0
        )
        budget = len(staged) * (per_part + 3.0) + 5.0  # + the runner's own bookkeeping
        timed_out = False
        status: int | None = None
        run_started = time.perf_counter()
        try:
            status = self.phone.shell(
                command, timeout=budget, kill=self._kill_command(out_dir)
            ).returncode
        except RemoteTimeout:
            timed_out = True
        ran = time.perf_counter() - run_started
        self.stats.runner_s += ran
        files = self.phone.pull_dir(out_dir)
        outcome = BatchOutcome(status=status, timed_out_after=budget if timed_out else None)
        results = [self._result(p, files, settings, runner, outcome) for p in staged]
        self._done_batch = batch  # removed by the next batch's command, or by close()
        if self.stats.batches == 0:
            self.stats.first_s = time.perf_counter() - started - ran
        self.stats.batches += 1
        self.stats.parts += len(staged)
        self.stats.total_s += time.perf_counter() - started
        self.stats.cpu_s += time.thread_time() - cpu_started
        return results

    # preparation ------------------------------------------------------------------------------

    def _planned_runner(self, facts: DeviceFacts) -> str:
        if self.model_format == "executorch":
            return "executor_runner" if self.binary is not None or not facts.emulated else "kit"
        if self.runner_choice != "auto":
            return self.runner_choice
        if self.binary is not None:
            return "benchmark_model"
        return "kit" if facts.emulated else "benchmark_model or app"

    def _planned_runtime(self, kind: str) -> str:
        """The runtime string measurements will carry, known before anything is pushed."""
        if self.model_format == "executorch":
            from splitbench.targets import executorch_phone

            if self.binary is not None:
                return executorch_phone.binary_runtime(file_sha256(self.binary))
            return executorch_phone.kit_runtime()
        if kind == "benchmark_model" and self.binary is not None:
            return f"benchmark_model sha256:{file_sha256(self.binary)[:16]}"
        if kind == "kit":
            from splitbench.formats.tflite.litert import runtime_version

            return f"splitbench kit runner ({runtime_version()})"
        if kind == "app":
            return f"{APP_PACKAGE} app"
        return kind

    def _prepare(self) -> _Runner:
        if self._runner is not None:
            return self._runner
        facts = self.facts()
        kind = self.runner_choice
        if kind == "auto":
            if self.binary is not None:
                kind = "benchmark_model"
            elif facts.emulated:
                kind = "kit"
            elif self._app_installed():
                kind = "app"
            else:
                raise DeviceError(
                    f"phone {self.phone.who} needs TensorFlow Lite's benchmark_model: download "
                    f"{official_binary_hint(facts.abi)} and pass --benchmark-binary PATH (or "
                    f"install the benchmark app {APP_PACKAGE})"
                )
        self._ensure_dirs()
        if kind == "benchmark_model":
            runner = self._prepare_binary(facts)
        elif kind == "kit":
            runner = self._prepare_kit(facts)
        else:
            runner = self._prepare_app(facts)
        self._runner_path = self.uploads.push_named(_runner_script(), "bin", "runner.sh", 0o755)
        self._runner = runner
        return runner

    def _prepare_executorch(self) -> _Runner:
        """The runner for ``.pte`` parts: the user's ``executor_runner`` (ELF checked against the
        phone), or the kit's stand-in on the emulated phone."""
        from splitbench.targets import executorch_phone as et

        if self._et_runner is not None:
            return self._et_runner
        facts = self.facts()
        self._ensure_dirs()
        if self.binary is not None:
            check_binary_abi(self.binary, list(facts.abilist), self.serial)
            sha = file_sha256(self.binary)
            remote = self.uploads.push_named(self.binary, "bin", et.RUNNER_NAME, 0o755, sha=sha)
            self.phone.check_shell(
                f"chmod 755 {shlex.quote(remote)}", "making executor_runner executable"
            )
            runner = _Runner(
                "executor_runner", (remote,), et.RUNNER_NAME, et.binary_runtime(sha), False
            )
        elif facts.emulated:
            script = et.kit_executorch_launcher(sys.executable).encode()
            remote = self.uploads.push_named(script, "bin", "kit_executor_runner.sh", 0o755)
            runner = _Runner(
                "kit-executorch", ("sh", remote), "kit executor_runner", et.kit_runtime(), False
            )
        else:
            raise DeviceError(et.missing_runner_message(self.serial))
        self._runner_path = self.uploads.push_named(_runner_script(), "bin", "runner.sh", 0o755)
        self._et_runner = runner
        return runner

    def _ensure_dirs(self) -> None:
        if not self._ready_dirs:
            dirs = " ".join(shlex.quote(self.dirs.path(d)) for d in ("parts", "bin", "runs"))
            self.phone.check_shell(f"mkdir -p {dirs}", "creating the kit's directory")
            self._ready_dirs = True

    def _prepare_binary(self, facts: DeviceFacts) -> _Runner:
        if self.binary is None:
            raise DeviceError(
                f"the benchmark_model runner needs --benchmark-binary PATH: download "
                f"{official_binary_hint(facts.abi)}"
            )
        check_binary_abi(self.binary, list(facts.abilist), self.serial)
        sha = file_sha256(self.binary)
        remote = self.uploads.push_named(self.binary, "bin", "benchmark_model", 0o755, sha=sha)
        self.phone.check_shell(
            f"chmod 755 {shlex.quote(remote)}", "making benchmark_model executable"
        )
        return _Runner(
            "benchmark_model",
            (remote,),
            "benchmark_model",
            self._planned_runtime("benchmark_model"),
            profile_csv=True,
        )

    def _prepare_kit(self, facts: DeviceFacts) -> _Runner:
        if not facts.emulated:
            raise DeviceError(
                f"phone {self.phone.who} is a real phone: the kit runner only runs on the emulated "
                f"phone; use {official_binary_hint(facts.abi)} with --benchmark-binary"
            )
        script = kit_launcher_script(sys.executable).encode()
        remote = self.uploads.push_named(script, "bin", "kit_benchmark_model.sh", 0o755)
        return _Runner(
            "kit",
            ("sh", remote),
            "kit benchmark runner",
            self._planned_runtime("kit"),
            profile_csv=True,
        )

    def _app_installed(self) -> bool:
        try:
            out = self.phone.shell(f"pm list packages {APP_PACKAGE}").text
        except RemoteTimeout:
            return False
        return f"package:{APP_PACKAGE}" in out.split()

    def _prepare_app(self, facts: DeviceFacts) -> _Runner:
        if not self._app_installed():
            raise DeviceError(
                f"the TensorFlow Lite benchmark app ({APP_PACKAGE}) is not installed on phone "
                f"{self.phone.who}: install it with `adb install -r -d -g "
                "android_aarch64_benchmark_model.apk` (TensorFlow's nightly prebuilt APK) or "
                "pass --benchmark-binary"
            )
        return _Runner("app", (), "benchmark app", self._planned_runtime("app"), profile_csv=False)

    # uploads ----------------------------------------------------------------------------------

    @property
    def bytes_pushed(self) -> int:
        return self.uploads.bytes_pushed

    def upload_part(self, part: Path) -> tuple[str, int]:
        """Put a model file on the phone as ``parts/<sha256[:16]>.tflite``; returns (remote
        path, bytes sent) — 0 bytes when a file of that name and size is already there."""
        _sha, remote, sent = self._stage(part)
        return remote, sent

    def _stage(self, part: Path, keep: set[str] | None = None) -> tuple[str, str, int]:
        if not part.is_file():
            raise SplitbenchError(f"part file {part} does not exist")
        self._ensure_dirs()
        return self.uploads.stage_part(part, keep)

    def _upload(self, part: Path, settings: RunSettings, keep: set[str] | None = None) -> _Part:
        from splitbench.results.identity import settings_hash  # the database's own identity

        sha, remote, _sent = self._stage(part, keep)
        return _Part(part, sha, remote, f"{sha[:16]}-{settings_hash(settings)}")

    # running ----------------------------------------------------------------------------------

    def _runner_command(
        self, runner: _Runner, out_dir: str, listing: str, settings: RunSettings
    ) -> str:
        assert self._runner_path is not None
        args = [
            "sh",
            self._runner_path,
            "-o",
            out_dir,
            "-l",
            listing,
            "-x",
            str(math.ceil(self.timeout_s)),
        ]
        if self.cooldown_temp_c is not None:
            args += [
                "-c",
                str(round(self.cooldown_temp_c * 1000)),
                "-w",
                str(math.ceil(self.cooldown_max_wait_s)),
            ]
        if self.affinity_mask:
            args += ["-a", self.affinity_mask]
        if runner.kind in ("executor_runner", "kit-executorch"):
            from splitbench.targets.executorch_phone import executor_runner_flags

            args += ["-E", "-G", "--model_path", "--", *runner.command]
            return shlex.join([*args, *executor_runner_flags(settings)])
        if runner.profile_csv:
            args.append("-P")
        args += ["--", *runner.command, *benchmark_flags(settings)]
        return shlex.join(args)

    def _kill_command(self, out_dir: str) -> str:
        """Kill the runner (its process group and pid) first, so it starts nothing new, then
        the part it was running. Reads only the kit's own pid files."""
        runner_pid = shlex.quote(posixpath.join(out_dir, "runner.pid"))
        child_pid = shlex.quote(posixpath.join(out_dir, "child.pid"))
        return (
            f"if [ -f {runner_pid} ]; then read -r p g < {runner_pid};"
            ' [ -n "$g" ] && [ "$g" -gt 1 ] && kill -9 -"$g" 2>/dev/null;'
            ' [ -n "$p" ] && kill -9 "$p" 2>/dev/null; fi;'
            f" if [ -f {child_pid} ]; then read -r c < {child_pid};"
            ' [ -n "$c" ] && kill -9 "$c" 2>/dev/null; fi; true'
        )

    def _evidence_dir(self) -> Path:
        return evidence_dir(self.run_dir, self.name)

    def _result(
        self,
        part: _Part,
        files: dict[str, bytes],
        settings: RunSettings,
        runner: _Runner,
        outcome: BatchOutcome,
    ) -> PartMeasurement:
        """Keep the runner's files as evidence and turn them into the part's record."""
        evidence_dir = self._evidence_dir()
        evidence: list[str] = []
        for suffix in ("stdout", "csv", "etdump", "meta"):
            data = files.get(f"{part.name}.{suffix}")
            if data is not None:
                path = evidence_dir / f"{part.name}.{suffix}"
                path.write_bytes(data)
                evidence.append(str(path))
        run = RunnerOutput.from_files(part.name, files)
        run.meta.update(
            {
                "runner": runner.kind,
                "part_sha256": part.sha,
                "serial": self.serial,
                "adb_server": self.server.label,
                "runner_exit_status": outcome.describe(),
            }
        )
        finished = run.rc is not None and run.rc < 128 and not run.timed_out
        if runner.kind in ("executor_runner", "kit-executorch") and finished:
            from splitbench.targets.executorch_phone import measurement

            measured = measurement(run.stdout, run.rc or 0, settings, runner.runtime)
            measured.meta = run.meta
        else:
            measured = part_measurement(
                run, settings, runner.label, runner.runtime, outcome, math.ceil(self.timeout_s)
            )
        return replace(measured, evidence=evidence)

    # the benchmark app ------------------------------------------------------------------------

    def _measure_app(self, part: _Part, settings: RunSettings) -> PartMeasurement:
        runner = self._prepare()
        meta = {
            "runner": "app",
            "part_sha256": part.sha,
            "serial": self.serial,
            "adb_server": self.server.label,
        }
        meta.update(self._state("before"))
        since = self.phone.check_shell("date '+%m-%d %H:%M:%S.000'", "reading the clock").strip()
        self.phone.check_shell(
            app_start_command(part.remote, settings), "starting the benchmark app"
        )
        deadline = time.monotonic() + self.timeout_s
        logcat = f"logcat -d -v threadtime -T {shlex.quote(since)} -s tflite"
        previous = None
        text: str | None = None
        while time.monotonic() < deadline:
            dump = self.phone.shell(logcat, timeout=SHORT).text
            text = app_run_text(dump)
            if text is not None and dump == previous:
                break  # finished and quiet for one poll: the op tables are complete
            previous = dump
            time.sleep(1.0)
        else:
            with contextlib.suppress(DeviceError, RemoteTimeout):
                self.phone.shell(f"am force-stop {APP_PACKAGE}")
            return PartMeasurement(
                method="benchmark_model",
                runtime=runner.runtime,
                settings=settings,
                meta=meta,
                error=f"timed out after {math.ceil(self.timeout_s)} s",
            )
        meta.update(self._state("after"))
        path = self._evidence_dir() / f"{part.name}.stdout"
        path.write_text(text or "")
        measured = measurement_from_stdout(text or "", 0, settings, runner.label, runner.runtime)
        return replace(measured, evidence=[str(path)], meta=meta)

    def _state(self, prefix: str) -> dict[str, str]:
        """The phone's state (temperature, frequencies, battery) via ``runner.sh -m``."""
        assert self._runner_path is not None
        command = shlex.join(["sh", self._runner_path, "-m", prefix])
        return parse_meta(self.phone.check_shell(command, "reading the phone's state"))
