#!/usr/bin/env bash
# Assemble .micropython-lib/, the /lib a MicroPython board (and the unix-port tests) needs:
# umqtt.simple from its published PyPI sdist (not pip-installable: it has no setup.py), checked
# against a pinned sha256, and microdot from the installed dev dependency. Quick when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

LIB=.micropython-lib
UMQTT_URL=https://files.pythonhosted.org/packages/bd/cf/697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/micropython-umqtt.simple-1.3.4.tar.gz
UMQTT_SHA256=b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f

shopt -s nullglob
microdot_dist=(.venv/lib/python*/site-packages/microdot-*.dist-info)
if [ ${#microdot_dist[@]} -ne 1 ]; then
  echo "micropython-libs: microdot is not installed in .venv (run uv sync)" >&2
  exit 1
fi
microdot_pkg="$(dirname "${microdot_dist[0]}")/microdot"
# The stamp names both inputs, so a microdot upgrade or a new umqtt pin rebuilds the directory.
stamp="umqtt $UMQTT_SHA256 $(basename "${microdot_dist[0]}")"
if [ -f "$LIB/.stamp" ] && [ "$(cat "$LIB/.stamp")" = "$stamp" ]; then
  exit 0
fi

echo "micropython-libs: assembling $LIB"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$UMQTT_URL" "$UMQTT_SHA256" "$work" <<'PY'
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

url, expected, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 - a fixed https URL
    data = answer.read()
digest = hashlib.sha256(data).hexdigest()
if digest != expected:
    sys.exit(f"micropython-libs: sha256 of {url} is {digest}, expected {expected}")
with tarfile.open(fileobj=io.BytesIO(data)) as sdist:
    member = next(m for m in sdist.getmembers() if m.name.endswith("/umqtt/simple.py"))
    source = sdist.extractfile(member)
    assert source is not None
    (out / "umqtt").mkdir()
    (out / "umqtt" / "simple.py").write_bytes(source.read())
PY
# No umqtt/__init__.py: the sdist has none and MicroPython imports the directory as a package.
mkdir "$work/microdot"
# microdot.microdot needs nothing else from its package; the extras (auth, sse, ...) stay out.
cp "$microdot_pkg/__init__.py" "$microdot_pkg/microdot.py" "$work/microdot/"
echo "$stamp" >"$work/.stamp"
rm -rf "$LIB"
mv "$work" "$LIB"
trap - EXIT
