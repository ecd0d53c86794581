# shellcheck shell=bash
# Shared settings of the scripts (sourced, not run).
X402RB_TOOLS="${X402RB_TOOLS:-$ROOT/.cache/tools}"
export X402RB_TOOLS
export PATH="$ROOT/.venv/bin:$X402RB_TOOLS/bin:$PATH"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
# Docker CLI configuration of the project (holds the compose v2 plugin), not the user's.
export DOCKER_CONFIG="${DOCKER_CONFIG:-$ROOT/.cache/docker-config}"
