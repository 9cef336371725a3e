"""Network configurations and the latency model that turns measured times and sizes into
end-to-end latency per split.

A configuration is what a user would quote for a link: uplink and downlink rates in Mbit/s
(10^6 bit/s, the unit operators and speed tests report) and a round-trip time in ms. The
model is deliberately simple and stated in one place so that every table, plot and export
uses the same arithmetic:

    e2e(k) = client(k) + RTT + intermediate(k) / uplink + server(k) + output / downlink

with one exception: at split k = N every operator runs on the phone, nothing crosses the
network, and e2e(N) = client(N). (At k = 0 the "intermediate" data is the model input, which
the phone uploads — the seeds' anchor "all on the network" includes that upload.)

The default set lives in ``default_networks.toml`` beside this module, each figure with the
public report it comes from.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from splitbench.errors import NetworkConfigError

DEFAULT_NETWORKS_FILE = "default_networks.toml"

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_REQUIRED = ("name", "uplink_mbps", "downlink_mbps", "rtt_ms")
_OPTIONAL = ("source",)


@dataclass(frozen=True)
class NetworkConfig:
    """One link between the phone and the server.

    ``name`` becomes a column suffix (``e2e_ms_<name>``), hence the restricted alphabet.
    ``source`` says where the figures come from; it is carried into the workbook's metadata so
    a reader can judge the numbers.
    """

    name: str
    uplink_mbps: float
    downlink_mbps: float
    rtt_ms: float
    source: str = ""


def transfer_ms(nbytes: float, mbps: float) -> float:
    """Milliseconds to send ``nbytes`` at ``mbps`` Mbit/s (1 Mbit = 10^6 bit), no overhead."""
    if mbps <= 0:
        raise ValueError(f"rate must be > 0 Mbit/s, got {mbps}")
    return nbytes * 8.0 / (mbps * 1e6) * 1e3


def e2e_ms(
    client_ms: float,
    server_ms: float,
    intermediate_bytes: float,
    output_bytes: float,
    cfg: NetworkConfig,
    *,
    split: int,
    num_operators: int,
) -> float:
    """End-to-end latency of one inference cut at ``split``.

    client + RTT + intermediate/uplink + server + output/downlink; at ``split == num_operators``
    (all on the phone) there is no network term and the result is ``client_ms``. NaN inputs
    (a part that could not be measured) propagate to NaN: an unknown is never a zero.
    """
    if not 0 <= split <= num_operators:
        raise ValueError(f"split {split} outside 0..{num_operators}")
    if split == num_operators:
        return float(client_ms)
    return (
        float(client_ms)
        + uplink_ms(intermediate_bytes, cfg)
        + float(server_ms)
        + downlink_ms(output_bytes, cfg)
    )


def uplink_ms(intermediate_bytes: float, cfg: NetworkConfig) -> float:
    """The uplink leg of a split inference: RTT + intermediate/uplink (the RTT is charged once,
    here, for the request/response exchange). Not charged at split N — see :func:`e2e_ms`."""
    return cfg.rtt_ms + transfer_ms(intermediate_bytes, cfg.uplink_mbps)


def downlink_ms(output_bytes: float, cfg: NetworkConfig) -> float:
    """The result's way back: output/downlink. Not charged at split N — see :func:`e2e_ms`."""
    return transfer_ms(output_bytes, cfg.downlink_mbps)


def delivery_ms(head_bytes: float, cfg: NetworkConfig) -> float:
    """Time for the server to deliver the head model to the phone: RTT + head/downlink.

    An empty head (split 0) needs no delivery at all, so it costs 0, not one RTT.
    """
    if head_bytes == 0:
        return 0.0
    return cfg.rtt_ms + transfer_ms(head_bytes, cfg.downlink_mbps)


def default_networks_path() -> Path:
    """The packaged default set (typical 4G, 5G and Wi-Fi figures with their sources)."""
    return Path(str(resources.files("splitbench").joinpath(DEFAULT_NETWORKS_FILE)))


def load_network_configs(path: Path | None) -> list[NetworkConfig]:
    """Read ``[[network]]`` tables from a TOML file (the packaged defaults when ``path`` is None).

    Every problem becomes one :class:`NetworkConfigError` line naming the file and the entry,
    because a wrong rate silently shifts every "best split" the kit reports.
    """
    path = default_networks_path() if path is None else Path(path)
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
    return _parse(doc, path)


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
    up = _number(entry["uplink_mbps"], "uplink_mbps", where)
    down = _number(entry["downlink_mbps"], "downlink_mbps", where)
    rtt = _number(entry["rtt_ms"], "rtt_ms", where)
    if up <= 0:
        raise NetworkConfigError(f"{where}: uplink_mbps must be > 0, got {up:g}")
    if down <= 0:
        raise NetworkConfigError(f"{where}: downlink_mbps must be > 0, got {down:g}")
    if rtt < 0:
        raise NetworkConfigError(f"{where}: rtt_ms must be >= 0, got {rtt:g}")
    source = entry.get("source", "")
    if not isinstance(source, str):
        raise NetworkConfigError(f"{where}: source must be a string")
    return NetworkConfig(name, up, down, rtt, source)


def _number(value: object, key: str, where: str) -> float:
    # bool is an int subclass in Python; `uplink_mbps = true` is a mistake, not 1 Mbit/s.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NetworkConfigError(f"{where}: {key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise NetworkConfigError(f"{where}: {key} must be finite, got {value!r}")
    return number
