"""Network configurations from TOML files; latency arithmetic against hand-computed values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from splitbench.errors import NetworkConfigError
from splitbench.network import (
    NetworkConfig,
    default_networks_path,
    delivery_ms,
    downlink_ms,
    e2e_ms,
    load_network_configs,
    transfer_ms,
    uplink_ms,
)

GOOD = """
[[network]]
name = "slow_link"
uplink_mbps = 2
downlink_mbps = 10.5
rtt_ms = 0
source = "lab shaper"

[[network]]
name = "fast-5G"
uplink_mbps = 100.0
downlink_mbps = 400.0
rtt_ms = 12.5
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_set_is_documented_and_valid() -> None:
    configs = load_network_configs(None)
    names = [c.name for c in configs]
    assert names == ["4G", "mobile-median", "5G-median", "5G-IMT2020", "WiFi-broadband"]
    for cfg in configs:
        assert cfg.uplink_mbps > 0 and cfg.downlink_mbps > 0 and cfg.rtt_ms >= 0
        assert cfg.source, f"{cfg.name} has no source"
    text = default_networks_path().read_text(encoding="utf-8")
    for report in ("Opensignal", "Ookla", "ITU-R M.2410"):
        assert report in text
    # The figures as published, so an accidental edit shows up here.
    by_name = {c.name: c for c in configs}
    assert (by_name["5G-median"].uplink_mbps, by_name["5G-median"].downlink_mbps) == (
        18.93,
        203.04,
    )
    assert by_name["WiFi-broadband"].rtt_ms == 9.0


def test_loads_user_file(tmp_path: Path) -> None:
    configs = load_network_configs(_write(tmp_path, GOOD))
    assert configs == [
        NetworkConfig("slow_link", 2.0, 10.5, 0.0, "lab shaper"),
        NetworkConfig("fast-5G", 100.0, 400.0, 12.5, ""),
    ]
    assert isinstance(configs[0].uplink_mbps, float)


