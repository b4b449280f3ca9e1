"""The fused component: see README.md and component.py."""
