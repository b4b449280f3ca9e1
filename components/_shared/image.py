"""The component base image, and turning a component body into a lightweight KFP component.

Every component runs on one image (``images/component/Dockerfile``) that has ``rlsd``, this
``components`` package and ``kfp`` installed, so the generated command does not pip-install
kfp at start (``install_kfp_package=False``): a pod starts faster and needs no package index.
kfp.local's ``SubprocessRunner(use_venv=False)`` runs the same body in this environment.

The default images (:data:`DEFAULT_COMPONENT_IMAGE`, :data:`DEFAULT_TRAINER_IMAGE`) are tagged
with the package version (``rlsd.__version__``, the one place it lives), which is what the
release workflow (``.github/workflows/images.yml``) pushes on a ``v<version>`` tag. Until
they are known to exist (:data:`DEFAULT_IMAGES_PUBLISHED`) they are placeholders:
``pipeline.compile`` warns when it writes one (:func:`placeholder_warning`) and
``pipeline.submit`` refuses a package that names one (:func:`placeholder_references`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from kfp import dsl
from kfp.dsl.python_component import PythonComponent

from components._shared.image_names import (  # noqa: F401 - the defaults live there
    DEFAULT_COMPONENT_IMAGE,
    DEFAULT_IMAGE_REGISTRY,
    DEFAULT_IMAGES_PUBLISHED,
    DEFAULT_TRAINER_IMAGE,
    IMAGE_ENV,
    TRAINER_IMAGE_PARAMETER,
)
from rlsd import __version__


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


def placeholder_images() -> tuple[str, ...]:
    """The default image references not known to exist yet (empty once
    :data:`DEFAULT_IMAGES_PUBLISHED`)."""
    if DEFAULT_IMAGES_PUBLISHED:
        return ()
    return (DEFAULT_COMPONENT_IMAGE, DEFAULT_TRAINER_IMAGE)


def placeholder_references(spec: Mapping[str, Any]) -> dict[str, str]:
    """Where a compiled pipeline or component spec (the first YAML document) names a
    placeholder image: ``{where: image}``. ``where`` is ``"executor <name>"`` for a
    container's image, or ``"parameter <name>"`` for a pipeline parameter's default (e.g.
    ``trainer_image``, which a run can still override)."""
    found: dict[str, str] = {}
    placeholders = set(placeholder_images())
    if not placeholders:
        return found
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    for name, executor in sorted(executors.items()):
        image = ((executor or {}).get("container") or {}).get("image")
        if image in placeholders:
            found[f"executor {name}"] = image
    parameters = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    for name, parameter in sorted(parameters.items()):
        default = (parameter or {}).get("defaultValue")
        if isinstance(default, str) and default.strip() in placeholders:
            found[f"parameter {name}"] = default.strip()
    return found


def placeholder_warning(path: str, references: Mapping[str, str],
                        registry: str = "REGISTRY/PROJECT") -> str:
    """The warning ``pipeline.compile`` prints when ``path`` names placeholder images
    (``references`` from :func:`placeholder_references`), a few lines; empty when none."""
    if not references:
        return ""
    uses: dict[str, list[str]] = {}
    for where, image in references.items():
        kind, _, name = where.partition(" ")
        use = ("the image of its components" if kind == "executor" else
               f"the default of parameter {name}")
        if use not in uses.setdefault(image, []):
            uses[image].append(use)
    width = max(len(image) for image in uses)
    listed = "".join(f"\n    {image:<{width}}  ({', '.join(wheres)})"
                     for image, wheres in uses.items())
    tag = __version__
    return (f"{path} names image(s) that are not published yet, so a cluster cannot pull "
            f"them (its pods would wait in ImagePullBackOff):{listed}\n"
            f"  To run it, build and push your own images (images/README.md):\n"
            f"    make images-push IMAGE_REGISTRY={registry} IMAGE_TAG={tag}\n"
            f"    python -m pipeline.compile ... --component-image "
            f"{registry}/rlsd-component:{tag} \\\n"
            f"        --param {TRAINER_IMAGE_PARAMETER}={registry}/rlsd-trainer:{tag}\n"
            f"  (or give the trainer image per run: pipeline.submit --param "
            f"{TRAINER_IMAGE_PARAMETER}=...).\n"
            f"  pipeline.submit refuses this package unless --allow-placeholder-images (for "
            f"images pushed or mirrored under exactly these names).")
