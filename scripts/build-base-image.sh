#!/usr/bin/env bash
# Build the sandbox's base image (Debian bookworm with systemd as PID 1) from
# Debian packages with debootstrap: no registry can be reached here. Skipped
# when an image built from this very recipe already exists.
set -euo pipefail
IMAGE="${X402RB_BASE_IMAGE:-x402rb-base:bookworm}"
MIRROR="${X402RB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,procps,ca-certificates,curl,sudo,gnupg"
recipe=$( (cat "${BASH_SOURCE[0]}"; echo "$MIRROR") | sha256sum | cut -c1-16)

if [[ "$(docker image inspect -f '{{index .Config.Labels "x402rb.recipe"}}' "$IMAGE" 2>/dev/null)" == "$recipe" ]]; then
  echo "base image $IMAGE is up to date ($recipe)"
  exit 0
fi

echo "building base image $IMAGE with debootstrap (about a minute)"
rootfs=$(mktemp -d /var/tmp/x402rb-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase --include="$PACKAGES" bookworm "$rootfs" "$MIRROR" >"$rootfs.log" 2>&1 \
  || { tail -20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"

cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
SOURCES
# A container has no consoles, udev or kernel modules to manage.
for unit in getty.target console-getty.service systemd-udevd.service systemd-modules-load.service \
            systemd-remount-fs.service sys-kernel-config.mount sys-kernel-debug.mount; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb

tar -C "$rootfs" -c . | docker import - "$IMAGE-rootfs" >/dev/null
# `docker import --change` cannot set STOPSIGNAL: one build step on top does.
docker build -q -t "$IMAGE" - >/dev/null <<DOCKERFILE
FROM $IMAGE-rootfs
ENV container=docker
STOPSIGNAL SIGRTMIN+3
LABEL x402rb.recipe=$recipe
CMD ["/lib/systemd/systemd"]
DOCKERFILE
docker image rm "$IMAGE-rootfs" >/dev/null
echo "built $IMAGE ($recipe)"
