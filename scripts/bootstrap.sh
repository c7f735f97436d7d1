#!/usr/bin/env bash
# Install uv if the machine lacks it, then the project's locked environment. Idempotent and quick when done.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v uv >/dev/null 2>&1; then
  echo "bootstrap: installing uv"
  python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
uv sync --frozen --quiet
scripts/micropython-libs.sh
scripts/esp-oracle.sh
