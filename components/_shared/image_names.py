"""The default image references, with no KFP import: :mod:`pipeline.options` reads them,
and it is imported inside component bodies, where importing ``kfp.dsl`` again would be
circular (the KFP executor is itself importing it).

The default images are tagged with the package version (``rlsd.__version__``, the one place it
lives), which is what the release workflow (``.github/workflows/images.yml``) pushes on a
``v<version>`` tag.
"""

from __future__ import annotations

from rlsd import __version__

#: Where the release workflow pushes both images (``ghcr.io/<GitHub owner>``).
DEFAULT_IMAGE_REGISTRY = "ghcr.io/rlsd-kubeflow"
#: Used when neither a compile flag nor ``RLSD_COMPONENT_IMAGE`` names another image.
DEFAULT_COMPONENT_IMAGE = f"{DEFAULT_IMAGE_REGISTRY}/rlsd-component:{__version__}"
#: The default of the pipeline parameter ``trainer_image`` (what the training pods run).
DEFAULT_TRAINER_IMAGE = f"{DEFAULT_IMAGE_REGISTRY}/rlsd-trainer:{__version__}"
#: Whether the two default images of this version are known to exist in the registry. Set it
#: to True in the release that follows a successful run of the release workflow for this
#: version (both images pulled once by hand to confirm); until then they are placeholders.
DEFAULT_IMAGES_PUBLISHED = False
IMAGE_ENV = "RLSD_COMPONENT_IMAGE"
#: The pipeline parameter that names the trainer image.
TRAINER_IMAGE_PARAMETER = "trainer_image"
