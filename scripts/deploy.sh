#!/usr/bin/env bash
# The main job on the embedded default: bring up (or converge) the local sandbox,
# then run the deployment-day playbook against it. Extra arguments go to
# ansible-playbook deploy.yml (e.g. -e x402_signoff_oncall=alice).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
ansible-playbook playbooks/sandbox_create.yml
ansible-playbook deploy.yml "$@"
