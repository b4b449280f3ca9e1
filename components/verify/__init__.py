"""The verify component: see README.md and component.py."""
