#!/usr/bin/env bash
# images/check.sh: build the component image from this repository, then run inside it the
# data prep on the built-in synthetic data and one verification (images/smoke.py), check
# their outputs, and print the build time and the image size. `make images-check` runs it.
#
#   images/check.sh                      # docker (or podman), the Dockerfile's defaults
#   images/check.sh --docker-runner      # also kfp.local's DockerRunner (docker_runner_check.py)
#   images/check.sh --help
#
# Everything machine-specific is an option or an environment variable (options win):
#   --docker CLI           DOCKER           container CLI: docker or podman (default: docker
#                                           when its daemon answers, else podman, else docker)
#   --image REF            CHECK_IMAGE      tag of the built image (localhost/rlsd-component:check)
#   --base-image REF       BASE_IMAGE       BASE_IMAGE build argument (default: the Dockerfile's,
#                                           python:3.11-slim)
#   --torch-index-url URL  TORCH_INDEX_URL  TORCH_INDEX_URL build argument (default: the
#                                           Dockerfile's, the PyTorch CPU wheel index)
#   --ca-bundle FILE       BUILD_CA_BUNDLE  CA bundle pip inside the build trusts (a TLS proxy)
#   --wheels DIR           BUILD_WHEELS     local wheel folder pip inside the build may use
#   --pip-conf FILE        BUILD_PIP_CONF   a whole pip.conf for pip inside the build
#   --build-arg NAME=VALUE                  any other build argument (repeatable)
#   --skip-build                            check an image already built (--image)
#   --docker-runner        DOCKER_RUNNER=1  also run images/docker_runner_check.py against it
#   --docker-runner-what W                  components (default) or small-run
#   --python PY            CHECK_PYTHON     python with this package + kfp for the DockerRunner
#                                           check (default: .venv/bin/python, else python3)
#   --report FILE          CHECK_REPORT     also write the findings as JSON to FILE
#   --remove                                remove the image afterwards
# --ca-bundle, --wheels and --pip-conf mount files into the build (`podman build -v`):
# podman only. pip reads them from /etc/xdg/pip (pip.conf there: cert, find-links); the image
# keeps the empty folder, not the files. --pip-conf FILE may name them as /etc/xdg/pip/ca.crt
# and /etc/xdg/pip/wheels.
# Exit status: 0 all checks passed; 1 a check failed; 2 bad usage or no container CLI.
set -euo pipefail

cd "$(dirname "$0")/.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "images/check.sh: error: $*" >&2; exit 2; }
fail() { echo "images/check.sh: FAILED: $*" >&2; exit 1; }

DOCKER=${DOCKER:-}
IMAGE=${CHECK_IMAGE:-localhost/rlsd-component:check}
BASE_IMAGE=${BASE_IMAGE:-}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-}
BUILD_CA_BUNDLE=${BUILD_CA_BUNDLE:-}
BUILD_WHEELS=${BUILD_WHEELS:-}
BUILD_PIP_CONF=${BUILD_PIP_CONF:-}
DOCKER_RUNNER=${DOCKER_RUNNER:-0}
RUNNER_WHAT=components
PYTHON=${CHECK_PYTHON:-}
REPORT=${CHECK_REPORT:-}
SKIP_BUILD=0
REMOVE=0
EXTRA_ARGS=()

while [ $# -gt 0 ]; do
  case "$1" in
    --docker) DOCKER=${2:?--docker needs a value}; shift ;;
    --image) IMAGE=${2:?--image needs a value}; shift ;;
    --base-image) BASE_IMAGE=${2:?--base-image needs a value}; shift ;;
    --torch-index-url) TORCH_INDEX_URL=${2:?--torch-index-url needs a value}; shift ;;
    --ca-bundle) BUILD_CA_BUNDLE=${2:?--ca-bundle needs a value}; shift ;;
    --wheels) BUILD_WHEELS=${2:?--wheels needs a value}; shift ;;
    --pip-conf) BUILD_PIP_CONF=${2:?--pip-conf needs a value}; shift ;;
    --build-arg) EXTRA_ARGS+=(--build-arg "${2:?--build-arg needs NAME=VALUE}"); shift ;;
    --skip-build) SKIP_BUILD=1 ;;
    --docker-runner) DOCKER_RUNNER=1 ;;
    --docker-runner-what) RUNNER_WHAT=${2:?--docker-runner-what needs a value}; shift ;;
    --python) PYTHON=${2:?--python needs a value}; shift ;;
    --report) REPORT=${2:?--report needs a value}; shift ;;
    --remove) REMOVE=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (--help lists them)" ;;
  esac
  shift
