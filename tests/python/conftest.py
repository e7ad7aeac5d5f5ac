"""Shared fixtures of the Python tests: the built binaries, the default model, a running server."""
import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time

import httpx
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


API_KEY = "strata-test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StrataServer:
    """`strata serve` on a free loopback port with small settings; ready once /health is 200."""

    def __init__(self, binary, model, *extra_args, api_key=None, kv_cache_mib=64):
        self.port = free_port()
        self.grpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.model_name = pathlib.Path(model).stem  # the served name: the file name without .gguf
        self.api_key = api_key
        self.log = tempfile.TemporaryFile()
        args = [str(binary), "serve", "--model", str(model), "--host", "127.0.0.1", "--port", str(self.port),
                "--grpc-port", str(self.grpc_port),
                "--threads", "2", "--kv-cache-mib", str(kv_cache_mib), "--max-num-seqs", "16", *map(str, extra_args)]
        if api_key:
            args += ["--api-key", api_key]
        env = {k: v for k, v in os.environ.items() if k != "STRATA_API_KEY"}
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"strata serve exited early:\n{self.log_text()}"
            assert time.monotonic() < deadline, f"strata serve did not become healthy:\n{self.log_text()}"
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture(scope="session")
def strata_server(strata_bin, default_model):
    server = StrataServer(strata_bin, default_model, api_key=API_KEY)
    yield server
    assert server.stop() == 0, server.log_text()
