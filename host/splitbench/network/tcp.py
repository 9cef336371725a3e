"""TCP transfers of a network profile, simulated with ns-3 and cached per size.

A ``tcp`` profile's transfer of ``n`` bytes is ``draws`` simulations (one when the profile has
no loss and fixed rates: the simulation is then deterministic), each with its own seed and, for
a rate distribution, its own rate quantile. :func:`simulate` answers from the user cache
(``splitbench cache dir/network/transfers.sqlite``, keyed by everything that changes a result:
ns-3's version, this model's version, rate, delay, loss, segment, initial window, handshake,
bytes and seed) and runs the missing ones in child processes (:mod:`.ns3_child`) with a
deadline; each child dies with its parent. ns-3 is imported only there, and only when a
transfer is missing from the cache.

The uplink of one inference is timed from the first SYN for a ``new`` connection (handshake and
slow start from the initial window), from its first byte for a ``warm`` one (window already open
to the link's bandwidth-delay product); the downlink comes back over the same connection, so it
is timed from its first byte, its window the initial one (``new``) or open (``warm``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from splitbench.cache import cache_dir
from splitbench.errors import SplitbenchError
from splitbench.network.config import NetworkConfig, draw_quantiles, rate_quantile
from splitbench.orphans import kill_on_parent_death

SEGMENT = 1448  # bytes of payload in a 1,500-byte MTU (ns-3's own default is 536)
INITIAL_WINDOW = 10  # segments (RFC 6928)
MODEL_VERSION = "4"  # bump when the simulation changes what it measures
IMPORT_DEADLINE_S = 120.0  # ns-3's import and cling's compile on a loaded machine
PER_TRANSFER_DEADLINE_S = 5.0

if TYPE_CHECKING:
    from splitbench.results.keyvalue import KeyValueStore


class NetworkSimulationError(SplitbenchError):
    """ns-3 is missing, failed to start, or did not finish in time."""


@dataclass(frozen=True)
class Transfer:
    """One simulated transfer: everything that changes its result."""

    rate_bps: float
    delay_s: float
    loss: float
    segment: int
    cwnd: int
    handshake: bool
    bytes: int
    seed: int

    def key(self, ns3_version: str) -> str:
        text = json.dumps([MODEL_VERSION, ns3_version, *asdict(self).values()])
        return hashlib.sha256(text.encode()).hexdigest()


def transfers(cfg: NetworkConfig, direction: str, nbytes: int) -> list[Transfer]:
    """The draws that make one transfer of ``nbytes`` over ``cfg`` (``up`` or ``down``)."""
    dist = cfg.uplink_dist if direction == "up" else cfg.downlink_dist
    median = cfg.uplink_mbps if direction == "up" else cfg.downlink_mbps
    draws = cfg.draws if cfg.variable else 1
    rates = [rate_quantile(dist, q) for q in draw_quantiles(draws)] if dist else [median] * draws
    rtt_s = cfg.rtt_ms / 1e3
    out = []
    for seed, mbps in enumerate(rates, start=1):
        rate = round(mbps * 1e6)
        warm = cfg.connection == "warm"
        bdp = math.ceil(rate * rtt_s / 8 / SEGMENT)
        out.append(
            Transfer(
                rate_bps=float(rate),
                delay_s=rtt_s / 2,
                loss=cfg.loss,
                segment=SEGMENT,
                cwnd=max(INITIAL_WINDOW, bdp) if warm else INITIAL_WINDOW,
                handshake=direction == "up" and not warm,
                bytes=int(nbytes),
                seed=seed if cfg.loss > 0 else 1,
            )
        )
    return out


def ns3_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ns3")
    except PackageNotFoundError:
        raise NetworkSimulationError(
            "ns-3 is not installed (pip install ns3==3.44.post0): tcp profiles need it"
        ) from None


def simulate(wanted: Iterable[Transfer], *, workers: int | None = None) -> dict[Transfer, float]:
    """Milliseconds per transfer (NaN: did not finish within the simulated-time limit), from
    the cache or simulated now. Raises :class:`NetworkSimulationError` on one line."""
    todo = list(dict.fromkeys(t for t in wanted if t.bytes > 0))
    out: dict[Transfer, float] = {t: 0.0 for t in wanted if t.bytes <= 0}
    if not todo:
        return out
    version = ns3_version()
    with _cache() as cache:
        known = cache.get([t.key(version) for t in todo])
        missing = [t for t in todo if t.key(version) not in known]
        out.update({t: known[t.key(version)] for t in todo if t.key(version) in known})
        if missing:
            for t, ms in _run_children(missing, workers):
                cache.put(t.key(version), ms)
                out[t] = ms
    return out


def _run_children(jobs: list[Transfer], workers: int | None) -> Iterable[tuple[Transfer, float]]:
    """Run ``jobs`` in up to ``workers`` children (default: the cores), reading them side by
    side and yielding results as they arrive, so that the cache keeps whatever finished
    before a failure."""
    import selectors

    count = max(1, min(workers or os.cpu_count() or 1, math.ceil(len(jobs) / 40)))
    # Interleave so each child gets a fair share of big and small transfers.
    children = [_Child(jobs[i::count]) for i in range(count)]
    sel = selectors.DefaultSelector()
    try:
        for child in children:
            assert child.proc.stdout is not None
            sel.register(child.proc.stdout, selectors.EVENT_READ, child)
        while any(not c.finished for c in children):
            now = time.monotonic()
            for child in children:
                child.check_deadline(now)
            for key, _ in sel.select(timeout=1.0):
                child = key.data
                yield from child.read()
                if child.finished:
                    sel.unregister(key.fileobj)
    finally:
        sel.close()
        for child in children:
            child.close()


class _Child:
    """One simulation child: started at once, read with a deadline, killed when closed."""

    def __init__(self, jobs: list[Transfer]) -> None:
        self.jobs = jobs
        self.done = 0
        self.buffer = b""
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115  (closed in close())
        self.started = time.monotonic()
        self.deadline = self.started + _deadline(len(jobs))
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "splitbench.network.ns3_child"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                preexec_fn=kill_on_parent_death,  # started from the main thread
                env={**os.environ, "PYTHONPATH": _pythonpath()},
            )
        except OSError as exc:
            raise NetworkSimulationError(f"cannot start the ns-3 simulation: {exc}") from None
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps([asdict(j) for j in jobs]).encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died at once: read() reports why

    @property
    def finished(self) -> bool:
        return self.done >= len(self.jobs)

    def check_deadline(self, now: float) -> None:
        if not self.finished and now > self.deadline:
            raise NetworkSimulationError(
                f"the ns-3 simulation did not finish {len(self.jobs)} transfers in "
                f"{self.deadline - self.started:.0f} s ({self.done} done)"
            )

    def read(self) -> Iterable[tuple[Transfer, float]]:
        """The results the child has written since the last read."""
        assert self.proc.stdout is not None
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            raise NetworkSimulationError(f"the ns-3 simulation failed: {self._why()}")
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            msg = json.loads(line)
            if "i" in msg:
                self.done += 1
                ms = msg["ms"]
                yield self.jobs[msg["i"]], float("nan") if ms is None else float(ms)

    def _why(self) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.stderr.seek(0)
        lines = [
            ln.strip()
            for ln in self.stderr.read().decode(errors="replace").splitlines()
            if ln.strip() and "symbol" not in ln.lower()
        ]
        code = self.proc.returncode
        tail = lines[-1] if lines else "no error message"
        missing = ("No module named 'ns", "No module named 'cppyy'", "pip install")
        if any(m in tail for m in missing):
            return "ns-3's Python bindings cannot be imported (pip install ns3==3.44.post0)"
        return f"{tail} (exit {code})"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.stderr.close()


def _deadline(jobs: int) -> float:
    """Seconds a child may run: time to load ns-3 plus a generous allowance per transfer
    (``SPLITBENCH_NS3_DEADLINE`` overrides the whole)."""
    text = os.environ.get("SPLITBENCH_NS3_DEADLINE", "")
    try:
        return float(text) if text else IMPORT_DEADLINE_S + PER_TRANSFER_DEADLINE_S * jobs
    except ValueError:
        raise NetworkSimulationError(
            f"SPLITBENCH_NS3_DEADLINE must be a number of seconds, got {text!r}"
        ) from None


def _pythonpath() -> str:
    """The child imports this very package, wherever it was imported from."""
    here = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH", "")
    return here + (os.pathsep + rest if rest else "")


def _cache() -> KeyValueStore:
    """Simulated transfer times in the user cache, shared by every sweep and report."""
    from splitbench.results.keyvalue import KeyValueStore

    return KeyValueStore(cache_dir("network") / "transfers.sqlite", "transfer")


@dataclass
class TransferTimes:
    """Per (profile, direction, bytes) the simulated draws in ms, for building tables."""

    draws: dict[tuple[str, str, int], np.ndarray]

    def of(self, cfg: NetworkConfig, direction: str, nbytes: float) -> np.ndarray:
        if nbytes != nbytes:  # NaN: size unknown
            return np.array([float("nan")])
        return self.draws[(cfg.name, direction, int(nbytes))]


def transfer_times(
    networks: Sequence[NetworkConfig], uplink_sizes: Iterable[int], downlink_sizes: Iterable[int]
) -> TransferTimes:
    """Every draw of every ``tcp`` profile for the given sizes, each distinct size simulated
    once (and never again while it is in the cache)."""
    ups = sorted(set(int(s) for s in uplink_sizes))
    downs = sorted(set(int(s) for s in downlink_sizes))
    plan: dict[tuple[str, str, int], list[Transfer]] = {}
    for cfg in networks:
        if not cfg.simulated:
            continue
        for direction, sizes in (("up", ups), ("down", downs)):
            for n in sizes:
                plan[(cfg.name, direction, n)] = transfers(cfg, direction, n)
    done = simulate(t for ts in plan.values() for t in ts)
    return TransferTimes({k: np.array([done[t] for t in ts]) for k, ts in plan.items()})
