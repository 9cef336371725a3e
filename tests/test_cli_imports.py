"""Commands import only what they use.

Each case runs one real command in a fresh interpreter (the way the console script does: call
``splitbench.cli.main`` with an argv) and then reads ``sys.modules``. ``--help`` and
``models`` must not load numpy or any ML/report library; ``inspect`` and ``split`` of a
``.tflite`` must not load pandas, matplotlib, openpyxl, TensorFlow, the sweep or the results
database. No timing is asserted here (benchmarks/ measure time); a module that sneaks into an
import path shows up as a named failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import cli_env

PROBE = """
import json, sys
sys.argv = ["splitbench", *json.loads(sys.argv[1])]
from splitbench.cli import main
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
sys.stderr.write("\\nMODULES=" + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""

# Libraries a command must not load unless it uses them (top-level package names).
REPORTING = {"pandas", "matplotlib", "openpyxl"}
ML = {"tensorflow", "tf_keras", "keras", "torch", "ai_edge_litert", "onnx", "onnxruntime"}
# pydantic: typer 0.29 and newer import it for every option (pinned below 0.29 in pyproject).
HEAVY = REPORTING | ML | {"numpy", "scipy", "adbutils", "pydantic"}
# Our own modules that only sweeps and reports need.
SWEEP_ONLY = {
    "splitbench.sweep",
    "splitbench.results",
    "splitbench.report",
    "splitbench.verify",
    "splitbench.targets",
    "splitbench_collect",
}


def loaded(args: list[str], tmp_path: Path) -> set[str]:
    """The modules a fresh interpreter holds after running ``splitbench ARGS`` (exit 0)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, f"splitbench {args}: exit {done.returncode}\n{done.stderr[-3000:]}"
    line = [x for x in done.stderr.splitlines() if x.startswith("MODULES=")][-1]
    return set(json.loads(line.removeprefix("MODULES=")))


def tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def ours(modules: set[str], names: set[str]) -> set[str]:
    return {m for m in modules if any(m == n or m.startswith(n + ".") for n in names)}


@pytest.mark.parametrize(
    "args",
    [["--help"], ["sweep", "--help"], ["split", "--help"], ["report", "--help"]],
    ids=lambda a: " ".join(a),
)
def test_help_imports_no_numpy_and_no_stage(args: list[str], tmp_path: Path) -> None:
    modules = loaded(args, tmp_path)
    assert tops(modules) & HEAVY == set()
    assert ours(modules, SWEEP_ONLY | {"splitbench.graph", "splitbench.splitter"}) == set()
    # Plain help: typer's rich help panels would load markdown-it and pygments-sized modules.
    assert tops(modules) & {"markdown_it", "pygments"} == set()
    assert "typer.rich_utils" not in modules


def test_models_imports_no_numpy(tmp_path: Path) -> None:
    modules = loaded(["models"], tmp_path)
    assert tops(modules) & HEAVY == set()
    assert ours(modules, SWEEP_ONLY | {"splitbench.graph", "splitbench.convert"}) == set()


def test_inspect_tflite_skips_reports_tensorflow_and_sweep(
    chain_tflite: Path, tmp_path: Path
) -> None:
    modules = loaded(["inspect", str(chain_tflite), "--workdir", str(tmp_path / "w")], tmp_path)
    assert "splitbench.graph" in modules  # the probe really ran the command
    assert tops(modules) & (REPORTING | ML - {"ai_edge_litert"} | {"pydantic"}) == set()
    assert ours(modules, SWEEP_ONLY) == set()


def test_split_of_builtin_posenet_loads_no_converter(tmp_path: Path) -> None:
    """The built-in model on the fast path: its cache is checked, nothing is converted and
    neither the TensorFlow converter module nor the PyTorch intake is imported."""
    from splitbench_models.posenet import build_posenet_tflite

    build_posenet_tflite()  # filled once (a user's first run converts; this is every later one)
    out = tmp_path / "parts"
    modules = loaded(["split", "posenet", "--at", "5", "--out", str(out)], tmp_path)
    assert (out / "split_005" / "head.tflite").is_file()  # the probe really ran the command
    assert ours(modules, {"splitbench.convert", "splitbench.intake"}) == set()
    assert tops(modules) & (REPORTING | ML - {"ai_edge_litert"}) == set()


def test_split_all_tflite_skips_reports_tensorflow_and_sweep(
    branchy_tflite: Path, tmp_path: Path
) -> None:
    out = tmp_path / "parts"
    modules = loaded(["split", str(branchy_tflite), "--all", "--out", str(out)], tmp_path)
    assert any(out.rglob("*.tflite"))  # the probe really ran the command
    assert tops(modules) & (REPORTING | ML - {"ai_edge_litert"} | {"pydantic"}) == set()
    assert ours(modules, SWEEP_ONLY) == set()
    # Only the command that runs is registered, and split prints plain lines: no rich, no
    # other command's module, no TensorFlow converter module.
    assert "rich" not in tops(modules)
    assert {m for m in modules if m.startswith("splitbench.cli.")} <= {
        "splitbench.cli.app",
        "splitbench.cli.split",
        "splitbench.resolve",
    }
    assert "splitbench.convert" not in modules
