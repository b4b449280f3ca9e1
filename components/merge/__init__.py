"""The merge component: see README.md and component.py."""
