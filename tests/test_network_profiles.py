"""Network profiles with a transport (issue 22): loss, tcp/ideal, new/warm connections and
rates as distributions, read from real TOML files; bad values refused on one line that names
the file, the profile and the key, before any measurement. No ns-3 here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from cli_helpers import FAST, assert_one_line_error, run_many
from splitbench.errors import NetworkConfigError
from splitbench.network import Quantiles, load_network_configs
from splitbench.network.config import draw_quantiles, rate_quantile

TCP = """
[[network]]
name = "lossy-4G"
uplink_mbps = {p10 = 2.1, p50 = 6.3, p90 = 17}
downlink_mbps = 21.3
rtt_ms = 120
loss = 0.01
transport = "tcp"
connection = "warm"
source = "a drive test"

[[network]]
name = "plain"
uplink_mbps = 10
downlink_mbps = 20
rtt_ms = 30
"""


def _write(tmp_path: Path, text: str, name: str = "nets.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_transport_keys_and_defaults(tmp_path: Path) -> None:
    lossy, plain = load_network_configs(_write(tmp_path, TCP), draws=7)
    assert (lossy.transport, lossy.connection, lossy.loss, lossy.draws) == ("tcp", "warm", 0.01, 7)
    assert lossy.uplink_mbps == 6.3  # the median, for the ideal arithmetic
    assert lossy.uplink_dist == Quantiles(2.1, 6.3, 17.0)
    assert lossy.downlink_dist is None and lossy.simulated and lossy.variable
    # Without the new keys a profile is what it always was: ideal, lossless, new connection.
    assert (plain.transport, plain.connection, plain.loss, plain.kind) == (
        "ideal",
        "new",
        0,
        "link",
    )
    assert not plain.simulated and not plain.variable


def test_built_in_profiles_stay_ideal() -> None:
    assert {c.transport for c in load_network_configs(None)} == {"ideal"}


def test_rate_distribution_reproduces_the_three_quantiles() -> None:
    dist = Quantiles(2.1, 6.3, 17.0)
    assert rate_quantile(dist, 0.1) == pytest.approx(2.1)
    assert rate_quantile(dist, 0.5) == pytest.approx(6.3)
    assert rate_quantile(dist, 0.9) == pytest.approx(17.0)
    rates = [rate_quantile(dist, q) for q in draw_quantiles(20)]
    assert rates == sorted(rates) and min(rates) > 0
    # Stratified draws: half below the median, half above, a tenth below p10.
    assert sum(r < 6.3 for r in rates) == 10 and sum(r < 2.1 for r in rates) == 2
    # Log-normal below the median: the log of the 25th percentile sits at z(0.25) / z(0.1) of
    # the log-distance from the median to p10.
    z = 0.6744897501960817 / 1.2815515655446004
    assert math.log(rate_quantile(dist, 0.25) / 6.3) == pytest.approx(z * math.log(2.1 / 6.3))


ENTRY = 'name = "cell"\ndownlink_mbps = 10\n'


@pytest.mark.parametrize(
    ("body", "key", "expected"),
    [
        ("uplink_mbps = 5\nrtt_ms = 40\nloss = 1.0\n", "loss", "[0, 1)"),
        ("uplink_mbps = 5\nrtt_ms = 40\nloss = -0.01\n", "loss", "got -0.01"),
        ('uplink_mbps = 5\nrtt_ms = 40\nloss = "1%"\n', "loss", "must be a number"),
        ("uplink_mbps = 5\nrtt_ms = -1\n", "rtt_ms", ">= 0"),
        ("uplink_mbps = -5\nrtt_ms = 40\n", "uplink_mbps", "> 0"),
        ('uplink_mbps = 5\nrtt_ms = 40\ntransport = "quic"\n', "transport", "'quic'"),
        ('uplink_mbps = 5\nrtt_ms = 40\nconnection = "cold"\n', "connection", "'cold'"),
        ('uplink_mbps = 5\nrtt_ms = 40\nkind = "lte"\n', "kind", "not simulated yet"),
        ('uplink_mbps = 5\nrtt_ms = 40\nkind = "satellite"\n', "kind", "'satellite'"),
        (
            "uplink_mbps = {p10 = 8, p50 = 6.3, p90 = 17}\nrtt_ms = 40\n",
            "uplink_mbps",
            "out of order",
        ),
        ("uplink_mbps = {p10 = 2, p50 = 6.3}\nrtt_ms = 40\n", "uplink_mbps", "p90"),
        (
            "uplink_mbps = {p10 = -2, p50 = 6.3, p90 = 17}\nrtt_ms = 40\n",
            "uplink_mbps.p10",
            "> 0",
        ),
        ("uplink_mbps = {p10 = 2, p50 = 6.3, p90 = 17, p99 = 40}\nrtt_ms = 40\n", "", "p99"),
    ],
)
def test_bad_values_name_file_profile_and_key(
    tmp_path: Path, body: str, key: str, expected: str
) -> None:
    path = _write(tmp_path, "[[network]]\n" + ENTRY + body)
    with pytest.raises(NetworkConfigError) as info:
        load_network_configs(path)
    message = str(info.value)
    assert message.startswith(f"{path}: network #1 ('cell'): {key}")
    assert expected in message and "\n" not in message


def test_bad_draws_refused(tmp_path: Path) -> None:
    with pytest.raises(NetworkConfigError, match="--network-draws must be >= 1"):
        load_network_configs(_write(tmp_path, TCP), draws=0)


def test_cli_refuses_bad_profiles_before_measuring(tmp_path: Path, chain_tflite: Path) -> None:
    bad_loss = _write(tmp_path, TCP.replace("loss = 0.01", "loss = 1.5"), "loss.toml")
    bad_order = _write(tmp_path, TCP.replace("p10 = 2.1", "p10 = 9"), "order.toml")
    cases = [
        (
            ["sweep", chain_tflite, "--out", tmp_path / "a", "--network", bad_loss, *FAST],
            ("loss.toml", "lossy-4G", "loss"),
        ),
        (
            ["sweep", chain_tflite, "--out", tmp_path / "b", "--network", bad_order, *FAST],
            ("order.toml", "lossy-4G", "uplink_mbps", "out of order"),
        ),
        (
            ["sweep", chain_tflite, "--out", tmp_path / "c", "--network-draws", "0", *FAST],
            ("--network-draws",),
        ),
    ]
    results = run_many([args for args, _ in cases])
    for (args, needles), result in zip(cases, results, strict=True):
        assert_one_line_error(result, *needles)
        out = Path(args[3])
        assert not out.exists() or not any(out.rglob("*.sqlite")), result.describe()
