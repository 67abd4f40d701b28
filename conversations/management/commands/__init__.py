"""The conversations app's `manage.py` commands."""
