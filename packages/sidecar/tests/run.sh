#!/usr/bin/env bash
# Runs the AstrBot plugin's tests (pytest). Installs the test dependencies from the machine's
# local wheel store when they are missing (no network needed), then runs every test here.
# The real-sidecar tests need `npm run build` first (packages/server/dist, packages/sidecar/dist);
# without those bins they are skipped with the reason, the rest still runs.
# Exit status: pytest's, except that "no tests collected" (5) is a failure too.
set -uo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import pytest, aiohttp, yaml' 2>/dev/null; then
  echo "::: installing pytest, aiohttp, pyyaml from the local wheel store"
  # --retries 0: the public index is unreachable here; the configured local store answers.
  if ! "$PY" -m pip install -q --retries 0 --disable-pip-version-check pytest aiohttp pyyaml; then
    echo "✗ could not install pytest/aiohttp/pyyaml for $PY" >&2
    exit 1
  fi
fi

"$PY" -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "✗ pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
