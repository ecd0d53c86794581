#!/usr/bin/env bash
# Run a command with the collection's toolchain first on PATH (.venv, Prometheus tools).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
exec "$@"
