"""The update component: see README.md and component.py."""
