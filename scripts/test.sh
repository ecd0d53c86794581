#!/usr/bin/env bash
# Every test of the collection, in one pytest run (see pytest.ini for the order):
# unit tests, integration tests against real Prometheus tools, quality gates
# (ansible-lint, ansible-test sanity, build, checklist coverage), Molecule
# scenarios, and end-to-end tests on the local sandbox. Arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
# Tests run on parallel workers (pytest-xdist), grouped by what they share (tests/conftest.py).
# Three: the sandbox group (the longest) on one, the rest on the other two, which finish
# first. X402RB_TEST_WORKERS=0 runs everything in this process.
exec pytest -n "${X402RB_TEST_WORKERS:-3}" --dist loadgroup --no-loadscope-reorder --durations=30 "$@"
