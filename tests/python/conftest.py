"""Shared paths for the Python tests: the built binaries and the default model."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = ROOT / os.environ.get("STRATA_BUILD_DIR", "build")


@pytest.fixture(scope="session")
def strata_bin() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("STRATA_BIN", BUILD / "bin" / "strata"))
    assert path.exists(), f"{path} is missing: run `make build` first"
    return path.resolve()


@pytest.fixture(scope="session")
def dump_bin() -> pathlib.Path:
    path = BUILD / "bin" / "strata-gguf-dump"
    assert path.exists(), f"{path} is missing: run `make build` first"
    return path


@pytest.fixture(scope="session")
def default_model() -> pathlib.Path:
    path = ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.exists(), f"{path} is missing: run `make setup` first"
    return path