ENTRY = 'name = "n"\nuplink_mbps = 1\ndownlink_mbps = 1\nrtt_ms = 1\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[network]\nname=1", "not valid TOML"),
        ("", "no [[network]] tables"),
        ("title = 'x'\n[[network]]\n" + ENTRY, "unknown top-level key 'title'"),
        ("[[networks]]\n" + ENTRY, "unknown top-level key 'networks'"),
        ("network = [1, 2]", "network #1: must be a table"),
        ("[[network]]\n" + ENTRY + "uplink_mpbs = 3\n", "unknown key 'uplink_mpbs'"),
        ('[[network]]\nname = "n"\nuplink_mbps = 1\ndownlink_mbps = 1\n', "missing key 'rtt_ms'"),
        (
            '[[network]]\nname = "5G median"\nuplink_mbps = 1\ndownlink_mbps = 1\nrtt_ms = 1\n',
            "name must be letters, digits",
        ),
        (
            "[[network]]\nname = 5\nuplink_mbps = 1\ndownlink_mbps = 1\nrtt_ms = 1\n",
            "name must be letters, digits",
        ),
        (
            "[[network]]\n" + ENTRY + '[[network]]\nname = "N"\nuplink_mbps = 2\n'
            "downlink_mbps = 2\nrtt_ms = 2\n",
            "duplicate name 'N'",
        ),
        (
            '[[network]]\nname = "n"\nuplink_mbps = 0\ndownlink_mbps = 1\nrtt_ms = 1\n',
            "uplink_mbps must be > 0, got 0",
        ),
        (
            '[[network]]\nname = "n"\nuplink_mbps = 1\ndownlink_mbps = -3\nrtt_ms = 1\n',
            "downlink_mbps must be > 0, got -3",
        ),
        (
            '[[network]]\nname = "n"\nuplink_mbps = 1\ndownlink_mbps = 1\nrtt_ms = -0.5\n',
            "rtt_ms must be >= 0, got -0.5",
        ),
        (
            '[[network]]\nname = "n"\nuplink_mbps = true\ndownlink_mbps = 1\nrtt_ms = 1\n',
            "uplink_mbps must be a number, got True",
        ),
        (
            '[[network]]\nname = "n"\nuplink_mbps = "10"\ndownlink_mbps = 1\nrtt_ms = 1\n',
            "uplink_mbps must be a number, got '10'",
        ),
        (
            '[[network]]\nname = "n"\nuplink_mbps = 1\ndownlink_mbps = inf\nrtt_ms = 1\n',
            "downlink_mbps must be finite",
        ),
        (
            '[[network]]\nname = "n"\nuplink_mbps = 1\ndownlink_mbps = 1\nrtt_ms = nan\n',
            "rtt_ms must be finite",
        ),
        ("[[network]]\n" + ENTRY + "source = 3\n", "source must be a string"),
    ],
)
def test_every_validation_error_is_one_line_naming_file_and_problem(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(NetworkConfigError) as info:
        load_network_configs(path)
    message = str(info.value)
    assert message.startswith(str(path) + ":")
    assert expected in message
    assert "\n" not in message


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(NetworkConfigError, match="network file not found"):
        load_network_configs(tmp_path / "absent.toml")
    with pytest.raises(NetworkConfigError, match="cannot read network file"):
        load_network_configs(tmp_path)  # a directory
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(NetworkConfigError, match="cannot read network file"):
        load_network_configs(binary)


CFG = NetworkConfig("t", uplink_mbps=20.0, downlink_mbps=100.0, rtt_ms=30.0)


def test_transfer_time_uses_megabits_of_a_million_bits() -> None:
    assert transfer_ms(1_000_000, 8.0) == pytest.approx(1000.0)
    assert transfer_ms(125, 1.0) == pytest.approx(1.0)
    assert transfer_ms(0, 5.0) == 0.0
    with pytest.raises(ValueError):
        transfer_ms(10, 0.0)


def test_e2e_against_hand_computed_values() -> None:
    # 250 000 B at 20 Mbit/s = 2 000 000 bit / 20e6 bit/s = 100 ms;
    # 12 500 B at 100 Mbit/s = 100 000 bit / 100e6 bit/s = 1 ms.
    assert uplink_ms(250_000, CFG) == pytest.approx(130.0)  # RTT 30 + 100
    assert downlink_ms(12_500, CFG) == pytest.approx(1.0)
    got = e2e_ms(10.0, 5.0, 250_000, 12_500, CFG, split=2, num_operators=5)
    assert got == pytest.approx(10 + 30 + 100 + 5 + 1)  # 146 ms
    # Split 0: nothing on the phone, the input is the intermediate data.
    assert e2e_ms(0.0, 5.0, 250_000, 12_500, CFG, split=0, num_operators=5) == pytest.approx(136)
    # Split N: all on the phone, no network term at all (not even the RTT).
    assert e2e_ms(10.0, 0.0, 250_000, 12_500, CFG, split=5, num_operators=5) == 10.0


def test_e2e_unknown_part_stays_unknown() -> None:
    nan = float("nan")
    assert math.isnan(e2e_ms(nan, 5.0, 1000, 10, CFG, split=1, num_operators=3))
    assert math.isnan(e2e_ms(1.0, nan, 1000, 10, CFG, split=1, num_operators=3))
    assert math.isnan(e2e_ms(nan, 0.0, 1000, 10, CFG, split=3, num_operators=3))
    with pytest.raises(ValueError, match=r"outside 0\.\.3"):
        e2e_ms(1.0, 1.0, 1, 1, CFG, split=4, num_operators=3)


def test_delivery_time_of_head_model() -> None:
    # 1 000 000 B at 100 Mbit/s = 80 ms, plus one RTT of 30 ms.
    assert delivery_ms(1_000_000, CFG) == pytest.approx(110.0)
    assert delivery_ms(0, CFG) == 0.0  # split 0: no head to deliver
