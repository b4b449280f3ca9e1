"""The score component: see README.md and component.py."""
