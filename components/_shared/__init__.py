"""Helpers the component bodies import at run time (installed with the package).

- :mod:`components._shared.image`: the component base image and how a body becomes a component;
- :mod:`components._shared.model_pointer`: the small JSON a KFP ``Model`` artifact holds
  instead of the checkpoint (design.md, "Layout");
- :mod:`components._shared.round_prompts`: which prompts a round samples;
- :mod:`components._shared.loop_settings`: the fused component's parameters as the fused
  loop's ``section.name=value`` settings;
- :mod:`components._shared.training_job`: the training job's settings, built the same way by
  the update and fused components.
"""
