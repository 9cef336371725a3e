"""Network profiles: what a user quotes for a link, read from a TOML file and checked.

A profile is an uplink and a downlink rate in Mbit/s (10^6 bit/s, the unit operators and speed
tests report), a round-trip time in ms, and how data crosses it:

* ``transport = "ideal"`` (the default): the arithmetic of :mod:`splitbench.network.ideal`;
* ``transport = "tcp"``: real TCP simulated with ns-3 (:mod:`splitbench.network.tcp`) over a
  point-to-point link with the profile's ``loss`` (packet loss rate per direction) and
  ``connection = "new"`` (a fresh connection per inference: handshake and slow start) or
  ``"warm"`` (one kept open, its congestion window already open).

A rate may be a distribution given by three quantiles, ``uplink_mbps = {p10 = 2.1, p50 = 6.3,
p90 = 17}``: the ideal arithmetic uses the median, the TCP simulation draws from a two-piece
log-normal through the three figures (:func:`rate_quantile`).

The default set lives in ``default_networks.toml`` beside the package, each figure with the
public report it comes from.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from typing import Any

from splitbench.errors import NetworkConfigError

DEFAULT_NETWORKS_FILE = "default_networks.toml"
TRANSPORTS = ("ideal", "tcp")
CONNECTIONS = ("new", "warm")
KINDS = ("link",)
DEFAULT_DRAWS = 20

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_REQUIRED = ("name", "uplink_mbps", "downlink_mbps", "rtt_ms")
_OPTIONAL = ("source", "loss", "transport", "connection", "kind")
_QUANTILES = ("p10", "p50", "p90")
_Z90 = NormalDist().inv_cdf(0.9)


@dataclass(frozen=True)
class Quantiles:
    """A rate given as its 10th, 50th and 90th percentiles (Mbit/s)."""

    p10: float
    p50: float
    p90: float


@dataclass(frozen=True)
class NetworkConfig:
    """One link between the phone and the server.

    ``name`` becomes a column suffix (``e2e_ms_<name>``), hence the restricted alphabet.
    ``source`` says where the figures come from; it is carried into the workbook's metadata so
    a reader can judge the numbers. ``uplink_mbps`` / ``downlink_mbps`` are the medians when the
    file gives a distribution (``uplink_dist`` / ``downlink_dist``). ``draws`` is how many
    simulated transfers (seeds, rate quantiles) make one TCP figure (``--network-draws``).
    """

    name: str
    uplink_mbps: float
    downlink_mbps: float
    rtt_ms: float
    source: str = ""
    loss: float = 0.0
    transport: str = "ideal"
    connection: str = "new"
    kind: str = "link"
    uplink_dist: Quantiles | None = None
    downlink_dist: Quantiles | None = None
    draws: int = DEFAULT_DRAWS

    @property
    def simulated(self) -> bool:
        return self.transport == "tcp"

    @property
    def variable(self) -> bool:
        """True when one transfer is one draw of many (loss, or a rate distribution)."""
        return self.loss > 0 or self.uplink_dist is not None or self.downlink_dist is not None


def as_ideal(networks: list[NetworkConfig]) -> list[NetworkConfig]:
    """The profiles with every ``tcp`` one turned ``ideal``: what the tables hold when ns-3
    cannot run, so the report says the transport its numbers were computed with."""
    from dataclasses import replace

    return [replace(c, transport="ideal") if c.simulated else c for c in networks]


def rate_quantile(dist: Quantiles, q: float) -> float:
    """The rate at quantile ``q`` of a two-piece log-normal through p10, p50 and p90.

    Rates are positive and multiplicative (a cell's throughput halves or doubles, it does not
    lose 5 Mbit/s), and measured speed-test distributions are right-skewed, close to
    log-normal; the two pieces (one log-spread below the median, one above) reproduce all three
    quoted figures exactly instead of averaging away their asymmetry.
    """
    z = NormalDist().inv_cdf(q)
    upper = dist.p90 if z >= 0 else dist.p10
    spread = abs(math.log(upper / dist.p50)) / _Z90
    return dist.p50 * math.exp(z * spread)


def draw_quantiles(draws: int) -> list[float]:
    """Stratified quantiles for ``draws`` draws: (i + 0.5) / draws, so 20 draws cover the
    distribution evenly instead of at random."""
    return [(i + 0.5) / draws for i in range(draws)]


def default_networks_path() -> Path:
    """The packaged default set (typical 4G, 5G and Wi-Fi figures with their sources)."""
    return Path(str(resources.files("splitbench").joinpath(DEFAULT_NETWORKS_FILE)))


def load_network_configs(path: Path | None, *, draws: int | None = None) -> list[NetworkConfig]:
    """Read ``[[network]]`` tables from a TOML file (the packaged defaults when ``path`` is None).

    Every problem becomes one :class:`NetworkConfigError` line naming the file, the entry and
    the key, because a wrong rate silently shifts every "best split" the kit reports.
    ``draws`` sets :attr:`NetworkConfig.draws` (``--network-draws``).
    """
    path = default_networks_path() if path is None else Path(path)
    if draws is not None and draws < 1:
        raise NetworkConfigError(f"--network-draws must be >= 1, got {draws}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NetworkConfigError(f"{path}: network file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise NetworkConfigError(f"{path}: cannot read network file: {reason}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NetworkConfigError(f"{path}: not valid TOML: {exc}") from None
    configs = _parse(doc, path)
    if draws is not None:
        from dataclasses import replace

        configs = [replace(c, draws=draws) for c in configs]
    return configs


def _parse(doc: dict[str, Any], path: Path) -> list[NetworkConfig]:
    extra = sorted(set(doc) - {"network"})
    if extra:
        raise NetworkConfigError(
            f"{path}: unknown top-level key '{extra[0]}' (expected [[network]] tables)"
        )
    entries = doc.get("network")
    if not isinstance(entries, list) or not entries:
        raise NetworkConfigError(f"{path}: no [[network]] tables found")
    configs: list[NetworkConfig] = []
    seen: dict[str, str] = {}
    for number, entry in enumerate(entries, start=1):
        cfg = _parse_entry(entry, path, number)
        key = cfg.name.lower()
        if key in seen:
            raise NetworkConfigError(
                f"{path}: network #{number}: duplicate name '{cfg.name}' "
                f"(already used by '{seen[key]}'; names are compared ignoring case)"
            )
        seen[key] = cfg.name
        configs.append(cfg)
    return configs


def _parse_entry(entry: object, path: Path, number: int) -> NetworkConfig:
    where = f"{path}: network #{number}"
    if not isinstance(entry, dict):
        raise NetworkConfigError(f"{where}: must be a table")
    name = entry.get("name")
    if isinstance(name, str):
        where = f"{where} ('{name}')"
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise NetworkConfigError(
            f"{where}: unknown key '{unknown[0]}' (allowed: {', '.join(_REQUIRED + _OPTIONAL)})"
        )
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise NetworkConfigError(f"{where}: missing key '{missing[0]}'")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise NetworkConfigError(
            f"{where}: name must be letters, digits, '-' or '_' (it becomes a column suffix), "
            f"got {name!r}"
        )
    up, up_dist = _rate(entry["uplink_mbps"], "uplink_mbps", where)
    down, down_dist = _rate(entry["downlink_mbps"], "downlink_mbps", where)
    rtt = _number(entry["rtt_ms"], "rtt_ms", where)
    if rtt < 0:
        raise NetworkConfigError(f"{where}: rtt_ms must be >= 0, got {rtt:g}")
    loss = _number(entry.get("loss", 0.0), "loss", where)
    if not 0 <= loss < 1:
        raise NetworkConfigError(
            f"{where}: loss must be in [0, 1) (a rate: 0.01 is 1 %), got {loss:g}"
        )
    transport = _choice(entry, "transport", TRANSPORTS, where)
    connection = _choice(entry, "connection", CONNECTIONS, where)
    kind = _choice(entry, "kind", KINDS, where)
    source = entry.get("source", "")
    if not isinstance(source, str):
        raise NetworkConfigError(f"{where}: source must be a string")
    return NetworkConfig(
        name,
        up,
        down,
        rtt,
        source,
        loss=loss,
        transport=transport,
        connection=connection,
        kind=kind,
        uplink_dist=up_dist,
        downlink_dist=down_dist,
    )


def _choice(entry: dict[str, Any], key: str, allowed: tuple[str, ...], where: str) -> str:
    value = entry.get(key, allowed[0])
    if value not in allowed:
        hint = " (an LTE cell is not simulated yet: see docs/network.md)" if value == "lte" else ""
        raise NetworkConfigError(
            f"{where}: {key} must be one of {', '.join(allowed)}, got {value!r}{hint}"
        )
    return str(value)


def _rate(value: object, key: str, where: str) -> tuple[float, Quantiles | None]:
    """A rate in Mbit/s: a number, or ``{p10, p50, p90}`` (the median is the rate)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(_QUANTILES))
        missing = [q for q in _QUANTILES if q not in value]
        if unknown or missing:
            raise NetworkConfigError(
                f"{where}: {key} as a distribution needs exactly p10, p50 and p90, "
                f"got {', '.join(sorted(value)) or 'nothing'}"
            )
        p10, p50, p90 = (_number(value[q], f"{key}.{q}", where) for q in _QUANTILES)
        if p10 <= 0:
            raise NetworkConfigError(f"{where}: {key}.p10 must be > 0, got {p10:g}")
        if not p10 <= p50 <= p90:
            raise NetworkConfigError(
                f"{where}: {key} quantiles out of order: p10 {p10:g}, p50 {p50:g}, p90 {p90:g} "
                "(need p10 <= p50 <= p90)"
            )
        return p50, Quantiles(p10, p50, p90)
    rate = _number(value, key, where)
    if rate <= 0:
        raise NetworkConfigError(f"{where}: {key} must be > 0, got {rate:g}")
    return rate, None


def _number(value: object, key: str, where: str) -> float:
    # bool is an int subclass in Python; `uplink_mbps = true` is a mistake, not 1 Mbit/s.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NetworkConfigError(f"{where}: {key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise NetworkConfigError(f"{where}: {key} must be finite, got {value!r}")
    return number
