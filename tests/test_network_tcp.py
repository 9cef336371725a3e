"""TCP transfers simulated with ns-3 (issue 22), checked against physics and textbook figures,
never against the simulator itself; then the split table, files and report built from them,
and what happens when ns-3 cannot run.

ns-3's import costs seconds, so every transfer these tests need is simulated in one batch (one
child process) by the module fixture, into a cache of this module's own; the tests read the
results, and the split table finds its transfers in that cache.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_line_error, run_cli
from split_table_data import CLIENT, OUTPUT_BYTES, SERVER, SHA, SPLITS, N, fill, part
from splitbench.network import NetworkConfig, e2e_ms, load_network_configs
from splitbench.network.tcp import Transfer, simulate, transfers

# The textbook cases.
BULK = NetworkConfig("bulk", 10.0, 10.0, 40.0, transport="tcp")  # 2 MB: bytes / rate dominates
BULK_WARM = NetworkConfig("bulk-warm", 10.0, 10.0, 40.0, transport="tcp", connection="warm")
LONG_FAT = NetworkConfig("lfn", 100.0, 100.0, 100.0, transport="tcp")  # 100 KB: slow start
LONG_FAT_WARM = NetworkConfig("lfn-warm", 100.0, 100.0, 100.0, transport="tcp", connection="warm")
MATHIS = NetworkConfig("mathis", 100.0, 100.0, 120.0, transport="tcp", loss=0.01, draws=5)
BIG, SMALL, LONG = 2_000_000, 102_400, 3_000_000

# The split table's profiles: a lossy TCP one (5 draws) beside an ideal one.
LOSSY = NetworkConfig("lossy", 5.0, 20.0, 60.0, "drive test", loss=0.01, transport="tcp", draws=5)
IDEAL = NetworkConfig("ideal", 5.0, 20.0, 60.0)


def _batch() -> list[Transfer]:
    wanted = [
        *transfers(BULK, "up", BIG),
        *transfers(BULK_WARM, "up", BIG),
        *transfers(LONG_FAT, "up", SMALL),
        *transfers(LONG_FAT_WARM, "up", SMALL),
        *transfers(MATHIS, "up", LONG),
    ]
    for k, (_, inter, _, _) in SPLITS.items():
        if k < N:
            wanted += transfers(LOSSY, "up", inter)
    return wanted + transfers(LOSSY, "down", OUTPUT_BYTES)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("ns3_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPLITBENCH_CACHE", str(root))
        yield root


@pytest.fixture(scope="module")
def sims(cache: Path) -> dict[Transfer, float]:
    started = time.monotonic()
    done = simulate(_batch(), workers=1)
    assert time.monotonic() - started < 120
    return done


def _one(sims: dict[Transfer, float], cfg: NetworkConfig, nbytes: int) -> float:
    (only,) = transfers(cfg, "up", nbytes)
    return sims[only]


def test_large_lossless_transfer_is_bytes_over_rate_plus_a_few_rtts(sims) -> None:  # type: ignore[no-untyped-def]
    ms = _one(sims, BULK, BIG)
    wire = BIG * 8 / 10e6 * 1e3  # 1,600 ms at 10 Mbit/s
    assert ms >= wire + 40.0 / 2  # physics: every bit serialised, the last one still travels
    assert ms == pytest.approx(wire + 3 * 40.0, rel=0.15)


def test_new_connection_pays_handshake_and_slow_start(sims) -> None:  # type: ignore[no-untyped-def]
    # 100 KB on 100 Mbit/s is 8 ms of wire time; a fresh connection needs a round trip for the
    # handshake and three more of slow start (10, 20, 40 segments of 1,448 bytes).
    ms = _one(sims, LONG_FAT, SMALL)
    assert ms >= 3 * 100.0
    assert ms <= 6 * 100.0


def test_warm_connection_is_faster_and_bounded_by_physics(sims) -> None:  # type: ignore[no-untyped-def]
    for new, warm, nbytes, rate, rtt in (
        (LONG_FAT, LONG_FAT_WARM, SMALL, 100e6, 100.0),
        (BULK, BULK_WARM, BIG, 10e6, 40.0),
    ):
        cold, hot = _one(sims, new, nbytes), _one(sims, warm, nbytes)
        assert hot < cold
        floor = nbytes * 8 / rate * 1e3 + rtt / 2
        assert hot >= floor
    # An open window on a short transfer: one way plus the wire time, nothing more.
    floor = SMALL * 8 / 100e6 * 1e3 + 50.0
    assert _one(sims, LONG_FAT_WARM, SMALL) == pytest.approx(floor, rel=0.15)


def test_lossy_long_transfer_throughput_matches_mathis(sims) -> None:  # type: ignore[no-untyped-def]
    mss, rtt, p = 1448 * 8, 0.120, 0.01
    mathis_bps = mss / rtt * 1.22 / math.sqrt(p)  # about 1.18 Mbit/s, far below the 100 of the link
    draws = [sims[t] for t in transfers(MATHIS, "up", LONG)]
    assert len(set(draws)) == len(draws) == 5  # five seeds, five different loss patterns
    throughput = LONG * 8 / (np.median(draws) / 1e3)
    assert mathis_bps / 2 <= throughput <= 2 * mathis_bps
    for ms in draws:
        assert ms >= LONG * 8 / 100e6 * 1e3 + 60.0


def test_a_rerun_is_answered_by_the_cache(sims, cache: Path) -> None:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    again = simulate(_batch())
    assert time.monotonic() - started < 1.0
    assert again == sims
    assert (cache / "network" / "transfers.sqlite").is_file()


@pytest.fixture(scope="module")
def tcp_run(sims, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The known three-operator run with the lossy tcp profile beside an ideal one: its files
    and report.html (transfers from the module's cache)."""
    from splitbench.report.run_page import write_run_html
    from splitbench.report.write import write_report

    tmp_path = tmp_path_factory.mktemp("tcp_run")
    filled = fill(tmp_path / "results.sqlite")
    files = write_report(
        filled.path,
        tmp_path,
        model_sha=SHA,
        client="adb:phone",
        server="host",
        networks=[LOSSY, IDEAL],
        output_bytes=OUTPUT_BYTES,
        num_operators=N,
    )
    page = write_run_html(
        filled.path,
        tmp_path,
        clients=["adb:phone"],
        server="host",
        networks=[LOSSY, IDEAL],
        files={"adb:phone": files},
    )
    return files, page


