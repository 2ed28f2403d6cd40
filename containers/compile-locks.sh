#!/usr/bin/env bash
# Recompile both images' requirement locks from pyproject.toml and the .in files beside this script.
# Needs uv (pip install uv) and PyPI; it resolves for the images' Python and platform, not this host's.
set -euo pipefail
cd "$(dirname "$0")/.."
gpu=(uv pip compile pyproject.toml containers/requirements-gpu.in --extra gpu --extra sampling
     --python-version 3.12 --python-platform x86_64-manylinux_2_28 -o containers/requirements-gpu.lock)
ipu=(uv pip compile pyproject.toml containers/requirements-ipu.in
     --python-version 3.10 --python-platform x86_64-manylinux_2_28
     --override containers/requirements-ipu.overrides --no-emit-package torch -o containers/requirements-ipu.lock)
"${gpu[@]}" --quiet --custom-compile-command "${gpu[*]}"
"${ipu[@]}" --quiet --custom-compile-command "${ipu[*]}"
