"""The layout rules of the architecture page, checked on the source tree itself.

Each rule names one place for one concept; a second copy is a design bug that a later change
would fix in one place and not the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "host" / "splitbench", ROOT / "collect" / "splitbench_collect"]
PACKAGES += [ROOT / "android_app" / "splitbench_device", ROOT / "tflite_models"]


def _modules() -> list[tuple[Path, ast.Module]]:
    found = []
    for package in PACKAGES:
        for path in sorted(package.rglob("*.py")):
            found.append((path, ast.parse(path.read_text(), str(path))))
    return found


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_results_package_opens_the_database() -> None:
    results = ROOT / "host" / "splitbench" / "results"
    offenders = [
        str(path.relative_to(ROOT))
        for path, tree in _modules()
        if "sqlite3" in _imports(tree) and results not in path.parents
    ]
    assert offenders == [], f"sqlite3 used outside splitbench/results/: {offenders}"


def test_one_timing_loop() -> None:
    """Only measure/loop.py times runs with perf_counter_ns in a while loop; runtimes supply
    load / set_inputs / run_once."""
    loops = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.While) and "perf_counter_ns" in ast.unparse(node):
                loops.append(str(path.relative_to(ROOT)))
    assert sorted(set(loops)) == ["host/splitbench/measure/loop.py"], loops


def test_no_shim_modules() -> None:
    """A module that only re-exports another (``from x import *``) is a leftover name."""
    shims = [
        str(path.relative_to(ROOT))
        for path, tree in _modules()
        if any(
            isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names)
            for node in tree.body
        )
    ]
    assert shims == []


NAMES = {"tflite", "onnx", "executorch", "host", "adb"}  # formats and target kinds


def _names_compared(node: ast.Compare) -> set[str]:
    found: set[str] = set()
    for side in [node.left, *node.comparators]:
        values = side.elts if isinstance(side, ast.Tuple | ast.List | ast.Set) else [side]
        for v in values:
            if isinstance(v, ast.Constant) and v.value in NAMES:
                found.add(v.value)
    return found


def test_no_format_or_target_name_compared_outside_their_packages() -> None:
    """What differs between formats or targets is asked of the format or the target."""
    own = [ROOT / "host" / "splitbench" / d for d in ("formats", "targets", "emulator")]
    offenders = []
    for path, tree in _modules():
        if any(d in path.parents for d in own):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and _names_compared(node):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], offenders
