"""Model Explorer with the costs on the graph: node data keyed the way Model Explorer's own
TFLite adapter numbers the nodes, written by ``splitbench report --model-explorer``, and
``splitbench explore`` serving the real Model Explorer on 127.0.0.1, opened in a real headless
Chromium through the tokened URL it prints, stopped with Ctrl-C (SIGINT). What the viewer
refuses: test_explore_guard.py."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pandas as pd
import pytest
from browser import chromium, console_errors
from cli_helpers import FAST, run_cli
from explore_helpers import explore, sweep_some
from splitbench.explorer import EXPLORER_DIR, adapter_graph, node_ids_of_splits
from splitbench.graph import load_graph

# Model Explorer's page names Google's web fonts; with no network they fail to load and the
# page falls back to local fonts. Any other console error fails the test.
FONT_HOST = "fonts.gstatic.com"


@pytest.fixture(scope="module")
def swept(chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explore") / "run"
    run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    return out


def test_node_data_is_keyed_by_model_explorers_node_ids(swept: Path) -> None:
    result = run_cli("report", swept, "--model-explorer").ok()
    assert "Model Explorer node data" in result.stdout
    run = json.loads((swept / "run.json").read_text())
    graph = load_graph(Path(run["model_path"]))
    table = pd.read_csv(swept / "splits.csv")
    graph_id, by_tensor = adapter_graph(graph.path)
    _, node_of_split = node_ids_of_splits(graph)
    # Every split has a node: the graph's input node for split 0, operator k-1's node for k.
    assert sorted(node_of_split) == list(range(graph.num_operators + 1))
    assert set(node_of_split.values()) <= set(by_tensor.values())
    folder = swept / EXPLORER_DIR
    names = sorted(p.name for p in folder.glob("*.json"))
    assert {"client_ms.json", "server_ms.json", "cut_bytes.json", "best_split.json"} <= set(names)
    e2e_files = [n for n in names if n.startswith("e2e_ms_")]
    assert len(e2e_files) == len([c for c in table.columns if c.startswith("e2e_ms_")])

    client = json.loads((folder / "client_ms.json").read_text())[graph_id]["results"]
    cut = json.loads((folder / "cut_bytes.json").read_text())[graph_id]["results"]
    for k in range(graph.num_operators + 1):
        node = node_of_split[k]
        row = table[table["split"] == k].iloc[0]
        assert client[node]["value"] == pytest.approx(float(row["client_ms"]))
        assert cut[node]["value"] == int(row["intermediate_bytes"])
    # The best cut for a network is the highlighted node of its end-to-end file.
    name = e2e_files[0].removesuffix(".json")
    e2e = json.loads((folder / e2e_files[0]).read_text())[graph_id]["results"]
    best_k = int(table.loc[table[name].astype(float).idxmin(), "split"])
    highlighted = [node for node, r in e2e.items() if "bgColor" in r]
    assert highlighted == [node_of_split[best_k]]


@pytest.fixture(scope="module")
def swept_some(chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of some splits only: the others have no times (empty, pd.NA in the table)."""
    return sweep_some(chain_tflite, tmp_path_factory.mktemp("explore-some") / "run")


def test_node_data_of_a_sweep_of_some_splits(swept_some: Path) -> None:
    """Issue 18 item 10: this crashed on float(pd.NA). Only the measured splits get values."""
    result = run_cli("report", swept_some, "--model-explorer")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    run = json.loads((swept_some / "run.json").read_text())
    graph_id, node_of_split = node_ids_of_splits(load_graph(Path(run["model_path"])))
    folder = swept_some / EXPLORER_DIR
    table = pd.read_csv(swept_some / "splits.csv").set_index("split")
    for name in ("client_ms", "server_ms"):
        results = json.loads((folder / f"{name}.json").read_text())[graph_id]["results"]
        known = table[name].dropna()
        # split 2 measured on both sides; split 1 not measured at all (no value, no node)
        assert 2 in known.index and 1 not in known.index, name
        assert set(results) == {node_of_split[k] for k in known.index}, name
        for k, value in known.items():
            assert results[node_of_split[k]]["value"] == pytest.approx(value)


@pytest.mark.slow
def test_explore_serves_model_explorer_with_the_overlay(swept: Path, tmp_path: Path) -> None:
    with explore(swept) as viewer:
        # The address is printed once, with its token, and only once the port accepts
        # connections (the helper read that line before anything else touched the server).
        assert viewer.output.count(f"127.0.0.1:{viewer.port}") == 1
        assert viewer.accepted_at_first_sight, viewer.output
        with chromium(tmp_path / "profile", width=1400, height=900) as driver:
            # The page's own requests (graph, node data) carry the token as the cookie the
            # tokened URL set.
            driver.get(viewer.url)
            deadline = time.monotonic() + 120
            text = ""
            while time.monotonic() < deadline and "best_split.json" not in text:
                time.sleep(1)
                text = driver.execute_script("return document.body.innerText")
            # The overlay: every node-data file is loaded and its values are on the nodes.
            for name in ("client_ms.json", "server_ms.json", "cut_bytes.json", "best_split.json"):
                assert name in text, text[:2000]
            assert "e2e_ms_" in text and "GraphInputs" in text
            driver.save_screenshot(str(tmp_path / "model_explorer.png"))
            assert console_errors(driver, ignore=(FONT_HOST,)) == []
    assert viewer.returncode == 0, viewer.output
    assert "stopped" in viewer.lines[-1]


def test_explore_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    result = run_cli("explore", tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not a sweep run directory" in result.stderr


def test_explore_on_a_busy_port_says_so(swept: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("explore", swept, "--port", str(port), timeout=240)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"port {port} on 127.0.0.1 is not free" in result.stderr
