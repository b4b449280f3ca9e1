"""The rollout component: see README.md and component.py."""
