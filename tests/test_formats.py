"""The format interface: files reach their format by suffix or by content, and the generic
stages (splitter, lossless check, inputs) work through it."""

from __future__ import annotations

from pathlib import Path

import pytest
from splitbench.errors import ModelError
from splitbench.formats import FORMAT_NAMES, format_of_file, get_format
from splitbench.formats.base import PartFailure
from splitbench.graph import load_graph
from splitbench.measure.inputs import input_details
from splitbench.splitter import ModelSplitter
from splitbench.verify import open_session


def test_a_tflite_file_is_found_by_suffix_and_by_content(
    chain_tflite: Path, tmp_path: Path
) -> None:
    assert "tflite" in FORMAT_NAMES
    assert format_of_file(chain_tflite).name == "tflite"
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(chain_tflite.read_bytes())
    assert format_of_file(renamed).name == "tflite"
    graph = load_graph(renamed)
    assert graph.format == "tflite"
    assert graph.sha256 == load_graph(chain_tflite).sha256


def test_unknown_format_and_unknown_file_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="unknown model format 'nope'"):
        get_format("nope")
    with pytest.raises(ModelError, match="model file not found"):
        format_of_file(tmp_path / "missing.bin")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a TFLite model"):
        load_graph(junk)


def test_parts_carry_the_format_suffix_and_run_in_its_session(
    branchy_tflite: Path, tmp_path: Path
) -> None:
    splitter = ModelSplitter(branchy_tflite)
    assert splitter.format.name == "tflite"
    k = splitter.graph.num_operators // 2
    files = splitter.write_parts(k, tmp_path)
    assert files.head_path is not None and files.head_path.name == "head.tflite"
    assert files.tail_path is not None and files.tail_path.name == "tail.tflite"
    session = open_session(files.head_path)
    assert files.head_io is not None
    assert session.output_names == list(files.head_io.output_names)
    specs = input_details(branchy_tflite)
    assert [d["layout"] for d in specs] == ["NHWC"] * len(specs)


def test_a_part_the_runtime_cannot_load_raises_part_failure(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x18\x00\x00\x00TFL3" + b"\x00" * 16)
    with pytest.raises(PartFailure):
        open_session(broken)


def test_a_nameless_input_shape_is_the_only_inputs(
    chain_tflite: Path, two_input_tflite: Path
) -> None:
    from splitbench.model_source import parse_input_shape

    assert parse_input_shape("1,3,224,224") == ("", (1, 3, 224, 224))
    assert parse_input_shape("image:0:1,2") == ("image:0", (1, 2))
    graph = load_graph(chain_tflite)
    (only,) = graph.inputs
    shape = graph.tensors[only].shape
    assert load_graph(chain_tflite, {"": shape}).tensors[only].shape == shape
    with pytest.raises(ModelError, match="has 2 inputs: name the one"):
        load_graph(two_input_tflite, {"": (1, 2)})
