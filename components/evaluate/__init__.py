"""The evaluate component: see README.md and component.py."""
