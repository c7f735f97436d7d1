#!/usr/bin/env bash
# Assemble .esp-oracle/: Espressif's protocomm client (rmaker_tools from the PyPI wheel esp-rainmaker-cli,
# Apache-2.0), used only by tests/interop to drive the simulator the way Espressif's own tools do.
# Fetched by pip without its dependencies: the full install pulls opencv-python, aiortc, boto3 and numpy
# (42 packages) for features the protocomm modules never import; they need only cryptography and protobuf,
# both in the dev environment. Pinned by sha256. Quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=.esp-oracle
VERSION=1.14.1
SHA256=70f11fc7fdbc0535ad3ed6653fba1dd6c08959c6d0f230154a24f42424d0caaf
stamp="esp-rainmaker-cli $VERSION $SHA256"
if [ -f "$DIR/.stamp" ] && [ "$(cat "$DIR/.stamp")" = "$stamp" ]; then
  exit 0
fi
echo "esp-oracle: fetching esp-rainmaker-cli $VERSION (no dependencies)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "esp-rainmaker-cli==$VERSION --hash=sha256:$SHA256" >"$work/req.txt"
python3 -m pip download --quiet --no-deps --require-hashes -r "$work/req.txt" -d "$work/dl"
python3 - "$work/dl" "$work/out" <<'PY'
import sys
import zipfile
from pathlib import Path

wheel = next(Path(sys.argv[1]).glob("esp_rainmaker_cli-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith("rmaker_tools/"):
            archive.extract(name, sys.argv[2])
PY
echo "$stamp" >"$work/out/.stamp"
rm -rf "$DIR"
mv "$work/out" "$DIR"
trap - EXIT
