#!/usr/bin/env bash
# The whole test suite. Embedded topology by default; set FEDERATION_DATABASE_URL and
# FEDERATION_REDIS_URL to run the same suite against PostgreSQL and Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
