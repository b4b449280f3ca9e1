"""The check settings component: see README.md and component.py."""