def test_a_draw_depends_on_its_seed_only(sims, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same transfers in another order, in a fresh child: the same results (ns-3 hands
    out random streams per process, so an unpinned stream would depend on what ran before)."""
    lossy = [t for t in _batch() if t.loss > 0 and t.bytes < 10_000][::-1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPLITBENCH_CACHE", str(tmp_path))
        again = simulate(lossy, workers=1)
    assert again == {t: sims[t] for t in lossy}
    assert len(set(again.values())) > 1  # the seeds do draw different loss patterns


def test_split_table_with_a_tcp_profile(sims, tcp_run) -> None:  # type: ignore[no-untyped-def]
    files, page = tcp_run
    tmp_path = files.csv.parent
    assert not files.network_error
    df = pd.read_csv(files.csv)
    for col in ("uplink_ms_lossy", "downlink_ms_lossy", "e2e_p90_ms_lossy", "e2e_ideal_ms_lossy"):
        assert col in df.columns
    assert "uplink_ms_ideal" not in df.columns and "e2e_ideal_ms_ideal" not in df.columns
    down = np.median([sims[t] for t in transfers(LOSSY, "down", OUTPUT_BYTES)])
    for k in range(N):
        row = df.loc[k]
        ups = [sims[t] for t in transfers(LOSSY, "up", int(row.intermediate_bytes))]
        assert row.uplink_ms_lossy == pytest.approx(np.median(ups))
        assert row.downlink_ms_lossy == pytest.approx(down)
        ideal = e2e_ms(
            row.client_ms,
            row.server_ms,
            row.intermediate_bytes,
            OUTPUT_BYTES,
            IDEAL,
            split=k,
            num_operators=N,
        )
        assert row.e2e_ms_ideal == pytest.approx(ideal, nan_ok=True)
        assert row.e2e_ideal_ms_lossy == pytest.approx(ideal, nan_ok=True)
        if not math.isnan(row.client_ms):
            total = row.client_ms + row.uplink_ms_lossy + row.server_ms + row.downlink_ms_lossy
            assert row.e2e_ms_lossy == pytest.approx(total)
            assert row.e2e_p90_ms_lossy >= row.e2e_ms_lossy
            # TCP pays a handshake the arithmetic does not: it is slower, never faster.
            assert row.e2e_ms_lossy > row.e2e_ideal_ms_lossy
    last = df.loc[N]  # all on the phone: no network
    assert last.e2e_ms_lossy == last.e2e_p90_ms_lossy == last.client_ms
    assert last.uplink_ms_lossy == last.downlink_ms_lossy == 0
    assert files.xlsx.is_file() and (tmp_path / "latency_stacked_lossy.png").is_file()

    payload = _payload(page)
    nets = {n["name"]: n for n in payload["networks"]}
    assert nets["lossy"]["transport"] == "tcp" and nets["lossy"]["loss"] == 0.01
    assert nets["lossy"]["source"] == "drive test" and nets["ideal"]["transport"] == "ideal"
    best = payload["sections"][0]["best"]
    assert best["ideal"]["ideal"] is None
    compared = best["lossy"]["ideal"]
    assert compared["best"] == best["ideal"]["best"]  # same arithmetic, same best split
    assert compared["tcp_minus_ideal_ms"] == pytest.approx(
        best["lossy"]["best_ms"] - compared["at_tcp_best_ms"]
    )


def test_report_page_shows_transport_and_tcp_against_arithmetic(tcp_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from browser import chromium, console_errors

    _, page = tcp_run
    with chromium(tmp_path / "profile") as driver:
        driver.get(page.as_uri())
        deadline = time.monotonic() + 60
        while not driver.execute_script("return document.body.getAttribute('data-ready')"):
            assert time.monotonic() < deadline, "report.html did not finish drawing"
            time.sleep(0.2)
        assert console_errors(driver) == []
        rows = driver.find_elements("css selector", "#network-facts tr")
        texts = [r.text for r in rows]
        lossy = next(t for t in texts if t.startswith("lossy"))
        assert "1 %" in lossy and "TCP (ns-3), new connection, 5 draws" in lossy
        assert "drive test" in lossy
        assert "ideal (arithmetic)" in next(t for t in texts if t.startswith("ideal"))
        from selenium.webdriver.support.ui import Select

        Select(driver.find_element("id", "network")).select_by_value("lossy")
        best = driver.find_element("id", "best-split-0").text
        assert "than the ideal arithmetic at this cut" in best
        assert "90th percentile" in best and "the arithmetic picks the same split" in best


def test_ns3_that_cannot_finish_leaves_the_ideal_results(tmp_path: Path) -> None:
    """A child past its deadline is ns-3 failing: one line, non-zero, and the files are written
    with the ideal arithmetic for every profile."""
    from splitbench.results.store import DB_NAME
    from splitbench.run_record import RunRecord

    run = tmp_path / "run"
    run.mkdir()
    filled = fill(run / DB_NAME)
    filled.db.record_measurement(SHA, 2, "head", CLIENT, part([11.0, 11.0]))  # no holes
    filled.db.record_measurement(SHA, None, "whole", CLIENT, part([30.0, 30.0]))
    filled.db.record_measurement(SHA, None, "whole", SERVER, part([20.0, 20.0]))
    RunRecord("three-op", SHA, "three.tflite", ["adb:phone"], "host", OUTPUT_BYTES, N).save(run)
    nets = tmp_path / "nets.toml"
    nets.write_text(
        '[[network]]\nname = "lossy"\nuplink_mbps = 5\ndownlink_mbps = 20\nrtt_ms = 60\n'
        'loss = 0.01\ntransport = "tcp"\n'
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPLITBENCH_CACHE", str(tmp_path / "empty_cache"))
        mp.setenv("SPLITBENCH_NS3_DEADLINE", "0.05")
        result = run_cli("report", run, "--network", nets)
    assert_one_line_error(result, "ns-3", "did not finish", "ideal arithmetic")
    df = pd.read_csv(run / "splits.csv")
    assert "uplink_ms_lossy" not in df.columns
    (cfg,) = load_network_configs(nets)
    for _, row in df.iterrows():
        want = e2e_ms(
            row.client_ms,
            row.server_ms,
            row.intermediate_bytes,
            OUTPUT_BYTES,
            cfg,
            split=int(row.split),
            num_operators=N,
        )
        assert row.e2e_ms_lossy == pytest.approx(want)
    (net,) = _payload(run / "report.html")["networks"]
    assert net["transport"] == "ideal"  # the page says which transport its numbers used


def _payload(page: Path) -> dict:  # type: ignore[type-arg]
    text = page.read_text(encoding="utf-8")
    tag = '<script id="report-data" type="application/json">'
    start = text.index(tag) + len(tag)
    return json.loads(text[start : text.index("</script>", start)].replace("<\\/", "</"))
