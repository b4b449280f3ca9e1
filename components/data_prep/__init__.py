"""The data prep component: see README.md and component.py."""
