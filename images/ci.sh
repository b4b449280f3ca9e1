#!/usr/bin/env bash
# images/ci.sh: the container image check as CI runs it, after `make test` (.ci/run): the
# image tests (tests/images with RLSD_IMAGE_TESTS=1) build the component image, run the data
# prep and one verification inside it, then the whole pipeline's small run with kfp.local's
# DockerRunner against it (6 to 10 minutes on 2 cores; images/README.md).
#
# A machine with a docker or podman that can pull python:3.11-slim needs nothing else. On
# machines without registry access and behind a TLS proxy (this project's CI machines) it
# prepares what images/README.md describes:
#   - installs podman (apt-get) when no container CLI answers `info`;
#   - writes /etc/containers/containers.conf with the two settings those machines need
#     (ulimits, runc), only when that file does not exist;
#   - makes a local Debian base image (images/make-local-base.sh) when python:3.11-slim
#     cannot be pulled, and builds on it (BASE_IMAGE);
#   - hands pip inside the build the host pip config's CA bundle and local wheel folder
#     (BUILD_CA_BUNDLE, BUILD_WHEELS) and, with a wheel folder, takes torch from it
#     (TORCH_INDEX_URL=https://pypi.org/simple: the PyTorch index may not resolve).
# Every variable images/check.sh reads may be set beforehand and is then kept.
# Exit status: 0 passed; 1 the check failed; 3 this machine could not be prepared (the reason
# is printed; CI reports it and goes on).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${CHECK_PYTHON:-.venv/bin/python}
unprepared() { echo "images/ci.sh: cannot prepare this machine: $*" >&2; exit 3; }
[ -x "$PY" ] || unprepared "no $PY (run make install first)"

if [ -z "${DOCKER:-}" ]; then
  DOCKER=$(images/container-cli.sh)
fi
if ! "$DOCKER" info >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || unprepared "no working docker or podman, and no apt-get"
  echo "== installing podman"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc \
      mmdebstrap containernetworking-plugins iptables >/dev/null) \
    || unprepared "apt-get install podman failed"
  DOCKER=podman
fi
if [ "$DOCKER" = podman ] && [ ! -e /etc/containers/containers.conf ]; then
  echo "== writing /etc/containers/containers.conf (ulimits, runc)"
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n' \
    > /etc/containers/containers.conf
fi
"$DOCKER" info >/dev/null 2>&1 || unprepared "'$DOCKER info' fails"
export DOCKER

if [ -z "${BASE_IMAGE:-}" ] && ! "$DOCKER" pull python:3.11-slim >/dev/null 2>&1; then
  [ "$DOCKER" = podman ] || unprepared "python:3.11-slim cannot be pulled (set BASE_IMAGE)"
  export BASE_IMAGE=localhost/python:3.11-slim-local
  if ! podman image exists "$BASE_IMAGE"; then
    echo "== python:3.11-slim cannot be pulled: making $BASE_IMAGE"
    command -v mmdebstrap >/dev/null 2>&1 \
      || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null) \
      || unprepared "no mmdebstrap for a local base image"
    images/make-local-base.sh --tag "$BASE_IMAGE" || unprepared "images/make-local-base.sh failed"
  fi
fi

if [ "$DOCKER" = podman ]; then
  # The host pip's own settings (config files or PIP_* variables), first value of each.
  pip_setting() {
    "$PY" -m pip config list 2>/dev/null \
      | sed -n "s/^\(global\|install\|:env:\)\.$1='\([^' ]*\).*'\$/\2/p" | head -1
  }
  cert=$(pip_setting cert)
  wheels=$(pip_setting find-links)
  if [ -z "${BUILD_CA_BUNDLE:-}" ] && [ -f "$cert" ]; then export BUILD_CA_BUNDLE=$cert; fi
  if [ -z "${BUILD_WHEELS:-}" ] && [ -d "$wheels" ]; then
    export BUILD_WHEELS=$wheels
    export TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://pypi.org/simple}
  fi
fi

echo "== image tests: DOCKER=$DOCKER BASE_IMAGE=${BASE_IMAGE:-} TORCH_INDEX_URL=${TORCH_INDEX_URL:-}" \
     "BUILD_CA_BUNDLE=${BUILD_CA_BUNDLE:-} BUILD_WHEELS=${BUILD_WHEELS:-}"
started=$(date +%s)
status=0
RLSD_IMAGE_TESTS=1 RLSD_IMAGE_TESTS_DOCKER_RUNNER=${RLSD_IMAGE_TESTS_DOCKER_RUNNER:-small-run} \
  "$PY" -m pytest -q -p no:cacheprovider tests/images || status=1
echo "== images/ci.sh: $([ $status = 0 ] && echo passed || echo FAILED) in $(( $(date +%s) - started )) s"
exit $status
