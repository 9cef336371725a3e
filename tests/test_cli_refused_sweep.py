"""A refused sweep leaves no debris: the run directory's model is checked before the new model
is exported or converted into it, an impossible --splits is refused before run.json and the
database exist, and an existing run directory is left as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cli_helpers import FAST, assert_one_line_error, measurement_count, run_cli, run_many
from torch_models import write_branchy

pytestmark = pytest.mark.slow

KEPT = ("run.json", "results.sqlite", "splits.csv")


def _digests(out: Path) -> dict[str, str]:
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in KEPT}


@pytest.fixture(scope="module")
def chain_run(chain_tflite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("refused") / "chain_run"
    run_cli("sweep", chain_tflite, "--out", out, *FAST).ok()
    return out


def test_another_model_is_refused_before_it_is_converted_into_the_run_directory(
    chain_run: Path, tmp_path: Path
) -> None:
    """A PyTorch model into a run directory of a TFLite model: refused before torch.export and
    the ONNX conversion write anything into it (they once left tens of MB there)."""
    kept, count = _digests(chain_run), measurement_count(chain_run / "results.sqlite")
    factory = f"{write_branchy(tmp_path)}:make_with_inputs"
    for route in (("--format", "onnx"), ()):  # one after the other: one sweep per directory
        result = run_cli("sweep", factory, *route, "--out", chain_run, *FAST)
        assert_one_line_error(result, "holds the sweep of another model", "chain", "branchy_net")
    assert not (chain_run / "model").exists(), sorted((chain_run / "model").rglob("*"))
    assert _digests(chain_run) == kept
    assert measurement_count(chain_run / "results.sqlite") == count


def test_splits_out_of_range_leave_no_run_json_and_no_database(
    chain_tflite: Path, chain_run: Path, tmp_path: Path
) -> None:
    kept = _digests(chain_run)
    new = tmp_path / "new_run"
    fresh, existing = run_many(
        [
            ["sweep", chain_tflite, "--out", new, "--splits", "99", *FAST],
            ["sweep", chain_tflite, "--out", chain_run, "--splits", "2,99", *FAST],
        ]
    )
    for result in (fresh, existing):
        assert_one_line_error(result, "99", "out of range", "0..4")
    assert not new.exists(), sorted(p.name for p in new.iterdir())  # the sweep made it: gone
    assert _digests(chain_run) == kept  # run.json still says every split, the database as was
    run_cli("report", chain_run).ok()


def test_the_same_model_again_is_not_refused(chain_tflite: Path, chain_run: Path) -> None:
    """The check before conversion knows the directory's own model (here by its sha256, under
    another path: a copy of the file)."""
    copy = chain_run.parent / "copy_of_chain.tflite"
    copy.write_bytes(chain_tflite.read_bytes())
    run_cli("sweep", copy, "--out", chain_run, *FAST).ok()
