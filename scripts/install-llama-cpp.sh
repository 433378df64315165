#!/usr/bin/env bash
# Installs llama-cpp-python into the virtualenv of PYTHON, built so that one build runs on any x86-64 CPU.
#   usage: scripts/install-llama-cpp.sh .venv/bin/python
#
# How it is built (the way llama.cpp's own release builds are made):
#   GGML_NATIVE=OFF             nothing is tied to the CPU of the machine that builds it
#   GGML_BACKEND_DL=ON          the CPU kernels are separate libraries, loaded at run time...
#   GGML_CPU_ALL_VARIANTS=ON    ...one per CPU generation (x64, haswell, skylakex, icelake, zen4, ...);
#                               dayshift chooses one when a model loads, never the AMX one (dayshift/llm/cpu.py)
#   CMAKE_INSTALL_BINDIR        puts those libraries beside libllama.so, inside the package
# The wheel is kept in a cache named by the version, these flags and the architecture, and pip's own
# wheel cache is never used for it: a wheel built for one CPU left there by an earlier plain install can
# not come back. An installed llama-cpp-python without the variant libraries is replaced.
# Building takes 25-35 minutes on two cores, once per machine.
set -euo pipefail
PYTHON=${1:?usage: $0 path/to/python}
VERSION=0.3.36
FLAGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DCMAKE_INSTALL_BINDIR=llama_cpp/lib"
FLAGS+=" -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF"
FLAGS+=" -DLLAMA_BUILD_SERVER=OFF"

portable_installed() {
  "$PYTHON" - "$VERSION" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
try:
    if version("llama-cpp-python") != sys.argv[1]:
        sys.exit(1)
except PackageNotFoundError:
    sys.exit(1)
lib = Path(next(iter(find_spec("llama_cpp").submodule_search_locations))) / "lib"
variants = list(lib.glob("libggml-cpu-x64.so*")) and list(lib.glob("libggml-cpu-haswell.so*"))
single = list(lib.glob("libggml-cpu.so*"))
sys.exit(0 if variants and not single else 1)
PY
}

if portable_installed; then
  exit 0
fi
case "$(uname -m)" in
  x86_64) ;;
  *) echo "install-llama-cpp: $(uname -m) is built with ggml's own variant list; only x86-64 is tested" >&2 ;;
esac
key=$(printf '%s %s %s' "$VERSION" "$FLAGS" "$(uname -m)" | sha256sum | cut -c1-16)
cache="${DAYSHIFT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dayshift/wheels}/llama-cpp-python-$key"
wheel=$(ls "$cache"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$wheel" ]; then
  echo "install-llama-cpp: building llama-cpp-python $VERSION for every x86-64 CPU (25-35 minutes on two cores)" >&2
  mkdir -p "$cache"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  CMAKE_ARGS="$FLAGS" "$PYTHON" -m pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$VERSION" -w "$work"
  mv "$work"/llama_cpp_python-"$VERSION"-*.whl "$cache"/
  wheel=$(ls "$cache"/llama_cpp_python-"$VERSION"-*.whl | head -n 1)
fi
"$PYTHON" -m pip install --quiet --no-cache-dir --force-reinstall --no-deps "$wheel"
"$PYTHON" -m pip install --quiet "llama-cpp-python==$VERSION"  # its pure-Python dependencies
portable_installed || { echo "install-llama-cpp: the installed build has no CPU variants; see $0" >&2; exit 1; }
