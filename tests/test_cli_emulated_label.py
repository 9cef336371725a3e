"""The emulated phone never passes for a phone: a sweep with it as the client says "emulated
phone (this host's CPU)" in the CLI summary, the report's banner, the workbook and splits.csv's
``client_kind``, and keeps the same-machine warning (its numbers are this host's CPU's)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from browser import chromium, console_errors, wait_ready
from cli_helpers import FAST, run_cli
from openpyxl import load_workbook
from splitbench.emulator.pytest_plugin import SERIAL
from splitbench.targets.base import EMULATED_PHONE

LABEL = "emulated phone (this host's CPU)"


def _payload(page: Path) -> dict:
    """The data report.html draws from (embedded JSON, read as the page's script reads it)."""
    text = page.read_text()
    tag = '<script id="report-data" type="application/json">'
    found = re.search(re.escape(tag) + r"(.*?)</script>", text, re.S)
    assert found, "report.html embeds no data"
    return json.loads(found.group(1))


def test_an_emulated_phone_run_says_so_in_every_output(
    adb_emulator: object, chain_tflite: Path, tmp_path: Path
) -> None:
    assert EMULATED_PHONE == LABEL  # the words a user reads, spelled out here on purpose
    out = tmp_path / "emu"
    port = adb_emulator.port  # type: ignore[attr-defined]
    result = run_cli(
        "sweep", chain_tflite, "--client", f"adb:{SERIAL}", "--adb-port", str(port),
        "--out", out, "--splits", "0,2,4", *FAST,
    ).ok()  # fmt: skip
    # CLI: the table's title names what the client is, and the same-machine note stays.
    assert f"client adb:{SERIAL}: {LABEL}" in result.stdout, result.describe()
    assert f"is the {LABEL}, not a phone" in result.stdout, result.describe()
    assert "(all on the phone)" not in result.stdout
    # splits.csv: every row says where its client numbers came from.
    with (out / "splits.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["split"] for r in rows] == ["0", "2", "4"]
    assert {r["client_kind"] for r in rows} == {LABEL}
    # The workbook: the metadata and the split table's note.
    wb = load_workbook(out / "splits.xlsx", read_only=True)
    meta = dict(r[:2] for r in wb["Metadata"].iter_rows(values_only=True) if r[0])
    assert meta["client.what"] == LABEL
    table = [c for r in wb["Split table"].iter_rows(values_only=True) for c in r if c]
    assert any(isinstance(c, str) and c.startswith(f"Client: {LABEL}.") for c in table)
    wb.close()
    # report.html: the banner, and the section's client rows.
    data = _payload(out / "report.html")
    assert LABEL in data["same_machine"] and "not a phone" in data["same_machine"]
    assert {r["client_kind"] for r in data["sections"][0]["rows"]} == {LABEL}
    with chromium(tmp_path / "profile") as driver:  # what a reader sees
        driver.get((out / "report.html").as_uri())  # type: ignore[attr-defined]
        wait_ready(driver)
        assert console_errors(driver) == []
        banner = driver.find_element("id", "same-machine").text  # type: ignore[attr-defined]
        assert f"is the {LABEL}, not a phone" in banner
        titles = [h.text for h in driver.find_elements("tag name", "h2")]  # type: ignore[attr-defined]
        assert any(f"Client adb:{SERIAL} — {LABEL}" in t for t in titles), titles
        # The best split's sentence names the client's all-on-one-side time by what it is.
        best = driver.find_element("id", "best-split-0").text  # type: ignore[attr-defined]
        assert f"all on the client: {LABEL}" in best and "all on the phone" not in best, best


def test_a_host_run_is_labelled_this_host(chain_tflite: Path, tmp_path: Path) -> None:
    out = tmp_path / "host"
    result = run_cli("sweep", chain_tflite, "--out", out, "--splits", "0,4", *FAST).ok()
    with (out / "splits.csv").open(newline="") as f:
        assert {r["client_kind"] for r in csv.DictReader(f)} == {"this host"}
    assert "Client and server are the same machine" in result.stdout
    assert LABEL not in result.stdout
