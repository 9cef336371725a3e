"""Turn a target spec from the command line (``host``, ``adb``, ``adb:SERIAL``) into a Target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from splitbench.errors import SplitbenchError
from splitbench.targets.base import Target


@dataclass(frozen=True)
class AdbOptions:
    """Everything a phone target needs besides its serial."""

    adb_port: int | None = None
    benchmark_binary: Path | None = None
    device_dir: str = "/data/local/tmp/splitbench"
    timeout_s: float = 600.0
    cooldown_temp_c: float | None = None
    cooldown_max_wait_s: float = 120.0
    affinity_mask: str | None = None


def expand_specs(specs: list[str], adb: AdbOptions) -> list[str]:
    """Expand ``adb`` (the one connected phone) and ``all`` (every phone) into ``adb:SERIAL``."""
    out: list[str] = []
    for spec in specs:
        if spec == "host" or spec.startswith("host:"):
            out.append(spec)
        elif spec in ("adb", "all") or spec.startswith("adb:"):
            from splitbench.targets.adb import resolve_serials

            out += [f"adb:{s}" for s in resolve_serials([spec], adb.adb_port)]
        else:
            raise SplitbenchError(
                f"unknown target '{spec}': use host, adb, adb:SERIAL, or --clients all"
            )
    seen: set[str] = set()
    return [s for s in out if not (s in seen or seen.add(s))]


def make_target(spec: str, *, run_dir: Path, adb: AdbOptions) -> Target:
    if spec == "host" or spec.startswith("host:"):
        from splitbench.targets.host import HostTarget

        return HostTarget(name=spec, run_dir=run_dir)
    from splitbench.targets.adb import AdbTarget

    return AdbTarget(
        spec.split(":", 1)[1],
        adb_port=adb.adb_port,
        device_dir=adb.device_dir,
        benchmark_binary=adb.benchmark_binary,
        run_dir=run_dir,
        timeout_s=adb.timeout_s,
        cooldown_temp_c=adb.cooldown_temp_c,
        cooldown_max_wait_s=adb.cooldown_max_wait_s,
        affinity_mask=adb.affinity_mask,
    )
