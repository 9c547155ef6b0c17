#!/usr/bin/env bash
# One command from a fresh clone to a running node: install, `federation init`, `federation run`.
# Options are passed to `federation run` (e.g. --home DIR --port N). Ctrl-C stops the node.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
home_args=()
for ((i = 1; i <= $#; i++)); do
    if [ "${!i}" = "--home" ]; then j=$((i + 1)); home_args=(--home "${!j}"); fi
done
.venv/bin/federation init --exist-ok "${home_args[@]}"
exec .venv/bin/federation run "$@"
