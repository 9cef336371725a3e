"""How busy the machine was while a benchmark ran: the figures behind a noisy result."""

from __future__ import annotations

import os
import resource


def cpu_snapshot(include_self: bool = False) -> tuple[dict[str, float], float]:
    """System-wide CPU times and the CPU time of this script's finished children (and, with
    ``include_self``, of this process: for work done in-process, not in a child command)."""
    import psutil

    times = psutil.cpu_times()._asdict()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = usage.ru_utime + usage.ru_stime
    if include_self:
        own = resource.getrusage(resource.RUSAGE_SELF)
        ours += own.ru_utime + own.ru_stime
    return times, ours


def machine_share(
    before: tuple[dict[str, float], float],
    after: tuple[dict[str, float], float],
    wall: float,
    what: str = "the sweep",
) -> str:
    """Who else used the CPUs meanwhile, as one printable line."""
    (t0, c0), (t1, c1) = before, after
    d = {k: t1[k] - t0[k] for k in t1 if not k.startswith("guest")}  # guest is inside user
    steal = d.get("steal", 0.0)
    busy = sum(d.values()) - d["idle"] - d.get("iowait", 0.0) - steal
    ours = c1 - c0
    cores = os.cpu_count() or 1
    return (
        f"CPU during {what}: {what} {ours:.0f} CPU-s, everything else"
        f" {max(0.0, busy - ours):.0f} CPU-s ({max(0.0, busy - ours) / wall:.2f} cores on"
        f" average of {cores}), steal {100 * steal / (wall * cores):.1f} %"
    )


def load_line() -> str:
    """The 1/5/15-minute load averages and the core count, as one printable line."""
    one, five, fifteen = os.getloadavg()
    cores = os.cpu_count()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {cores} cores"
