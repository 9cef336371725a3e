"""The run's model in Google's Model Explorer with the measured costs on its nodes.

Two jobs: (1) find the Model Explorer node ids of the graph, with Model Explorer's own TFLite
adapter (``ai_edge_model_explorer_adapter``, the code that draws the graph), so node data is
keyed the way the viewer will look it up; (2) serve Model Explorer on 127.0.0.1 with the run's
model and node-data files loaded (``splitbench explore DIR``), behind a guard that serves those
files and nothing else of the host (:mod:`splitbench.explorer_guard`).

Keying by the adapter's ids rather than guessing them means a change in how Model Explorer
numbers nodes shows up as a clear error here, not as an overlay that silently colours nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from splitbench.errors import SplitbenchError
from splitbench.graph import ModelGraph
from splitbench.network import NetworkConfig

EXPLORER_DIR = "model_explorer"


def adapter_graph(model_path: Path) -> tuple[str, dict[str, str]]:
    """Model Explorer's graph id for subgraph 0 and, per output tensor name, its node id."""
    import ai_edge_model_explorer_adapter as adapter

    try:
        text = adapter.ConvertFlatbufferDirectlyToJson(adapter.VisualizeConfig(), str(model_path))
    except Exception as exc:  # the adapter raises plain RuntimeErrors on unreadable files
        raise SplitbenchError(f"{model_path}: Model Explorer cannot read it: {exc}") from None
    collections = json.loads(text)
    graphs = collections[0]["subgraphs"] if collections else []
    graph = next((g for g in graphs if g.get("subgraphIndex", 0) == 0), None)
    if graph is None:
        raise SplitbenchError(f"{model_path}: Model Explorer found no graph in it")
    by_tensor: dict[str, str] = {}
    for node in graph["nodes"]:
        for out in node.get("outputsMetadata", []):
            for attr in out.get("attrs", []):
                if attr.get("key") == "tensor_name":
                    by_tensor.setdefault(attr["value"], node["id"])
    return graph["id"], by_tensor


def node_ids_of_splits(graph: ModelGraph) -> tuple[str, dict[int, str]]:
    """Graph id, and split k → the node id after which split k cuts (the input node for 0)."""
    from splitbench.formats import get_format
    from splitbench.report.node_data import cut_keys

    if not get_format(graph.format).shown_in_model_explorer:
        raise SplitbenchError(
            f"the Model Explorer overlay needs a TFLite model; this run's model is "
            f"{graph.format} ({graph.path.name})"
        )
    graph_id, by_tensor = adapter_graph(graph.path)
    keys = cut_keys(graph)
    missing = [k for k, name in keys.items() if name not in by_tensor]
    if missing:
        raise SplitbenchError(
            f"{graph.path.name}: Model Explorer shows no node for split(s) "
            f"{', '.join(map(str, missing[:5]))} (tensor {keys[missing[0]]!r})"
        )
    return graph_id, {k: by_tensor[name] for k, name in keys.items()}


def explorer_dir(run_dir: Path, client: str, clients: Sequence[str]) -> Path:
    base = run_dir / EXPLORER_DIR
    return base if len(clients) == 1 else base / client.replace(":", "_")


def write_explorer_data(
    run_dir: Path,
    graph: ModelGraph,
    networks: Sequence[NetworkConfig],
    tables: Mapping[str, pd.DataFrame],
) -> dict[str, list[Path]]:
    """Node-data files for every client's table, under ``run_dir/model_explorer/``."""
    from splitbench.report.node_data import write_node_data

    graph_id, nodes = node_ids_of_splits(graph)
    clients = list(tables)
    return {
        client: write_node_data(
            table, networks, nodes, graph_id, explorer_dir(run_dir, client, clients)
        )
        for client, table in tables.items()
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise SplitbenchError(f"port {port} on 127.0.0.1 is not free: {exc.strerror}") from None


def _echo_when_listening(port: int, echo: Callable[[], None], deadline_s: float = 120.0) -> None:
    """Call ``echo`` once, as soon as 127.0.0.1:``port`` accepts connections (the server starts
    in this thread afterwards), so the printed address is never one that refuses. Gives up
    silently at the deadline: the server's own failure is then the message."""

    def wait() -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            except OSError:
                time.sleep(0.05)
                continue
            echo()
            return

    threading.Thread(target=wait, name="explore-address", daemon=True).start()


def serve(model_path: Path, node_data: Sequence[Path], *, port: int, echo) -> None:  # type: ignore[no-untyped-def]
    """Run Model Explorer on 127.0.0.1:``port`` with the model and node data loaded, behind
    :class:`~splitbench.explorer_guard.ViewerGuard` (Host check, secret token, only this run's
    files), in the foreground until Ctrl-C. ``echo`` prints the URL with the token, once."""
    import model_explorer
    from model_explorer import server

    from splitbench.explorer_guard import ViewerGuard, new_token

    _check_port(port)
    model = model_path.resolve()
    files = [p.resolve() for p in node_data]
    token = new_token()
    ViewerGuard(port=port, token=token, model=model, node_data=files).install()
    config = model_explorer.config()
    config.add_model_from_path(str(model))
    for path in files:
        config.add_node_data_from_path(str(path))
    url = f"http://127.0.0.1:{port}/?token={token}&data={config.to_url_param_value()}"
    _echo_when_listening(port, lambda: echo(url))
    # Model Explorer's own messages include the address without the token (which would only
    # get 403): not shown. Its health check asks "/" without the token: skipped.
    with contextlib.redirect_stdout(io.StringIO()):
        server.start(
            host="127.0.0.1",
            port=port,
            config=config,
            no_open_in_browser=True,
            skip_health_check=True,
        )
