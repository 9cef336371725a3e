"""Shared fixtures: small real models converted once per test session."""

from __future__ import annotations

from pathlib import Path

import model_factory
import pytest

pytest_plugins = ["splitbench.emulator.pytest_plugin"]


def _write(tmp_path_factory: pytest.TempPathFactory, name: str, data: bytes) -> Path:
    path = tmp_path_factory.mktemp("models") / f"{name}.tflite"
    path.write_bytes(data)
    return path


@pytest.fixture(scope="session")
def chain_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory, "chain", model_factory.chain_model())


@pytest.fixture(scope="session")
def branchy_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory, "branchy", model_factory.branchy_model())


@pytest.fixture(scope="session")
def two_input_tflite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write(tmp_path_factory, "two_input", model_factory.two_input_model())
