"""Input sets: seeded random values, and real image files written with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image
from splitbench.errors import ModelError, SplitbenchError
from splitbench.measure.inputs import load_image, make_inputs, random_value
from tflite_edits import with_input_shape


def _details(path: Path) -> list[dict]:
    return list(Interpreter(model_path=str(path)).get_input_details())


def test_random_sets_match_every_input_and_are_seeded(two_input_tflite: Path) -> None:
    details = _details(two_input_tflite)
    sets = make_inputs(two_input_tflite, inputs_dir=None, count=3, seed=5)
    assert len(sets) == 3
    for values in sets:
        assert set(values) == {d["name"] for d in details}
        for d in details:
            assert values[d["name"]].shape == tuple(d["shape"])
            assert values[d["name"]].dtype == d["dtype"]
            assert values[d["name"]].min() >= -0.5 and values[d["name"]].max() < 0.5
    again = make_inputs(two_input_tflite, inputs_dir=None, count=3, seed=5)
    other = make_inputs(two_input_tflite, inputs_dir=None, count=3, seed=6)
    name = details[0]["name"]
    assert all(np.array_equal(a[name], b[name]) for a, b in zip(sets, again, strict=True))
    assert not np.array_equal(sets[0][name], other[0][name])
    assert not np.array_equal(sets[0][name], sets[1][name])  # sets differ from each other


def test_random_values_use_benchmark_model_ranges() -> None:
    rng = np.random.default_rng(0)
    u8 = random_value((4096,), np.uint8, rng)
    i8 = random_value((4096,), np.int8, rng)
    i32 = random_value((4096,), np.int32, rng)
    flags = random_value((4096,), np.bool_, rng)
    assert u8.dtype == np.uint8 and u8.max() <= 254
    assert i8.dtype == np.int8 and i8.min() >= -127
    assert i32.dtype == np.int32 and i32.min() >= 0 and i32.max() <= 99
    assert flags.dtype == np.bool_ and flags.any() and not flags.all()


def _write_images(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = [
        folder / "a_red.png",
        folder / "b_gray.png",
        folder / "c_rgba.png",
        folder / "d_photo.jpg",
        folder / "e_wide.png",
    ]
    Image.new("RGB", (40, 30), (255, 0, 127)).save(paths[0])
    Image.new("L", (16, 16), 51).save(paths[1])
    Image.new("RGBA", (20, 20), (0, 255, 0, 10)).save(paths[2])
    Image.new("RGB", (64, 48), (200, 100, 50)).save(paths[3], quality=95)
    gradient = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    Image.fromarray(np.stack([gradient] * 3, axis=-1)).save(paths[4])
    (folder / "notes.txt").write_text("not an image, ignored")
    return paths


def test_images_fill_the_image_input_scaled_to_minus_one_one(
    chain_tflite: Path, tmp_path: Path
) -> None:
    _write_images(tmp_path / "imgs")
    (name,) = [d["name"] for d in _details(chain_tflite)]
    sets = make_inputs(chain_tflite, inputs_dir=tmp_path / "imgs", count=10, seed=0)
    assert len(sets) == 5  # one set per image, never invented
    first = sets[0][name]
    assert first.shape == (1, 16, 16, 3) and first.dtype == np.float32
    # a solid (255, 0, 127) image, resized, is still that colour: 255 -> 1, 0 -> -1
    np.testing.assert_allclose(first[0, 8, 8], [1.0, -1.0, 127 / 127.5 - 1], atol=1e-6)
    gray = sets[1][name]  # "L" image converted to RGB: three equal channels
    np.testing.assert_allclose(gray[0, 3, 3], [51 / 127.5 - 1] * 3, atol=1e-6)
    rgba = sets[2][name]  # alpha is dropped, not blended
    np.testing.assert_allclose(rgba[0, 0, 0], [-1.0, 1.0, -1.0], atol=1e-6)
    for values in sets:
        assert values[name].min() >= -1.0 and values[name].max() <= 1.0
    wide = sets[4][name][0, 0, :, 0]  # the horizontal gradient survives the resize
    assert np.all(np.diff(wide) > 0)
    assert len(make_inputs(chain_tflite, inputs_dir=tmp_path / "imgs", count=2, seed=0)) == 2


def test_image_goes_to_the_image_input_and_others_stay_random(
    two_input_tflite: Path, tmp_path: Path
) -> None:
    _write_images(tmp_path / "imgs")
    sets = make_inputs(two_input_tflite, inputs_dir=tmp_path / "imgs", count=1, seed=0)
    by_shape = {v.shape: v for v in sets[0].values()}
    image, side = by_shape[(1, 8, 8, 3)], by_shape[(1, 8, 8, 4)]
    np.testing.assert_allclose(image[0, 4, 4], [1.0, -1.0, 127 / 127.5 - 1], atol=1e-6)
    assert side.min() >= -0.5 and side.max() < 0.5 and side.std() > 0


def test_uint8_and_int8_inputs_take_pixels_as_is_or_offset(tmp_path: Path) -> None:
    path = tmp_path / "px.png"
    Image.new("RGB", (4, 4), (255, 0, 128)).save(path)
    as_u8 = load_image(path, [1, 4, 4, 3], np.uint8)
    as_i8 = load_image(path, [4, 4, 3], np.int8)
    assert as_u8.dtype == np.uint8 and as_u8.shape == (1, 4, 4, 3)
    assert as_u8[0, 0, 0].tolist() == [255, 0, 128]
    assert as_i8.dtype == np.int8 and as_i8.shape == (4, 4, 3)
    assert as_i8[0, 0].tolist() == [127, -128, 0]


def test_bad_inputs_dirs_give_one_line_errors(chain_tflite: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png at all")
    cases = [
        (tmp_path / "missing", "does not exist"),
        (empty, "holds no .png or .jpg images"),
        (broken, "cannot read image"),
    ]
    for folder, expected in cases:
        with pytest.raises(SplitbenchError, match=expected) as info:
            make_inputs(chain_tflite, inputs_dir=folder, count=3, seed=0)
        assert "\n" not in str(info.value)


def test_model_without_an_image_input_is_a_model_error(chain_tflite: Path, tmp_path: Path) -> None:
    _write_images(tmp_path / "imgs")
    odd = with_input_shape(chain_tflite, tmp_path / "odd.tflite", [1, 16, 16, 5])
    with pytest.raises(ModelError, match="no image input"):
        make_inputs(odd, inputs_dir=tmp_path / "imgs", count=1, seed=0)
    assert make_inputs(odd, inputs_dir=None, count=1, seed=0)[0]  # random inputs still work


def test_not_a_model_is_a_model_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tflite"
    bogus.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="not a readable TFLite model"):
        make_inputs(bogus, inputs_dir=None, count=1, seed=0)
