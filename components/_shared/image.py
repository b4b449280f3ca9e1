"""The component base image, and turning a component body into a lightweight KFP component.

Every component runs on one image (``images/component/Dockerfile``) that has ``rlsd``, this
``components`` package and ``kfp`` installed, so the generated command does not pip-install
kfp at start (``install_kfp_package=False``): a pod starts faster and needs no package index.
kfp.local's ``SubprocessRunner(use_venv=False)`` runs the same body in this environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from kfp import dsl
from kfp.dsl.python_component import PythonComponent

#: Used when neither a compile flag nor ``RLSD_COMPONENT_IMAGE`` names another image.
DEFAULT_COMPONENT_IMAGE = "ghcr.io/rlsd-kubeflow/rlsd-component:0.1.0"
IMAGE_ENV = "RLSD_COMPONENT_IMAGE"


def component_image(override: str | None = None) -> str:
    """The image to compile components for: ``override``, else ``$RLSD_COMPONENT_IMAGE``,
    else :data:`DEFAULT_COMPONENT_IMAGE`."""
    image = (override or os.environ.get(IMAGE_ENV) or DEFAULT_COMPONENT_IMAGE).strip()
    if not image or any(c.isspace() for c in image):
        raise ValueError(f"component image {image!r} is not an image reference")
    return image


#: The image of the module-level ``component`` objects (read once, at import).
COMPONENT_IMAGE = component_image()


def build_component(body: Callable, image: str | None = None) -> PythonComponent:
    """``body`` as a lightweight Python component on ``image`` (default: :data:`COMPONENT_IMAGE`).

    Calling this again with another image gives an independent component; the pipeline does
    that for ``--component-image``.
    """
    return dsl.component(body, base_image=image or COMPONENT_IMAGE, install_kfp_package=False)
