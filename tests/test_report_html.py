"""``report.html`` opened in a real headless Chromium (Debian's, through Selenium and Debian's
chromedriver): it renders from disk with no console error and fetches nothing; switching the
network changes the chart and the best split shown; the axis switches between log and linear;
the per-split table sorts; several phones get a section each; codec columns show when present.

Two pages: one from a database of known sample values (the best split differs per network, so
switching must change it), one written by a real ``splitbench sweep`` on this host (client and
server are the same machine: the page and the CLI summary must say so).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from browser import chromium, console_errors, wait_ready
from cli_helpers import FAST, run_cli
from split_table_data import NETWORKS, OUTPUT_BYTES, SHA, N, fill, part
from splitbench.report.run_page import HTML_NAME, write_run_html
from splitbench.report.write import write_report
from splitbench.targets.base import TargetInfo

PHONE2 = TargetInfo("adb:phone2", "adb", "Cortex-A76", 8, "benchmark_model 2.16")


def _select(driver: object, element_id: str, value: str) -> None:
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", element_id)).select_by_value(value)  # type: ignore[attr-defined]


def _order(driver: object, table_id: str) -> list[str]:
    return driver.execute_script(  # type: ignore[attr-defined]
        "return Array.from(document.querySelectorAll('#' + arguments[0] + ' tbody tr'))"
        ".map(tr => tr.getAttribute('data-split'))",
        table_id,
    )


@pytest.fixture(scope="module")
def known_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A page for two phones from known samples; the first phone's table gets codec columns
    (as the compression stage adds them) to show they appear when present."""
    tmp_path = tmp_path_factory.mktemp("known")
    filled = fill(tmp_path / "results.sqlite")
    filled.db.record_measurement(SHA, 1, "head", PHONE2, part([5.0, 5.0]))
    filled.db.record_measurement(SHA, 2, "head", PHONE2, part([6.0, 6.0]))
    filled.db.record_measurement(SHA, 3, "head", PHONE2, part([40.0, 40.0]))
    clients = ["adb:phone", "adb:phone2"]
    files = {}
    for i, client in enumerate(clients):
        files[client] = write_report(
            filled.path,
            tmp_path,
            model_sha=SHA,
            client=client,
            server="host",
            networks=NETWORKS,
            output_bytes=OUTPUT_BYTES,
            num_operators=N,
            suffix=f"_{i}",
            write_files=False,
        )
    coded = files["adb:phone"].table.assign(
        cut_coded_bytes=[250, 1000, 125, 25], **{"e2e_coded_ms_slow": [56.4, 86.4, 43.4, 30.0]}
    )
    files["adb:phone"] = type(files["adb:phone"])(**{**files["adb:phone"].__dict__, "table": coded})
    # The second phone has per-operator predictions (as from benchmark_model's op profile).
    predicted = files["adb:phone2"].table.assign(
        client_ms_predicted=[0.0, 4.5, 5.5, 38.0], server_ms_predicted=[19.0, 8.5, 3.9, 0.0]
    )
    files["adb:phone2"] = type(files["adb:phone2"])(
        **{**files["adb:phone2"].__dict__, "table": predicted}
    )
    return write_run_html(
        filled.path, tmp_path, clients=clients, server="host", networks=NETWORKS, files=files
    )


def test_page_is_one_file_that_needs_no_network(known_page: Path) -> None:
    text = known_page.read_text()
    assert known_page.name == HTML_NAME
    # Every script and style is inline: nothing to fetch, no external reference.
    assert "<script src" not in text and "<link" not in text
    assert text.count("<script") == 3  # plotly.js, the data, the page's own script
    start = text.index('<script id="report-data" type="application/json">') + len(
        '<script id="report-data" type="application/json">'
    )
    data = json.loads(text[start : text.index("</script>", start)])
    assert [s["client"] for s in data["sections"]] == ["adb:phone", "adb:phone2"]
    assert data["sections"][0]["best"]["slow"]["best"] == 3
    assert data["sections"][0]["best"]["fast-lan"]["best"] == 0
    assert data["sections"][0]["statistic"] == "median"
    fast = data["sections"][0]["best"]["fast-lan"]
    assert fast["verdict"]["tied"] and fast["verdict"]["contenders"] == [0, 1]
    assert fast["runner_up_in_noise"] is True  # 23.0 ms against 21.0 ms: inside the noise
    assert data["sections"][0]["best"]["slow"]["verdict"]["tied"] is False
    assert data["same_machine"] is None  # a phone is the client
    # With the coded cut (56.4, 86.4, 43.4, 30.0 ms for slow) the best is still 3:0, 30 ms.
    assert data["sections"][0]["best"]["slow"]["coded"] == {"best": 3, "best_ms": 30.0}
    assert data["sections"][1]["best"]["slow"]["coded"] is None


