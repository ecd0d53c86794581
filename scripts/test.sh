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
exec pytest "$@"