done

if [ -z "$DOCKER" ]; then
  DOCKER=$(images/container-cli.sh)
fi
command -v "$DOCKER" >/dev/null 2>&1 \
  || die "no container CLI '$DOCKER' on PATH: install docker or podman, or pass --docker"
"$DOCKER" info >/dev/null 2>&1 \
  || die "'$DOCKER info' fails: is the engine running (docker: the daemon; podman: see images/README.md)?"
case "$RUNNER_WHAT" in components|small-run) ;; *) die "--docker-runner-what: components or small-run" ;; esac

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rlsd-image-check.XXXXXX")
SERVICE_PID=""
cleanup() {
  if [ -n "$SERVICE_PID" ]; then kill "$SERVICE_PID" 2>/dev/null || true; fi
  rm -rf "$SCRATCH"
}
trap cleanup EXIT

# ---- build ------------------------------------------------------------------------------
BUILD=(build -f images/component/Dockerfile -t "$IMAGE")
[ -n "$BASE_IMAGE" ] && BUILD+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
[ -n "$TORCH_INDEX_URL" ] && BUILD+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
BUILD+=(${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"})
if [ -n "$BUILD_CA_BUNDLE$BUILD_WHEELS$BUILD_PIP_CONF" ]; then
  [ "$(basename "$DOCKER")" = podman ] \
    || die "--ca-bundle, --wheels and --pip-conf mount files into the build: podman only (DOCKER=$DOCKER)"
  # One folder mounted at /etc/xdg/pip, a place pip reads its config from: pip.conf, the CA
  # bundle, the wheels (a nested mount). The image keeps only the empty mount point.
  PIP_DIR="$SCRATCH/pip"
  mkdir -p "$PIP_DIR/wheels"
  if [ -n "$BUILD_PIP_CONF" ]; then
    [ -f "$BUILD_PIP_CONF" ] || die "--pip-conf $BUILD_PIP_CONF is not a file"
    cp "$BUILD_PIP_CONF" "$PIP_DIR/pip.conf"
  else
    echo "[global]" > "$PIP_DIR/pip.conf"
  fi
  if [ -n "$BUILD_CA_BUNDLE" ]; then
    [ -f "$BUILD_CA_BUNDLE" ] || die "--ca-bundle $BUILD_CA_BUNDLE is not a file"
    # Beside the image's own CA certificates, not over them: apt inside a build keeps working.
    cp "$BUILD_CA_BUNDLE" "$PIP_DIR/ca.crt"
    [ -n "$BUILD_PIP_CONF" ] || echo "cert = /etc/xdg/pip/ca.crt" >> "$PIP_DIR/pip.conf"
  fi
  BUILD+=(-v "$PIP_DIR:/etc/xdg/pip:ro")
  if [ -n "$BUILD_WHEELS" ]; then
    [ -d "$BUILD_WHEELS" ] || die "--wheels $BUILD_WHEELS is not a folder"
    BUILD+=(-v "$(realpath "$BUILD_WHEELS"):/etc/xdg/pip/wheels:ro")
    [ -n "$BUILD_PIP_CONF" ] || echo "find-links = /etc/xdg/pip/wheels" >> "$PIP_DIR/pip.conf"
  fi
fi
BUILD+=(.)

BUILD_SECONDS=null
if [ "$SKIP_BUILD" = 1 ]; then
  "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1 || die "--skip-build: no image $IMAGE"
  echo "== using the built image $IMAGE"
else
  echo "== building $IMAGE: $DOCKER ${BUILD[*]}"
  started=$(date +%s)
  DOCKER_BUILDKIT=1 "$DOCKER" "${BUILD[@]}" || fail "the build of images/component/Dockerfile failed"
  BUILD_SECONDS=$(( $(date +%s) - started ))
  echo "== built $IMAGE in ${BUILD_SECONDS} s"
fi

SIZE=$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")
echo "== image size: $SIZE bytes ($(( SIZE / 1000000 )) MB); largest layers:"
"$DOCKER" history --no-trunc --format '{{.Size}}	{{.CreatedBy}}' "$IMAGE" \
  | sort -h -r | head -6 | cut -c1-150 | sed 's/^/   /' || true

# ---- data prep and one verification inside the image ------------------------------------
echo "== inside $IMAGE (no network): data prep, then one verification"
started=$(date +%s)
"$DOCKER" run --rm -i --network none -e RLSD_NO_PROGRESS=1 -e TQDM_DISABLE=1 \
  -e OMP_WAIT_POLICY=PASSIVE "$IMAGE" python - < images/smoke.py | tee "$SCRATCH/smoke.log" \
  || fail "data prep / verification inside $IMAGE failed (output above)"
RUN_SECONDS=$(( $(date +%s) - started ))
SMOKE=$(sed -n 's/^RLSD_IMAGE_CHECK //p' "$SCRATCH/smoke.log")
[ -n "$SMOKE" ] || fail "the check inside $IMAGE printed no RLSD_IMAGE_CHECK line"

# ---- kfp.local DockerRunner (optional) --------------------------------------------------
RUNNER=null
if [ "$DOCKER_RUNNER" = 1 ]; then
  if [ -z "$PYTHON" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
  fi
  if [ "$(basename "$DOCKER")" = podman ] && [ -z "${DOCKER_HOST:-}" ]; then
    SOCKET="$SCRATCH/podman.sock"
    podman system service --time=0 "unix://$SOCKET" &
    SERVICE_PID=$!
    for _ in $(seq 50); do [ -S "$SOCKET" ] && break; sleep 0.2; done
    [ -S "$SOCKET" ] || fail "podman system service did not open $SOCKET"
    export DOCKER_HOST="unix://$SOCKET"
    echo "== podman's Docker API on $DOCKER_HOST (pid $SERVICE_PID)"
  fi
  echo "== kfp.local DockerRunner ($RUNNER_WHAT) against $IMAGE"
  "$PYTHON" images/docker_runner_check.py --image "$IMAGE" --what "$RUNNER_WHAT" \
      --root "$SCRATCH/kfp" 2>&1 | tee "$SCRATCH/runner.log" || true
  RUNNER=$(sed -n 's/^RLSD_DOCKER_RUNNER //p' "$SCRATCH/runner.log")
  if [ -z "$RUNNER" ]; then
    REASON=$(sed -n 's/^RLSD_DOCKER_RUNNER_FAILED //p' "$SCRATCH/runner.log")
    fail "kfp.local DockerRunner: ${REASON:-no result line (output above)}"
  fi
fi

BUILT=$([ "$BUILD_SECONDS" = null ] && echo "(built before)" || echo "built in ${BUILD_SECONDS} s")
echo "== images/check.sh: OK: $IMAGE $BUILT, $SIZE bytes; data prep and" \
     "verification passed inside it in ${RUN_SECONDS} s (container start included)"
if [ -n "$REPORT" ]; then
  printf '{"image": "%s", "docker": "%s", "build_seconds": %s, "image_bytes": %s, "run_seconds": %s, "inside": %s, "docker_runner": %s}\n' \
    "$IMAGE" "$DOCKER" "$BUILD_SECONDS" "$SIZE" "$RUN_SECONDS" "$SMOKE" "$RUNNER" > "$REPORT"
  echo "== wrote $REPORT"
fi
if [ "$REMOVE" = 1 ]; then
  "$DOCKER" rmi "$IMAGE" >/dev/null && echo "== removed $IMAGE"
fi