def test_known_page_in_chromium(known_page: Path, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as driver:
        driver.get(known_page.as_uri())
        wait_ready(driver)
        assert console_errors(driver) == []
        # Loaded from the file alone: no resource fetched (no script, style, font or image).
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        driver.save_screenshot(str(tmp_path / "report.png"))
        assert (tmp_path / "report.png").stat().st_size > 10_000

        best = driver.find_element("id", "best-split-0")
        assert "For slow, cut at 3:0 (all on the phone): 30.0 ms" in best.text
        assert "runner-up 0:3" in best.text and "Why:" in best.text
        uplink_y = (
            "return document.getElementById('latency-0').data.find(t => t.name === 'uplink').y"
        )
        first_y = driver.execute_script(uplink_y)
        assert (
            driver.execute_script(
                "return document.getElementById('latency-0').getAttribute('data-network')"
            )
            == "slow"
        )

        assert "30.0 ms end to end" in best.text  # a summary-only head: no interval invented
        # Every split's end to end carries its 95 % interval as error bars (on the end-to-end
        # line of the default view).
        bars = driver.execute_script(
            "return document.getElementById('latency-0').data"
            ".filter(t => t.name === 'end to end').map(t => t.error_y.array)"
        )
        assert len(bars) == 1 and bars[0][1] > 0 and bars[0][0] == 0
        # Split 1's head: 4 samples in one bout, its interval is ±15 %: flagged, with what to do.
        unstable = driver.find_element("id", "unstable-0").text
        assert "split 1:2 head: unstable" in unstable and "--min-secs" in unstable

        _select(driver, "network", "fast-lan")
        # 0:3 (21.0 ms, a tail of identical samples) against 1:2 (23.0 ms from a head of four
        # samples 10-16 ms): the data cannot separate them, and the page says so.
        assert (
            "For fast-lan there is no single best split: 0:3 and 1:2 are tied for fast-lan "
            "within the measurement noise; measure longer or on a quieter machine"
        ) in best.text
        assert "Lowest estimate: cut at 0:3 (all on the server), 21.0 ms end to end" in best.text
        tied = driver.find_element("css selector", "#best-table-0 tr[data-network='fast-lan']")
        assert "tied: 0:3, 1:2" in tied.text
        assert (
            driver.execute_script(
                "return document.getElementById('latency-0').getAttribute('data-network')"
            )
            == "fast-lan"
        )
        # The uplink line is redrawn with the new network's figures.
        assert driver.execute_script(uplink_y) != first_y
        highlighted = driver.execute_script(
            "return document.querySelector('#table-0 tbody tr.best').getAttribute('data-split')"
        )
        assert highlighted == "0"

        assert (
            driver.execute_script("return document.getElementById('latency-0').layout.yaxis.type")
            == "log"
        )
        _select(driver, "yscale", "linear")
        assert (
            driver.execute_script("return document.getElementById('latency-0').layout.yaxis.type")
            == "linear"
        )

        # Sort by client time: unknown (split 2 failed) last; a second click reverses.
        header = driver.find_element("css selector", "#table-0 th[data-col='client_ms']")
        header.click()
        assert _order(driver, "table-0") == ["0", "1", "3", "2"]
        header.click()
        assert _order(driver, "table-0") == ["3", "1", "0", "2"]
        assert header.get_attribute("aria-sort") == "descending"

        # A section per phone, each with its own table; codec columns where present.
        assert _order(driver, "table-1") == ["0", "1", "2", "3"]
        assert driver.find_elements("id", "coded-0") and not driver.find_elements("id", "coded-1")
        cols = driver.execute_script(
            "return Array.from(document.querySelectorAll('#table-0 th')).map(t => t.dataset.col)"
        )
        assert "cut_coded_bytes" in cols and "e2e_coded_ms_slow" in cols
        assert "client_error" in cols
        error_cell = driver.execute_script(
            "return document.querySelector('#table-0 tr[data-split=\"2\"] td.err').textContent"
        )
        assert "Convolution2DTransposeBias" in error_cell
        # Predicted against direct: a chart where both exist, a sentence where they do not.
        assert driver.execute_script(
            "return document.getElementById('predicted-1').data.map(t => t.name)"
        ) == ["client direct", "client predicted", "server direct", "server predicted"]
        assert "No predicted times" in driver.find_element("id", "predicted-0").text
        assert driver.find_elements("id", "same-machine") == []
        assert console_errors(driver) == []


@pytest.mark.slow
def test_host_sweep_page_says_same_machine(chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    assert "same machine" in result.stdout
    page = out / HTML_NAME
    assert page.is_file()
    before = page.stat().st_mtime_ns
    again = run_cli("report", out, "--html").ok()
    assert "same machine" in again.stdout and page.stat().st_mtime_ns > before
    with chromium(tmp_path / "profile") as driver:
        driver.get(page.as_uri())
        wait_ready(driver)
        assert console_errors(driver) == []
        banner = driver.find_element("id", "same-machine").text
        assert "same machine" in banner and "--client adb:SERIAL" in banner
        # What was run: the model, the settings as asked (--runs 2, one bout), the targets.
        settings = driver.find_element("id", "settings-facts").text
        assert "runs 2" in settings and "rounds 1" in settings
        # Keys in words, sizes in MB beside the exact bytes (no raw keys, no raw floats).
        assert "warm-up (s)" in settings and "warmup_secs" not in settings
        model = driver.find_element("id", "model-facts").text
        assert "chain" in model and "file_bytes" not in model
        size = chain_tflite.stat().st_size
        assert f"file size {size / 1048576:.2f} MB ({size:,} bytes)" in model, model
        driver.save_screenshot(str(tmp_path / "host.png"))


def test_no_prediction_chart_when_only_empty_parts_are_predicted(tmp_path: Path) -> None:
    """A host run has predicted columns that are 0 for the empty parts and empty elsewhere:
    that is no prediction, and the page must not draw one."""
    from splitbench.report.plots import uplink_axis
    from splitbench.report.report_data import ClientSection, _section

    filled = fill(tmp_path / "results.sqlite")
    files = write_report(
        filled.path,
        tmp_path,
        model_sha=SHA,
        client="adb:phone",
        server="host",
        networks=NETWORKS,
        output_bytes=OUTPUT_BYTES,
        num_operators=N,
        write_files=False,
    )
    nan = float("nan")
    table = files.table.assign(
        client_ms_predicted=[0.0, nan, nan, nan], server_ms_predicted=[nan, nan, nan, 0.0]
    )
    section = _section(
        ClientSection("adb:phone", table, files.best), NETWORKS, uplink_axis(NETWORKS)
    )
    assert section["has_predicted"] is False
    table.loc[1, "client_ms_predicted"] = 12.5
    section = _section(
        ClientSection("adb:phone", table, files.best), NETWORKS, uplink_axis(NETWORKS)
    )
    assert section["has_predicted"] is True


def _traces(driver: object, div: str) -> list[dict]:
    return driver.execute_script(  # type: ignore[attr-defined]
        "return document.getElementById(arguments[0]).data.map(t => "
        "({name: t.name, type: t.type, mode: t.mode || null, legend: t.showlegend !== false}))",
        div,
    )


def test_latency_chart_defaults_to_readable_lines(known_page: Path, tmp_path: Path) -> None:
    """Every component is a line on a log axis by default; stacked bars only on a linear axis
    (choosing them switches the axis and disables log), and back."""
    with chromium(tmp_path / "profile") as driver:
        driver.get(known_page.as_uri())
        wait_ready(driver)
        layout = "return document.getElementById('latency-0').layout"
        parts = ("client", "uplink", "server", "downlink", "end to end")
        kinds = {t["name"]: (t["type"], t["mode"]) for t in _traces(driver, "latency-0")}
        assert all(kinds[p] == ("scatter", "lines+markers") for p in parts)
        assert driver.execute_script(layout + ".yaxis.type") == "log"
        assert driver.execute_script(layout + ".barmode") != "stack"

        _select(driver, "latency-view", "stacked")
        kinds = {t["name"]: t["type"] for t in _traces(driver, "latency-0")}
        assert [kinds[p] for p in parts[:4]] == ["bar"] * 4 and "end to end" not in kinds
        assert driver.execute_script(layout + ".barmode") == "stack"
        assert driver.execute_script(layout + ".yaxis.type") == "linear"
        log_option = driver.find_element("css selector", "#yscale option[value=log]")
        assert not log_option.is_enabled()

        _select(driver, "latency-view", "lines")
        assert driver.execute_script(layout + ".yaxis.type") == "log"
        assert log_option.is_enabled()
        assert console_errors(driver) == []


def test_toolbar_never_covers_a_legend(known_page: Path, tmp_path: Path) -> None:
    """plotly's toolbar (modebar) and every chart's legend do not overlap, in each view."""
    script = """
      const out = [];
      for (const gd of document.querySelectorAll('.js-plotly-plot')) {
        const bar = gd.querySelector('.modebar'), legend = gd.querySelector('g.legend');
        if (!bar || !legend) continue;
        const a = bar.getBoundingClientRect(), b = legend.getBoundingClientRect();
        const overlap = a.left < b.right && b.left < a.right
          && a.top < b.bottom && b.top < a.bottom;
        out.push([gd.id, overlap, a.width > 0 && b.width > 0]);
      }
      return out;"""
    with chromium(tmp_path / "profile") as driver:
        driver.get(known_page.as_uri())
        wait_ready(driver)
        for view in ("lines", "stacked"):
            if view != "lines":  # the default view first, then the other one
                _select(driver, "latency-view", view)
            charts = driver.execute_script(script)
            ids = {c[0] for c in charts}
            assert {"latency-0", "uplink-0", "sizes-0", "latency-1"} <= ids
            assert all(drawn for _, _, drawn in charts)
            assert [c[0] for c in charts if c[1]] == []


def test_uplink_chart_names_every_line(known_page: Path, tmp_path: Path) -> None:
    """One legend entry per network (with its best split at its own uplink) and one per line
    style; the uplink axis starts at 100 kbit/s with its unit on every tick."""
    with chromium(tmp_path / "profile") as driver:
        driver.get(known_page.as_uri())
        wait_ready(driver)
        names = [t["name"] for t in _traces(driver, "uplink-0") if t["legend"]]
        assert any(n.startswith("slow (1/2 Mbit/s, RTT 50 ms): 3:0") for n in names)
        assert any(n.startswith("fast-lan (1000/1000 Mbit/s, RTT 1 ms): 0:3") for n in names)
        assert any(n.startswith("dashed: all on server") for n in names)
        assert any(n.startswith("dotted: all on phone") for n in names)
        axis = driver.execute_script("return document.getElementById('uplink-0').layout.xaxis")
        assert axis["ticktext"][0] == "100 kbit/s" and axis["ticktext"][-1] == "10 Gbit/s"
        first = driver.execute_script("return document.getElementById('uplink-0').data[0].x[0]")
        assert first == pytest.approx(0.1)


def _hover_text(driver: object, div: str, x: float, y: float, timeout: float = 10.0) -> str:
    """Hover the chart at data coordinates (x, y) through plotly's own hover code and return
    the label shown. plotly ignores hovers closer than 50 ms apart, so it first unhovers and
    waits for the label to go, then hovers until a label shows."""
    unhover = (
        "const gd = document.getElementById(arguments[0]); Plotly.Fx.unhover(gd);"
        "const t = gd.querySelector('.hoverlayer'); return t ? t.textContent : '';"
    )
    hover = (
        "const gd = document.getElementById(arguments[0]);"
        "Plotly.Fx.hover(gd, {xval: arguments[1], yval: arguments[2]}, 'xy');"
        "const t = gd.querySelector('.hoverlayer'); return t ? t.textContent : '';"
    )
    deadline = time.monotonic() + timeout
    while driver.execute_script(unhover, div):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the hover label did not go"
        time.sleep(0.1)
    time.sleep(0.1)
    while not (text := driver.execute_script(hover, div, x, y)):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "no hover label"
        time.sleep(0.1)
    return text


def test_decision_map_hover(known_page: Path, tmp_path: Path) -> None:
    """Hovering the decision map in the real page shows the split, its end to end and its
    margin. By hand, for slow (downlink 2 Mbit/s: 0.4 ms for the 100 B output; RTT 50 ms):
    at 10 Mbit/s and the client as measured, all on the phone (30 ms) beats 0:3
    (50 + 0.8 + 20 + 0.4 = 71.2 ms) by 41.2 ms; at 10 Gbit/s and a client 30 times slower,
    0:3 (70.4 ms) beats 1:2 (30 x 13 + 50 + 9 + 0.4 = 449.4 ms) by 379 ms."""
    import math

    with chromium(tmp_path / "profile") as driver:
        driver.get(known_page.as_uri())
        wait_ready(driver)
        heat = driver.execute_script(
            "const t = document.getElementById('decision-0').data[0];"
            "return [t.type, t.hovertemplate, t.z.length, t.z[0].length]"
        )
        assert heat[0] == "heatmap" and "runner-up" in heat[1]
        assert heat[2:] == [25, 41]  # 1x-30x, 0.1 Mbit/s-10 Gbit/s
        note = driver.find_element("id", "decision-note-0").text
        assert note.startswith("What-if on measured data") and "slow" in note

        text = _hover_text(driver, "decision-0", 1.0, 0.0)
        assert "uplink 10 Mbit/s, client 1× slower" in text
        assert "best split 3:0: 30.0 ms end to end" in text
        assert "runner-up 0:3: +41.2 ms (+137 %)" in text
        text = _hover_text(driver, "decision-0", 4.0, math.log10(30))
        assert "uplink 10 Gbit/s, client 30× slower" in text
        assert "best split 0:3: 70.4 ms end to end" in text
        assert "runner-up 1:2: +379 ms (+538 %)" in text

        _select(driver, "network", "fast-lan")  # the map follows the network's RTT/downlink
        assert (
            driver.execute_script(
                "return document.getElementById('decision-0').getAttribute('data-network')"
            )
            == "fast-lan"
        )
        assert console_errors(driver) == []
