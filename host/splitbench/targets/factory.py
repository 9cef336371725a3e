"""Turn target specs from the command line (``host``, ``adb``, ``adb:SERIAL``,
``adb:HOST:PORT/SERIAL``, ``all``) into Targets, over one or several adb servers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from splitbench.errors import SplitbenchError
from splitbench.targets.base import Target

if TYPE_CHECKING:
    from splitbench.targets.adb.pool import PhoneRef


@dataclass(frozen=True)
class AdbOptions:
    """Everything a phone target needs besides its serial."""

    adb_port: int | None = None
    # --adb-server values; empty: $SPLITBENCH_ADB_SERVERS, else the local server only
    adb_servers: tuple[str, ...] = ()
    server_timeout_s: float = 10.0
    benchmark_binary: Path | None = None
    device_dir: str = "/data/local/tmp/splitbench"
    device_cache_mb: float = 512.0
    timeout_s: float = 600.0
    cooldown_temp_c: float | None = None
    cooldown_max_wait_s: float = 120.0
    affinity_mask: str | None = None
    model_format: str = "tflite"  # "executorch": phones run parts with executor_runner


@dataclass
class ResolvedTargets:
    """Target names for the sweep, the phone behind each ``adb…`` name, and the servers that
    did not answer (their phones are missing from ``all``; the sweep reports them)."""

    clients: list[str]
    server: str
    phones: dict[str, PhoneRef] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)


def _is_phone(spec: str) -> bool:
    return spec in ("adb", "all") or spec.startswith("adb:")


def resolve_targets(client_specs: list[str], server_spec: str, adb: AdbOptions) -> ResolvedTargets:
    """Resolve every spec against one survey of the adb servers (asked once, in parallel)."""
    for spec in [*client_specs, server_spec]:
        if not (spec == "host" or spec.startswith("host:") or _is_phone(spec)):
            raise SplitbenchError(
                f"unknown target '{spec}': use host, adb, adb:SERIAL, adb:HOST:PORT/SERIAL, "
                "or --clients all"
            )
    phone_specs = [s for s in [*client_specs, server_spec] if _is_phone(s)]
    if not phone_specs:
        return ResolvedTargets(list(dict.fromkeys(client_specs)), server_spec)
    from splitbench.targets.adb.pool import resolve_phones, survey
    from splitbench.targets.adb.server import servers_from

    servers = servers_from(adb.adb_servers, adb.adb_port)
    found = survey(servers, adb.server_timeout_s)

    def names(spec: str) -> list[str]:
        if not _is_phone(spec):
            return [spec]
        refs = resolve_phones([spec], servers, adb.server_timeout_s, found=found)
        for ref in refs:
            phones[ref.name] = ref
        return [ref.name for ref in refs]

    phones: dict[str, PhoneRef] = {}
    clients = list(dict.fromkeys(n for spec in client_specs for n in names(spec)))
    server_names = names(server_spec)
    unreachable = {s.label: line for s, line in found.errors.items()}
    return ResolvedTargets(clients, server_names[0], phones, unreachable)


def make_target(
    spec: str, *, run_dir: Path, adb: AdbOptions, phone: PhoneRef | None = None
) -> Target:
    if spec == "host" or spec.startswith("host:"):
        from splitbench.targets.host import HostTarget

        return HostTarget(name=spec, run_dir=run_dir)
    from splitbench.targets.adb import AdbTarget
    from splitbench.targets.adb.pool import parse_phone

    if phone is None:
        server, serial = parse_phone(spec)
        from splitbench.targets.adb.server import local_server

        server = server or local_server(adb.adb_port)
        qualified = spec != f"adb:{serial}"
    else:
        server, serial, qualified = phone.server, phone.serial, phone.qualified
    return AdbTarget(
        serial,
        server=server,
        qualified=qualified,
        device_dir=adb.device_dir,
        benchmark_binary=adb.benchmark_binary,
        run_dir=run_dir,
        timeout_s=adb.timeout_s,
        cooldown_temp_c=adb.cooldown_temp_c,
        cooldown_max_wait_s=adb.cooldown_max_wait_s,
        affinity_mask=adb.affinity_mask,
        device_cache_mb=adb.device_cache_mb,
        model_format=adb.model_format,
        server_timeout_s=adb.server_timeout_s,
    )
