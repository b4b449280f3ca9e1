#!/usr/bin/env bash
# images/make-local-base.sh: make a Debian base image with Python 3.11 and pip locally, for
# machines that can reach a Debian mirror but no container registry. The component image then
# builds on it with `images/check.sh --base-image localhost/python:3.11-slim-local` (or
# `--build-arg BASE_IMAGE=...`). It is Debian's Python 3.11, not the official python:3.11-slim:
# it checks the Dockerfile's steps and the dependency resolution, not a byte-identical base.
# Like python:3.11-slim it has Python's C headers (python3-dev), which DeepSpeed's op builds need.
#
#   images/make-local-base.sh [--tag REF] [--suite SUITE] [--mirror URL] [--security URL]
#
# Needs root, mmdebstrap and podman (apt-get install -y podman mmdebstrap). About a minute.
set -euo pipefail

TAG=localhost/python:3.11-slim-local
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
SECURITY=http://deb.debian.org/debian-security
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG=${2:?}; shift ;;
    --suite) SUITE=${2:?}; shift ;;
    --mirror) MIRROR=${2:?}; shift ;;
    --security) SECURITY=${2:?}; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "images/make-local-base.sh: error: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
for tool in mmdebstrap podman; do
  command -v "$tool" >/dev/null 2>&1 \
    || { echo "images/make-local-base.sh: error: $tool is not installed" >&2; exit 2; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rlsd-base.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# pip may install into the system Python (the Dockerfile runs `python -m pip install` as root,
# as on python:*-slim): remove Debian's EXTERNALLY-MANAGED marker.
# shellcheck disable=SC2016  # $1 is the hook's argument (the new root), not ours
mmdebstrap --variant=minbase \
  --include=python3,python3-dev,python3-pip,python3-venv,python-is-python3,ca-certificates \
  --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED' \
  "$SUITE" "$WORK/base.tar" \
  "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" \
  "deb $SECURITY $SUITE-security main"
podman import --change 'CMD ["python3"]' "$WORK/base.tar" "$TAG" >/dev/null
echo "made $TAG ($(podman image inspect --format '{{.Size}}' "$TAG") bytes)"
