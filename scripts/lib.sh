# shellcheck shell=bash
# Shared settings of the scripts (sourced, not run).
X402RB_TOOLS="${X402RB_TOOLS:-$ROOT/.cache/tools}"
export X402RB_TOOLS
export PATH="$ROOT/.venv/bin:$X402RB_TOOLS/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
