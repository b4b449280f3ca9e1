"""The base model component: see README.md and component.py."""
