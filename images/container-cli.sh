#!/usr/bin/env sh
# Prints the container CLI to use: docker when its daemon answers, else podman when installed,
# else docker (whose own error then says what is missing). The Makefile and images/check.sh
# use it when DOCKER is not set.
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  echo docker
elif command -v podman >/dev/null 2>&1; then
  echo podman
else
  echo docker
fi
